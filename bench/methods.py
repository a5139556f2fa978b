"""Glaze, Mist and PhotoGuard on the same paintings: at equal visibility and at each one's own budget.

Resizes an artist's first ``--count`` works to ``--size`` px long side, protects them with every method
(a) at equal visibility — the ``--intensity`` preset's PSNR floor, L∞ cap and perceptual budget for all —
and (b) at Mist's and PhotoGuard's own published budgets (``Mist.published``,
``PhotoGuard.published`` in :mod:`stylecloak.cloak`; Glaze's own budget is our default, row (a)), then audits every
set with the same countermeasures and the latent mimic proxy, and prints one table. Each method's target
progress is toward its own target, so it does not compare methods; the common yardsticks are the mimic
proxy's ``score_drop`` (victim score of a mimic trained on the originals minus that of one trained on the
cloaks, :mod:`stylecloak.audit.mimic`) and the view change ‖Φ(x′) − Φ(x)‖ / ‖Φ(x)‖ at each mimic size.

    python bench/methods.py --artist "Claude Monet" --count 2 --size 256 --quality fast --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from common import add_shared_options, add_try_option, artist_originals, overrides, set_up, write_results

from stylecloak import Protector, ProtectSettings
from stylecloak.audit import (
    AuditSettings,
    MimicSettings,
    audit,
    pair_files,
)
from stylecloak.cloak import METHODS
from stylecloak.config import MIMIC_SIZES, QUALITY
from stylecloak.io import load_image

COUNTERMEASURES = ("jpeg75", "impress", "noisy_upscale")
"""Applied to originals and cloaks alike before measuring and before the mimic learns ("none" is always measured)."""


def rows(methods: list[str], tries: list[str]) -> list[tuple[str, str, dict]]:
    """(method, budget, overrides) in table order: each method at equal visibility, Mist's and PhotoGuard's own
    budgets, then glaze with each ``--try``'s CloakSettings overrides (budget named by them)."""
    plain = [(m, "equal", {}) for m in methods] + [(m, "own", {}) for m in methods if METHODS[m].published]
    return plain + [("glaze", spec, overrides(spec)) for spec in tries]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artist", default="Claude Monet")
    ap.add_argument("--count", type=int, default=5, help="How many of the artist's works (manifest order).")
    ap.add_argument("--size", type=int, default=512, help="Long side (px) the originals are resized to.")
    ap.add_argument("--intensity", default="default", help="The preset whose caps every method gets in the equal-visibility rows.")
    ap.add_argument("--quality", default="default", help="Steps, EOT and views of the equal-visibility rows.")
    ap.add_argument("--content", type=int, default=16, help="Works of other artists the mimic renders.")
    ap.add_argument(
        "--own-steps",
        type=int,
        help="Steps of the own-budget rows (default: the published 100/200; with --quality fast, the fast preset's steps, "
        "the sign step scaled to cover the same distance).",
    )
    ap.add_argument("--methods", default=",".join(METHODS), help="Comma-separated methods to measure (default: all).")
    add_try_option(ap, "glaze at equal visibility")
    ap.add_argument("--json", type=Path, help="Write the rows as JSON here.")
    add_shared_options(ap)
    args = ap.parse_args()
    out = set_up(args, "stylecloak-methods-")

    # 1. the artist's first works, resized
    originals = artist_originals(args, out / "originals")
    loaded = [load_image(f) for f in originals]
    sizes = tuple(sorted({min(s, args.size) for s in MIMIC_SIZES}))
    mimic = MimicSettings(paintings=args.paintings, artist=args.artist, content=args.content, countermeasures=("none", *COUNTERMEASURES))
    style = None

    # 2. each method and budget: protect, then audit with the mimic proxy
    results, begun, memo = [], time.perf_counter(), {}  # memo: the originals' purification and clean mimic, done once
    for method, budget, tried in rows([m for m in args.methods.split(",") if m], args.tries):
        changes = own_budget(method, args.own_steps or (QUALITY["fast"]["steps"] if args.quality == "fast" else None)) if budget == "own" else tried
        settings = ProtectSettings(intensity=args.intensity, quality=args.quality, method=method, target_style=style, overrides=changes)
        protector = Protector(settings, weights_dir=args.weights_dir)
        if style is None and protector.method.needs_style:
            style = protector.choose_target([im.rgb for im in loaded], artist=args.artist, profile=out / "profile.json").target_style
        target = protector.method.target_label(style)
        folder = out / f"{method}-{budget}".replace("=", "-").replace(",", "_")
        folder.mkdir(exist_ok=True)
        seconds = []
        for im, f in zip(loaded, originals):
            result = protector.protect(im, target)
            result.save(folder / f.name)
            seconds.append(result.seconds)
        pairs, _ = pair_files(out / "originals", folder)
        report = audit(
            pairs,
            AuditSettings(target_style=target, method=method, mimic_sizes=sizes, countermeasures=COUNTERMEASURES),
            mimic=mimic,
            weights_dir=args.weights_dir,
            memo=memo,
        )
        s, m = report.summary, report.mimic
        row = {
            "method": method,
            "budget": budget,
            "target": target,
            "psnr_db": s["psnr_db"],
            "ssim": s["ssim"],
            "perceptual_distance": s["perceptual_distance"],
            "linf": round(max(_linf(o.rgb, folder / f.name) for o, f in zip(loaded, originals)) * 255, 2),
            "seconds": round(sum(seconds) / len(seconds), 2),
            "steps": protector.cloak_settings.steps,
            "score_drop": {c: v["score_drop"] for c, v in m["countermeasures"].items()},
            "victim_score_cloaked": {c: v["victim_score_cloaked"] for c, v in m["countermeasures"].items()},
            "victim_score_clean": {c: v["victim_score_clean"] for c, v in m["countermeasures"].items()},
            "base_score": m["base_score"],
            "view_change": {size: v["view_change"] for size, v in s["sizes"].items() if int(size) in sizes},
            "target_progress": {"none": s["target_progress"], **{c: v["target_progress"] for c, v in s["countermeasures"].items()}},
            "transfer_progress": s["transfer_progress"],
        }
        results.append(row)
        print(
            f"{method:10s} {budget:5s} PSNR {row['psnr_db']:.1f} dB  L∞ {row['linf']:.1f}/255  score drop {row['score_drop']}  {time.perf_counter() - begun:.0f} s",
            flush=True,
        )

    # 3. the table
    header = [
        "method",
        "budget",
        "steps",
        "PSNR dB",
        "SSIM",
        "perceptual",
        "L∞ ×255",
        "s/image",
        *(f"score drop {c}" for c in mimic.countermeasures),
        *(f"view change {k}" for k in sizes),
        "own TP",
        "transfer",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        cells = [
            r["method"],
            r["budget"],
            str(r["steps"]),
            f"{r['psnr_db']:.1f}",
            f"{r['ssim']:.3f}",
            f"{r['perceptual_distance']:.3f}",
            f"{r['linf']:.1f}",
            f"{r['seconds']:.1f}",
        ]
        cells += [f"{r['score_drop'][c]:+.3f}" for c in mimic.countermeasures] + [f"{r['view_change'][str(k)]:.3f}" for k in sizes]
        cells += [f"{r['target_progress']['none']:.3f}", f"{r['transfer_progress']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    first = results[0]
    note = (
        f"{len(originals)} × {args.artist} at {args.size} px, intensity {args.intensity}, quality {args.quality}, glaze target {style}; "
        f"victim score of the clean mimic {json.dumps(first['victim_score_clean'])}, base score {first['base_score']:.3f} "
        f"({args.content} content works); {time.perf_counter() - begun:.0f} s in all, load average {os.getloadavg()[0]:.1f}, {args.threads} threads.\n\n"
        f"Command: `python {shlex.join(sys.argv)}`"
    )
    print("\n" + "\n".join(lines) + "\n\n" + note)
    for path in (args.json, out / "methods.json"):
        if path:
            write_results(path, "methods", results, settings=vars(args) | {"glaze_target": style, "mimic_sizes": sizes})


def own_budget(method: str, steps: int | None) -> dict:
    """The method's published budget; with ``steps``, that many steps, the sign step scaled to cover the same
    distance (at most a quarter of the L∞ cap)."""
    published = dict(METHODS[method].published)
    if steps is None:
        return published
    return published | {"steps": steps, "lr": min(published["lr"] * published["steps"] / steps, published["max_linf"] / 4)}


def _linf(original, cloaked: Path) -> float:
    return float((load_image(cloaked).rgb - original).abs().max())


if __name__ == "__main__":
    main()
