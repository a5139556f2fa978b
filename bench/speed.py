"""Speed, memory and protection of the default cloak vs the paper-faithful configuration.

For each case it prints one table line: seconds per image, peak RSS, audited target progress
(plain and after JPEG q75) and PSNR. Each case runs in its own process so peak RSS is its own.

The paper-faithful baseline (Glaze §6: Adam, 500 steps, no EOT, optimised at the image's full
resolution, fp32, constant step size) runs on the same image with the same caps.

    python bench/speed.py --sizes 512,1024,4096 --baseline-sizes 512 --repeat 3
    python bench/speed.py --sizes 1024 --baseline-sizes "" --device cuda    # on a GPU

Wall-clock time on a shared or virtual machine varies by ±10 % from run to run; ``--repeat N`` runs
each default case N times (fresh processes) and prints the median with the range. The paper
baseline, ten times longer, runs once.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_results

SHARED = Path(__file__).resolve().parents[2] / "shared"
PAINTING = SHARED / "data" / "paintings" / "claude-monet" / "bordighera.jpg"


def run_case(size: int, mode: str, weights: str, steps: int | None, device: str) -> dict:
    import torch
    from PIL import Image

    from stylecloak import Protector, ProtectSettings
    from stylecloak.backbones import encode_all, target_progress
    from stylecloak.geometry import Working
    from stylecloak.styles import get_style, style_stats, style_transfer
    from stylecloak.transforms import jpeg

    torch.set_num_threads(2)
    im = Image.open(PAINTING).convert("RGB")
    scale = size / max(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    path = Path(tempfile.mkdtemp()) / f"painting-{size}.png"
    im.save(path)
    overrides: dict = {"steps": steps} if steps else {}
    if mode == "paper":
        overrides = {"steps": steps or 500, "eot": None, "work_size": None, "precision": "fp32", "cosine": False, "lr": 1 / 255, "method": "adam"}
    protector = Protector(ProtectSettings(target_style="cubist-facets", overrides=overrides), weights_dir=weights, device=device)
    style_stats(protector.renderer, get_style("cubist-facets"))  # once per batch: not per-image time
    start = time.perf_counter()
    result = protector.protect(path)
    seconds = time.perf_counter() - start

    # audit as a mimic training at 512 px long side would see it
    bb = protector.backbones[0]
    x, xc = result.source.rgb.to(protector.device), result.cloaked.to(protector.device)
    work = Working.of(x, 512, bb.factor)
    seen = Working.of(xc, 512, bb.factor)
    omega = style_transfer(bb, work.image, style_stats(bb, get_style("cubist-facets")))
    t = encode_all([bb], omega)[0]

    def tp(a, b):
        return target_progress(encode_all([bb], a)[0], encode_all([bb], b)[0], t)

    return {
        "size": size,
        "mode": mode,
        "pixels": f"{x.shape[-1]}x{x.shape[-2]}",
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "tp": round(tp(work.image, seen.image), 3),
        "tp_jpeg75": round(tp(jpeg(work.image, 75), jpeg(seen.image, 75)), 3),
        "psnr_db": round(result.psnr_db, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024,4096")
    ap.add_argument("--baseline-sizes", default="512,1024")
    ap.add_argument("--weights", default=str(SHARED / "models"))
    ap.add_argument("--steps", type=int, help="override steps (both modes)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per default case; the median time is shown")
    ap.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (peak RSS is host memory only)")
    ap.add_argument("--json", type=Path, help="Results file (default: speed.json in a new temporary folder).")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        size, mode = args.case.split(":")
        print(json.dumps(run_case(int(size), mode, args.weights, args.steps, args.device)))
        return
    cases = [(int(s), "default") for s in args.sizes.split(",") if s]
    cases += [(int(s), "paper") for s in args.baseline_sizes.split(",") if s]
    results = {}
    print(f"{'case':>16} {'pixels':>10} {'s/img':>7} {'range':>11} {'RSS MB':>7} {'TP':>6} {'TP jpeg75':>9} {'PSNR':>6} {'speed-up':>8}")
    for size, mode in sorted(cases, key=lambda c: (c[0], c[1] != "paper")):
        cmd = [sys.executable, __file__, "--case", f"{size}:{mode}", "--weights", args.weights, "--device", args.device]
        if args.steps:
            cmd += ["--steps", str(args.steps)]
        runs = [
            json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            for _ in range(args.repeat if mode == "default" else 1)
        ]
        times = sorted(r["seconds"] for r in runs)
        r = results[(size, mode)] = {**runs[0], "seconds": statistics.median(times), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
        base = results.get((size, "paper"))
        ratio = f"{base['seconds'] / r['seconds']:.1f}x" if base and mode == "default" else "-"
        spread = f"{times[0]}-{times[-1]}" if len(times) > 1 else "-"
        print(
            f"{mode + ' ' + str(size):>16} {r['pixels']:>10} {r['seconds']:>7} {spread:>11} {r['peak_rss_mb']:>7} {r['tp']:>6} {r['tp_jpeg75']:>9} {r['psnr_db']:>6} {ratio:>8}",
            flush=True,
        )
        r["case"], r["seconds_range"], r["speed_up"] = f"{mode} {size}", [times[0], times[-1]], ratio
    path = args.json or Path(tempfile.mkdtemp(prefix="stylecloak-speed-")) / "speed.json"
    write_results(path, "speed", list(results.values()), settings={k: v for k, v in vars(args).items() if k != "case"})


if __name__ == "__main__":
    main()
