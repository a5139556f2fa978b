"""Protection per style class: the hard set (line art, flat colour, soft digital painting), woodblock prints
and paintings, at the default and high intensities (one table).

The hard set is drawn by :mod:`hardset` (beside this script) at ``--size`` px long side; the woodblock prints are the
shared Hokusai files, the paintings one work per other artist (manifest order), brought to the same long side
(Lanczos, PNG). Each configuration × intensity protects every image toward ``--style`` and audits it at the
mimic sizes (worst size, as the audit's headline) with JPEG q75. Prints one line per image, then the means per
style class, with the protectability estimate made before protecting next to the measured TP.

    python bench/styles_report.py --size 512 --out /tmp/styles
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import add_shared_options, set_up, write_results
from hardset import hard_set
from PIL import Image

from stylecloak import Protector, ProtectSettings
from stylecloak.audit import AuditSettings, audit, pair_files, read_manifest
from stylecloak.cloak import optimiser
from stylecloak.config import MIMIC_SIZES
from stylecloak.perceptual import PerceptualDistance

CONFIGS = ("default", "previous")
"""``default`` is the shipped code; ``previous`` is it with this issue's two changes undone: the raw perceptual
distance (no grain) and a projection that ignores the [0, 1] clamp (patched here, for this comparison only)."""


def previous(protector: Protector) -> None:
    """Undo this issue's changes in ``protector`` (see :data:`CONFIGS`)."""
    protector.perceptual = PerceptualDistance(grain=0)
    plain = optimiser.project
    optimiser.project = lambda param, settings, size, valid, image=None: plain(param, settings, size, valid)


def originals(folder: Path, paintings: Path, size: int, woodblocks: int, others: int) -> dict[str, str]:
    """Write the images to ``folder``; returns file name -> style class."""
    folder.mkdir(parents=True, exist_ok=True)
    classes = {}
    for name, piece in hard_set(size).items():
        piece.image.save(folder / f"{name}.png")
        classes[f"{name}.png"] = piece.style_class
    prints, seen = [], set()
    for p in read_manifest(paintings):
        if p.artist == "Katsushika Hokusai":
            prints.append((p.path, "woodblock print"))
        elif p.artist not in seen:
            seen.add(p.artist)
            prints.append((p.path, "painting"))
    chosen = [x for x in prints if x[1] == "woodblock print"][:woodblocks] + [x for x in prints if x[1] == "painting"][:others]
    for path, style_class in chosen:
        im = Image.open(path).convert("RGB")
        scale = size / max(im.size)
        im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS).save(folder / f"{path.stem}.png")
        classes[f"{path.stem}.png"] = style_class
    return classes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="Long side of every image (px).")
    ap.add_argument("--style", default="woodcut")
    ap.add_argument("--intensities", default="default,high")
    ap.add_argument("--quality", default="default")
    ap.add_argument("--woodblocks", type=int, default=2, help="How many Hokusai prints.")
    ap.add_argument("--others", type=int, default=3, help="How many paintings (one per artist).")
    ap.add_argument("--configs", default="default", help="Comma-separated names from: " + ", ".join(CONFIGS) + " (previous last: it patches the optimiser)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", default="", help="Comma-separated file stems to keep (default: all).")
    add_shared_options(ap)
    args = ap.parse_args()
    out = set_up(args, "stylecloak-styles-")
    classes = originals(out / "originals", args.paintings, args.size, args.woodblocks, args.others)
    if args.only:
        keep = {f"{s}.png" for s in args.only.split(",")}
        classes = {k: v for k, v in classes.items() if k in keep}
    trial = Protector(ProtectSettings(target_style=args.style, perceptual="efficientnet"), weights_dir=args.weights_dir, device=args.device)
    estimates = {name: trial.estimate(out / "originals" / name) for name in classes}

    header = ["config", "intensity", "image", "class", "TP", "JPEG q75", "PSNR", "d", "estimate", "warnings", "s"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    rows = []
    for config in args.configs.split(","):
        for intensity in args.intensities.split(","):
            cloaked = out / f"{config.replace(' ', '-')}-{intensity}"
            cloaked.mkdir(exist_ok=True)
            protector = Protector(
                ProtectSettings(intensity=intensity, quality=args.quality, target_style=args.style, perceptual="efficientnet"),
                weights_dir=args.weights_dir,
                device=args.device,
            )
            if config == "previous":
                previous(protector)
            results = {}
            for name in classes:
                start = time.perf_counter()
                results[name] = (protector.protect(out / "originals" / name), time.perf_counter() - start)
                results[name][0].save(cloaked / name)
            pairs = [p for p in pair_files(out / "originals", cloaked)[0] if p.original.name in classes]
            report = audit(
                pairs,
                AuditSettings(target_style=args.style, mimic_sizes=MIMIC_SIZES, countermeasures=("jpeg75",), transfer=()),
                weights_dir=args.weights_dir,
                device=args.device,
            )
            for pair, im in zip(pairs, report.images):
                name = pair.original.name
                result, seconds = results[name]
                row = {
                    "config": config,
                    "intensity": intensity,
                    "image": name,
                    "class": classes[name],
                    "tp": im["target_progress"],
                    "jpeg75": im["countermeasures"]["jpeg75"]["target_progress"],
                    "psnr": im["psnr_db"],
                    "d": round(result.perceptual_distance, 4),
                    "estimate": estimates[name].expected(intensity),
                    "texture": estimates[name].texture,
                    "pilot": estimates[name].pilot,
                    "warnings": result.warnings,
                    "seconds": round(seconds, 1),
                }
                rows.append(row)
                cells = [
                    config,
                    intensity,
                    name,
                    row["class"],
                    f"{row['tp']:.3f}",
                    f"{row['jpeg75']:.3f}",
                    f"{row['psnr']:.2f}",
                    f"{row['d']:.3f}",
                    "–" if row["estimate"] is None else f"{row['estimate']:.2f}",
                    str(len(row["warnings"])),
                    f"{seconds:.0f}",
                ]
                print("| " + " | ".join(cells) + " |", flush=True)
            write_results(out / "styles_report.json", "styles_report", rows, size=args.size, style=args.style, settings=vars(args))

    print("\n| config | intensity | class | images | TP | JPEG q75 | PSNR | d | estimate |\n|---|---|---|---|---|---|---|---|---|")
    order = ["line art", "flat colour", "digital painting", "woodblock print", "painting"]
    for config in args.configs.split(","):
        for intensity in args.intensities.split(","):
            for group in [*order, "hard set"]:
                sel = [
                    r
                    for r in rows
                    if r["config"] == config and r["intensity"] == intensity and (r["class"] == group or (group == "hard set" and r["class"] in order[:3]))
                ]
                if sel:
                    mean = {k: sum(r[k] for r in sel) / len(sel) for k in ("tp", "jpeg75", "psnr", "d")}
                    estimate = "–" if any(r["estimate"] is None for r in sel) else f"{sum(r['estimate'] for r in sel) / len(sel):.2f}"
                    print(
                        f"| {config} | {intensity} | {group} | {len(sel)} | {mean['tp']:.3f} | {mean['jpeg75']:.3f} | {mean['psnr']:.2f} | {mean['d']:.3f} | {estimate} |"
                    )
    print(f"{len(classes)} images at {args.size} px, target {args.style}")


if __name__ == "__main__":
    main()
