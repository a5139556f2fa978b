"""Speed, memory and protection per preset, encoder pass time, and a baseline measured in the same run.

Each case runs in its own process (so peak RSS is its own) and prints one table line:

- ``PRESET SIZE`` (``--presets`` × ``--sizes``): seconds per image, peak RSS, audited target progress (plain
  and after JPEG q75) and PSNR; ``paper`` is the paper-faithful configuration (Glaze §6: Adam, 500 steps, no
  EOT, full resolution, fp32, constant step size) on the same image with the same caps.
- ``encoder SIZE`` (``--encoder-sizes``): one forward and backward pass of the default backbone's encoder
  (TAEF2) on a SIZE×SIZE image, the minimum over ``--repeat`` passes after one warm-up.

``--precision`` sets the encoders' arithmetic; ``--isa avx2`` runs the cases as an AVX2-only laptop would
(``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``, and fp32 where the precision is ``auto``).
``--baseline-ref GITREF`` runs every case a second time with the package as it was at GITREF (its ``src``
unpacked into a temporary folder), so the speed-up is measured in the same run on the same machine.

    python bench/speed.py --sizes 1024 --presets fast,default,slow --encoder-sizes 512,768,1024 --isa avx2 --baseline-ref main
    python bench/speed.py --sizes 512,1024,4096 --baseline-sizes 512 --repeat 3
    python bench/speed.py --sizes 1024 --baseline-sizes "" --device cuda    # on a GPU

Wall-clock time on a shared or virtual machine varies by ±10 % from run to run; ``--repeat N`` runs each preset
case N times (fresh processes) and prints the median with the range. The paper baseline, ten times longer,
runs once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import add_try_option, overrides, write_results

SHARED = Path(__file__).resolve().parents[2] / "shared"
PAINTING = SHARED / "data" / "paintings" / "claude-monet" / "bordighera.jpg"
ROOT = Path(__file__).resolve().parents[1]
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
"""The environment that makes PyTorch and oneDNN use AVX2 kernels only, as on most artists' laptops."""


def precision_overrides(precision: str) -> dict:
    """The cloak setting for ``precision``, also for code from before the ``precision`` setting (its ``bf16`` switch)."""
    from dataclasses import fields

    from stylecloak.config import CloakSettings

    if any(f.name == "precision" for f in fields(CloakSettings)):
        return {"precision": precision}
    if precision == "bf16":
        sys.exit("--precision bf16 needs code with the precision setting; use auto or fp32 with this --baseline-ref")
    return {"bf16": precision == "auto"}


def rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_encoder(size: int, weights: str, device: str, precision: str, repeat: int) -> dict:
    """Seconds of one forward and backward pass of the default encoder on a ``size`` px square."""
    import contextlib

    import torch

    from stylecloak.backbones import DEFAULT_BACKBONE, load_backbone
    from stylecloak.device import bf16_supported, resolve_device

    dev = resolve_device(device)
    bb = load_backbone(DEFAULT_BACKBONE, weights_dir=weights, device=dev)
    bf16 = precision == "bf16" or (precision == "auto" and bf16_supported(dev))
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(dev).requires_grad_()
    times = []
    for _ in range(1 + repeat):
        start = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss = bb.encode(x).float().pow(2).mean()
        loss.backward()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - start)
    return {"pixels": f"{size}x{size}", "seconds": round(min(times[1:]), 3), "peak_rss_mb": rss_mb()}


def run_preset(size: int, mode: str, args: argparse.Namespace, precision: str) -> dict:
    """Seconds per image with preset ``mode`` (or ``paper``) on the painting at ``size`` px, and its audit at 512 px;
    with ``--second-image``, also the seconds of protecting it again in the same process (caches warm)."""
    import torch
    from PIL import Image

    from stylecloak import Protector, ProtectSettings
    from stylecloak.backbones import encode_all, target_progress
    from stylecloak.geometry import Working
    from stylecloak.styles import get_style, style_stats, style_transfer
    from stylecloak.transforms import jpeg

    im = Image.open(PAINTING).convert("RGB")
    scale = size / max(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    path = Path(tempfile.mkdtemp()) / f"painting-{size}.png"
    im.save(path)
    weights, steps, device = args.weights, args.steps, args.device
    overrides: dict = {**precision_overrides(precision), **({"steps": steps} if steps else {}), **json.loads(args.overrides)}
    if mode == "paper":
        overrides = {
            **overrides,
            "steps": steps or 500,
            **precision_overrides("fp32"),
            "eot": None,
            "work_size": None,
            "cosine": False,
            "lr": 1 / 255,
            "method": "adam",
        }
    quality = "default" if mode == "paper" else mode
    protector = Protector(ProtectSettings(target_style="cubist-facets", quality=quality, overrides=overrides), weights_dir=weights, device=device)
    style_stats(protector.renderer, get_style("cubist-facets"))  # once per batch: not per-image time
    start = time.perf_counter()
    result = protector.protect(path)
    seconds = time.perf_counter() - start
    again = {}
    if args.second_image:
        start = time.perf_counter()
        protector.protect(path)
        again = {"seconds_second_image": round(time.perf_counter() - start, 1)}

    # audit as a mimic training at 512 px long side would see it
    bb = protector.backbones[0]
    x, xc = result.source.rgb.to(protector.device), result.cloaked.to(protector.device)
    work, seen = Working.of(x, 512, bb.factor), Working.of(xc, 512, bb.factor)
    t = encode_all([bb], style_transfer(bb, work.image, style_stats(bb, get_style("cubist-facets"))))[0]

    def tp(a, b):
        return target_progress(encode_all([bb], a)[0], encode_all([bb], b)[0], t)

    return {
        "pixels": f"{x.shape[-1]}x{x.shape[-2]}",
        "seconds": round(seconds, 1),
        "peak_rss_mb": rss_mb(),
        "tp": round(tp(work.image, seen.image), 3),
        "tp_jpeg75": round(tp(jpeg(work.image, 75), jpeg(seen.image, 75)), 3),
        "psnr_db": round(result.psnr_db, 2),
        "torch_threads": torch.get_num_threads(),
        **again,
    }


def baseline_src(ref: str) -> Path:
    """The package's ``src`` folder as it was at git ``ref``, unpacked into a new temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="stylecloak-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def run_child(case: tuple[str, int], code: Path | None, args: argparse.Namespace, precision: str, tried: str = "") -> dict:
    """One case in a fresh process, with the baseline's package first on the path when ``code`` is given, and the
    CloakSettings overrides ``tried`` (``--try``)."""
    env = {**os.environ, **(AVX2 if args.isa == "avx2" else {})}
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, __file__, "--case", f"{case[0]}:{case[1]}", "--weights", args.weights, "--device", args.device, "--precision", precision]
    cmd += ["--repeat", str(args.repeat), "--threads", str(args.threads)] + (["--steps", str(args.steps)] if args.steps else [])
    cmd += ["--overrides", json.dumps(overrides(tried) if tried else {})] + (["--second-image"] if args.second_image else [])
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"case {case[0]} {case[1]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_case(kind: str, size: int, variant: tuple[str, Path | None, str], args: argparse.Namespace, precision: str) -> dict:
    """A case's row: the median over ``--repeat`` runs of one variant, (label, baseline code or None, ``--try`` spec)."""
    label, code, tried = variant
    runs = [run_child((kind, size), code, args, precision, tried) for _ in range(args.repeat if kind not in ("paper", "encoder") else 1)]
    times = sorted(r["seconds"] for r in runs)
    r = {**runs[0], "seconds": statistics.median(times), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "seconds_range": [times[0], times[-1]]}
    suffix = "" if code is None and not tried else f" ({label})"
    return r | {
        "case": f"{kind} {size}{suffix}",
        "kind": kind,
        "size": size,
        "code": "HEAD" if code is None else label,
        "tried": tried,
        "precision": precision,
        "isa": args.isa,
    }


def cases(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(kind, size) of every case: encoder passes first, then each preset per size, the paper baseline before its size."""
    found = [("encoder", int(s)) for s in args.encoder_sizes.split(",") if s]
    for size in sorted({int(s) for s in args.sizes.split(",") if s} | {int(s) for s in args.baseline_sizes.split(",") if s}):
        found += [("paper", size)] if str(size) in args.baseline_sizes.split(",") else []
        found += [(p, size) for p in args.presets.split(",") if p and str(size) in args.sizes.split(",")]
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024,4096", help="Long sides (px) of the painting for the preset cases.")
    ap.add_argument("--presets", default="default", help="Comma-separated --quality presets to time at each of --sizes.")
    ap.add_argument("--baseline-sizes", default="512,1024", help="Sizes for the paper-faithful configuration ('' for none).")
    ap.add_argument("--encoder-sizes", default="", help="Square sides (px) at which to time one encoder forward+backward pass (e.g. 512,768,1024).")
    ap.add_argument("--weights", default=str(SHARED / "models"))
    ap.add_argument("--steps", type=int, help="override steps (every preset case)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per preset case (the median is shown) and timed passes per encoder case (the minimum)")
    ap.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (peak RSS is host memory only)")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"), help="The encoders' arithmetic (paper cases: fp32).")
    ap.add_argument("--isa", choices=("native", "avx2"), default="native", help="avx2: run as an AVX2-only CPU (fp32 where --precision is auto).")
    ap.add_argument("--baseline-ref", help="Also run every case with the package at this git ref (e.g. main), for the speed-up.")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads per case.")
    ap.add_argument("--second-image", action="store_true", help="Also time each preset case's image protected again in the same process.")
    add_try_option(ap, "each preset case (with this package)")
    ap.add_argument("--json", type=Path, help="Results file (default: speed.json in a new temporary folder).")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        kind, size = args.case.split(":")
        row = run_encoder(int(size), args.weights, args.device, args.precision, args.repeat) if kind == "encoder" else None
        print(json.dumps(row or run_preset(int(size), kind, args, args.precision)))
        return
    precision = "fp32" if args.isa == "avx2" and args.precision == "auto" else args.precision
    codes = [("HEAD", None)] + ([(args.baseline_ref, baseline_src(args.baseline_ref))] if args.baseline_ref else [])
    rows = []
    print(f"{'case':>26} {'pixels':>10} {'s':>7} {'range':>11} {'RSS MB':>7} {'TP':>6} {'TP jpeg75':>9} {'PSNR':>6} {'speed-up':>8}")
    for kind, size in cases(args):
        variants = [(label, code, "") for label, code in codes] + [(spec, None, spec) for spec in args.tries if kind != "encoder"]
        done = [run_case(kind, size, variant, args, precision) for variant in variants]
        reference = done[len(codes) - 1]  # the speed-ups are against the baseline code, or this code untried
        for r in done:
            r["speed_up"] = f"{reference['seconds'] / r['seconds']:.2f}x" if len(done) > 1 and r["seconds"] else "-"
            spread = f"{r['seconds_range'][0]}-{r['seconds_range'][1]}" if r["seconds_range"][0] != r["seconds_range"][1] else "-"
            print(
                f"{r['case']:>26} {r['pixels']:>10} {r['seconds']:>7} {spread:>11} {r['peak_rss_mb']:>7} {r.get('tp', '-'):>6} {r.get('tp_jpeg75', '-'):>9} {r.get('psnr_db', '-'):>6} {r['speed_up']:>8}",
                flush=True,
            )
        rows += done
    path = args.json or Path(tempfile.mkdtemp(prefix="stylecloak-speed-")) / "speed.json"
    write_results(
        path,
        "speed",
        rows,
        settings={k: v for k, v in vars(args).items() if k != "case"},
        env={k: os.environ.get(k) for k in AVX2} | (AVX2 if args.isa == "avx2" else {}),
    )


if __name__ == "__main__":
    main()
