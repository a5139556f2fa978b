"""Images per hour of `stylecloak protect` with the local engine and the Ray engine (1 and 2 workers).

Every case protects the same images (the first ``--count`` shared paintings, resized to ``--size`` px
long side) with the same settings, in a fresh process and output folder; the time is the whole
command's wall clock, so it includes starting Ray and loading the models (once per worker), which a
long batch amortises. Each line also says whether the outputs are byte-identical to the local run's.

    python bench/throughput.py --count 4 --size 256 --quality fast

The last case, 2 workers with ``--threads 1``, does not oversubscribe a 2-core machine; its bytes
match ``--engine local --threads 1`` rather than the default local run (see docs/devices.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_results
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
CASES = {
    "local": ["--engine", "local"],
    "ray, 1 worker": ["--engine", "ray", "--workers", "1"],
    "ray, 2 workers": ["--engine", "ray", "--workers", "2"],
    "ray, 2 workers, --threads 1": ["--engine", "ray", "--workers", "2", "--threads", "1"],
}


def prepare(folder: Path, count: int, size: int) -> None:
    paintings = sorted((SHARED / "data" / "paintings").glob("*/*.jpg"))[:count]
    for i, path in enumerate(paintings):
        im = Image.open(path).convert("RGB")
        scale = size / max(im.size)
        im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS).save(folder / f"{i:03d}-{path.stem}.png")


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--size", type=int, default=256, help="long side of the images, px")
    ap.add_argument("--quality", default="fast")
    ap.add_argument("--steps", type=int, help="override the preset's steps")
    ap.add_argument("--style", default="mosaic")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--weights", default=str(SHARED / "models"))
    ap.add_argument("--json", type=Path, help="Results file (default: throughput.json in the run's temporary folder).")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="throughput-"))
    (root / "in").mkdir()
    prepare(root / "in", args.count, args.size)
    common = ["--quality", args.quality, "--style", args.style, "--device", args.device, "--weights-dir", args.weights]
    if args.steps:
        common += ["--steps", str(args.steps)]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    print(
        f"{args.count} images, {args.size} px, quality {args.quality}{f', {args.steps} steps' if args.steps else ''}, device {args.device}, {os.cpu_count()} cores"
    )
    print(f"{'case':>28} {'wall s':>8} {'images/hour':>12} {'same bytes as local':>20}")
    reference, rows = None, []
    for i, (name, extra) in enumerate(CASES.items()):
        out = root / f"out{i}"
        cmd = [sys.executable, "-m", "stylecloak.cli", "protect", str(root / "in"), "--out", str(out), *common, *extra]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        wall = time.perf_counter() - start
        got = outputs(out)
        reference = reference or got
        same = "yes" if got == reference else "no"
        print(f"{name:>28} {wall:>8.1f} {len(got) / wall * 3600:>12.0f} {same:>20}", flush=True)
        rows.append({"case": name, "wall_s": round(wall, 1), "images_per_hour": round(len(got) / wall * 3600), "same_bytes_as_local": same})
    write_results(args.json or root / "throughput.json", "throughput", rows, settings=vars(args))


if __name__ == "__main__":
    main()
