"""Output size against what survives a repost: the JPEG quality a protected copy is saved at.

``--mode quality`` (default): each of ``--works`` is brought to ``--size`` px long side and saved as a JPEG at
its own estimated quality (the input), protected once, and the cloak is written at each quality of
``--qualities`` (``input``: the input's own, ``legacy``: max(95, input's), the rule before outputs kept their
size) and ``product`` (what :func:`stylecloak.io.save_image` writes today). Each copy is audited against the
input with no countermeasure (the saved file's TP) and after the repost trip (``jpeg75``; at this size no
downscale to 1080 px happens), and its bytes compared with the input's.

``--mode native``: the works at their own size and format, protected with ``--steps`` and saved by the product;
input and output bytes, and the cloak written as PNG at each of :data:`PNG_OPTIONS` (bytes, seconds).

    python bench/output_size.py --threads 1 --size 384 --json output_size.json
    python bench/output_size.py --mode native --steps 2 --threads 1 --json output_size-native.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import SHARED, add_shared_options, set_up, write_results
from PIL import Image

from stylecloak import Protector, ProtectSettings
from stylecloak.audit import AuditSettings, audit
from stylecloak.io import load_image, save_image, to_pil

WORKS = (
    "katsushika-hokusai/the-great-wave-off-kanagawa.jpg",
    "claude-monet/bordighera.jpg",
    "vincent-van-gogh/the-starry-night.jpg",
    "paul-gauguin/three-tahitian-women.jpg",
)
STYLE = "cubist-facets"
PNG_OPTIONS = {"level6": {"compress_level": 6}, "level9": {"compress_level": 9}, "optimize": {"optimize": True}}
"""The PNG encodings compared in --mode native (Pillow's default is level 6)."""


def quality_rows(args: argparse.Namespace, out: Path, protector: Protector) -> list[dict]:
    rows = []
    for work in args.works:
        info = load_image(args.paintings / work).info
        quality = info["quality"]
        small = Image.open(args.paintings / work).convert("RGB")
        small.thumbnail((args.size, args.size), Image.LANCZOS)
        original = out / Path(work).name
        small.save(original, quality=quality, subsampling=info.get("subsampling", 0))
        source = load_image(original)
        result = protector.protect(source, STYLE)
        variants = {"product": None, "input": quality, "legacy": max(95, quality), **{str(q): int(q) for q in args.qualities}}
        for name, q in variants.items():
            dest = out / f"{original.stem}.{name}.jpg"
            if q is None:
                save_image(source, result.cloaked, dest)
            else:
                to_pil(source, result.cloaked).save(dest, quality=q, subsampling=source.info.get("subsampling", 0))
            summary = audit(
                [(original, dest)], AuditSettings(target_style=STYLE, transfer=(), countermeasures=("jpeg75",)), weights_dir=args.weights_dir
            ).summary
            rows.append(
                {
                    "work": work,
                    "input_quality": quality,
                    "saved": name,
                    "saved_quality": q if q is not None else load_image(dest).info.get("quality"),
                    "bytes_ratio": round(dest.stat().st_size / original.stat().st_size, 3),
                    "psnr_db": summary["psnr_db"],
                    "tp": summary["target_progress"],
                    "tp_jpeg75": summary["countermeasures"]["jpeg75"]["target_progress"],
                }
            )
            print(rows[-1], flush=True)
    return rows


def native_rows(args: argparse.Namespace, out: Path, protector: Protector) -> list[dict]:
    rows = []
    for work in args.works:
        source = load_image(args.paintings / work)
        result = protector.protect(source, STYLE)
        dest = result.save(out / Path(work).name)
        rows.append(
            {
                "work": work,
                "input_quality": source.info.get("quality"),
                "input_bytes": (args.paintings / work).stat().st_size,
                "output_bytes": dest.stat().st_size,
            }
        )
        rows[-1]["bytes_ratio"] = round(rows[-1]["output_bytes"] / rows[-1]["input_bytes"], 3)
        pil = to_pil(source, result.cloaked)
        for name, options in PNG_OPTIONS.items():
            start = time.perf_counter()
            pil.save(out / f"{Path(work).stem}.{name}.png", **options)
            rows[-1][f"png_{name}_bytes"] = (out / f"{Path(work).stem}.{name}.png").stat().st_size
            rows[-1][f"png_{name}_s"] = round(time.perf_counter() - start, 3)
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shared_options(ap)
    ap.add_argument("--mode", choices=("quality", "native"), default="quality")
    ap.add_argument("--works", nargs="+", default=list(WORKS), help="Paintings (paths under --paintings).")
    ap.add_argument("--size", type=int, default=384, help="Long side (px) of the inputs in --mode quality.")
    ap.add_argument("--qualities", nargs="+", type=int, default=[85, 90, 95])
    ap.add_argument("--quality", default="fast", help="Protect preset (steps, EOT).")
    ap.add_argument("--steps", type=int, help="Override the preset's steps.")
    ap.add_argument("--json", type=Path, help="Write the results here (bench/common.write_results).")
    args = ap.parse_args()
    out = set_up(args, "output-size-")
    out.mkdir(parents=True, exist_ok=True)
    settings = ProtectSettings(quality=args.quality, target_style=STYLE, overrides={"steps": args.steps} if args.steps else {})
    protector = Protector(settings, weights_dir=args.weights_dir)
    rows = (quality_rows if args.mode == "quality" else native_rows)(args, out, protector)
    median = statistics.median(r["bytes_ratio"] for r in rows if r.get("saved", "product") == "product")
    print(f"median bytes ratio (product): {median:.3f}")
    if args.json:
        write_results(
            args.json,
            f"output_size-{args.mode}",
            rows,
            settings={
                "size": args.size,
                "quality": args.quality,
                "steps": args.steps,
                "style": STYLE,
                "paintings": str(args.paintings.relative_to(SHARED.parent)) if args.paintings.is_relative_to(SHARED.parent) else str(args.paintings),
            },
        )


if __name__ == "__main__":
    main()
