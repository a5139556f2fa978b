"""Protection at every mimic size: N shared paintings at 1024 px, the default preset against the previous
single-scale default, audited per mimic size (one table).

Paintings are taken round-robin over the manifest's artists, brought to ``--size`` px long side (Lanczos,
PNG) and cloaked toward ``--style`` by each configuration in the same run; every cloak is then audited at
512, 768 and 1024 px with the countermeasures below, the repost trip included. Each cell is target
progress with style progress in brackets, "TP (SP)". Prints one line per configuration and mimic size, a
"worst" line per configuration (for each column, the minimum over sizes of the mean over paintings), the
headline (worst size after the repost trip) and the visibility referee's mean and worst painting.
``--size 2048`` enlarges the paintings (Lanczos), standing in for the large originals artists post, so the
repost rows include the platform's resize (every shared painting is at most 1024 px).

    python bench/strength.py --count 6 --out /tmp/strength
    python bench/strength.py --count 2 --size 2048 --countermeasures jpeg75,repost_1080,repost_2048
"""

from __future__ import annotations

import argparse
import time
from itertools import zip_longest
from pathlib import Path

import torch
from common import add_painting_options, add_shared_options, add_try_option, overrides, set_up, write_results
from PIL import Image

from stylecloak import Protector, ProtectSettings
from stylecloak.audit import AuditSettings, audit, pair_files, read_manifest
from stylecloak.audit.cleaner import CleanerSettings
from stylecloak.audit.settings import ADAPTIVE, LEARNED
from stylecloak.config import MIMIC_SIZES, SINGLE_SCALE

COUNTERMEASURES = ("jpeg90", "jpeg75", "downscale_half", "adverse_cleaner", "noisy_upscale", "impress", "repost_1080", "repost_2048")
"""The default columns; ``learned_cleaner`` and ``robust_encoder`` (trained on other works of ``--paintings``) are asked for by name."""
CONFIGS = {"single-scale 512 (previous default)": SINGLE_SCALE, "default": {}}


def paintings(folder: Path, count: int) -> list[Path]:
    """``count`` works, one artist after another (manifest order within each artist)."""
    by_artist: dict[str, list[Path]] = {}
    for p in read_manifest(folder):
        by_artist.setdefault(p.artist, []).append(p.path)
    ordered = [p for group in zip_longest(*by_artist.values()) for p in group if p is not None]
    return ordered[:count]


def write_originals(folder: Path, works: list[Path], size: int) -> Path:
    """``works`` brought to ``size`` px long side (Lanczos; smaller ones enlarged) as PNGs in ``folder``, named by stem."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in works:
        im = Image.open(path).convert("RGB")
        scale = size / max(im.size)
        im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS).save(folder / f"{path.stem}.png")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_painting_options(ap, 6, 1024, "Long side the paintings are brought to (px; larger ones are enlarged, e.g. 2048).")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="Comma-separated names from: " + ", ".join(CONFIGS))
    ap.add_argument("--countermeasures", default=",".join(COUNTERMEASURES))
    add_try_option(ap, "the default preset")
    ap.add_argument("--device", default="cpu")
    add_shared_options(ap)
    args = ap.parse_args()
    out = set_up(args, "stylecloak-strength-")
    originals = write_originals(out / "originals", paintings(args.paintings, args.count), args.size)

    countermeasures = tuple(c for c in args.countermeasures.split(",") if c)
    header = ["config", "size", "TP (SP)", *countermeasures, "transfer", "s/image"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    results, extra = [], {"protection": {}, "visibility": {}, "images": {}}
    configs = {name: CONFIGS[name] for name in args.configs.split(",") if name} | {t: overrides(t) for t in args.tries}
    for name, changes in configs.items():
        cloaked = out / name.split(" ")[0].replace("=", "-").replace(",", "_")
        cloaked.mkdir(exist_ok=True)
        protector = Protector(
            ProtectSettings(intensity=args.intensity, quality=args.quality, target_style=args.style, overrides=changes),
            weights_dir=args.weights_dir,
            device=args.device,
        )
        seconds = []
        for f in sorted(originals.glob("*.png")):
            start = time.perf_counter()
            result = protector.protect(f)
            if protector.device.type == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
            result.save(cloaked / f.name)
        settings = AuditSettings(
            target_style=args.style,
            mimic_sizes=MIMIC_SIZES,
            countermeasures=countermeasures,
            cleaner=CleanerSettings(intensity=args.intensity, quality=args.quality),  # the attacker cloaks as the audited preset
        )
        adaptive = {"robust_works": args.paintings} if {ADAPTIVE, LEARNED} & set(countermeasures) else {}
        report = audit(pair_files(originals, cloaked)[0], settings, weights_dir=args.weights_dir, device=args.device, **adaptive)
        s = report.summary
        per_image = sum(seconds) / len(seconds)
        psnr_min = min(im["psnr_db"] for im in report.images)
        for size, entry in [(size, entry) for size, entry in s["sizes"].items()] + [("worst", s)]:
            cells = [_cell(entry), *(_cell(entry["countermeasures"][c]) for c in countermeasures), _number(entry["transfer_progress"])]
            print(f"| {name} | {size} | " + " | ".join(cells) + f" | {per_image:.1f} |", flush=True)
            row = {"config": name, "size": str(size), "tp": entry["target_progress"], "transfer": entry["transfer_progress"]}
            row |= {c: entry["countermeasures"][c]["target_progress"] for c in countermeasures}
            if LEARNED in countermeasures:
                row["learned_cleaner_clean_psnr_db"] = entry["countermeasures"][LEARNED].get("cleaned_clean_psnr_db")
            row |= {"sp": {"none": entry["style_progress"], **{c: entry["countermeasures"][c]["style_progress"] for c in countermeasures}}}
            results.append(row | {"seconds_per_image": round(per_image, 2), "psnr_min": psnr_min})
        head, vis = s["protection"], s["visibility"]
        print(
            f"  {name}: after the repost trip TP {_number(head['target_progress'])} ({head['countermeasure']} at {head['size']} px), "
            f"SP {_number(head['style_progress'])}; PSNR min {psnr_min:.2f} dB, worst size {s['worst_size']} px",
            flush=True,
        )
        print("  visibility mean / worst: " + ", ".join(f"{k} {_number(vis['mean'][k])} / {_number(vis['worst'][k])}" for k in vis["mean"]), flush=True)
        extra["protection"][name], extra["visibility"][name] = head, vis
        if report.detection is not None:
            extra.setdefault("learned_attacker", {})[name] = {"attacker": report.learned_cleaner, "detection": report.detection}
            print(f"  learned attacker's detector: {report.detection}", flush=True)
        extra["images"][name] = [{**im, "original": Path(im["original"]).name, "cloaked": Path(im["cloaked"]).name} for im in report.images]
    settings = vars(args) | {"paintings_used": sorted(f.name for f in originals.glob("*.png"))}
    write_results(out / "strength.json", "strength", results, settings=settings, **extra)


def _number(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _cell(entry: dict) -> str:
    """Target progress with style progress in brackets."""
    return f"{_number(entry['target_progress'])} ({_number(entry['style_progress'])})"


if __name__ == "__main__":
    main()
