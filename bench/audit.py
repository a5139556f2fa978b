"""Protect one artist's paintings with the default presets, then audit them (with the mimic proxy).

Originals are resized to 512 px long side (PNG) into ``--out``/originals, cloaked with
:class:`stylecloak.Protector` (target chosen by Glaze's selection for the artist) into
``--out``/cloaked, and audited; prints one line per countermeasure and writes audit.json,
audit.md and audit.png to ``--out`` (default: a new temporary folder), and the countermeasure rows as a
results file, bench.json (``bench/report.py`` renders it).

    python bench/audit.py --artist "Claude Monet" --count 5 --out bench/results/monet
    python bench/audit.py --count 4 --size 256 --countermeasures jpeg75,impress,robust_encoder   # + partly cloaked portfolios
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from common import add_shared_options, artist_originals, set_up, write_results

from stylecloak import Protector, ProtectSettings
from stylecloak.audit import (
    AuditSettings,
    MimicSettings,
    audit,
    pair_files,
    parse_countermeasures,
)
from stylecloak.audit.portfolio import parse_fractions
from stylecloak.io import load_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artist", default="Claude Monet")
    ap.add_argument("--count", type=int, default=5, help="How many of the artist's works (manifest order).")
    ap.add_argument("--size", type=int, default=512, help="Long side the originals are resized to.")
    ap.add_argument("--intensity", default="default")
    ap.add_argument("--quality", default="default")
    ap.add_argument("--countermeasures", default="all", help="all, or a list; robust_encoder trains on other works of --paintings.")
    ap.add_argument("--cloaked-fraction", default="0.25,0.5,0.75,1", help="Shares of the works the mimic sees cloaked.")
    add_shared_options(ap)
    args = ap.parse_args()
    out = set_up(args, "stylecloak-audit-")
    (out / "cloaked").mkdir(parents=True, exist_ok=True)

    # 1. the artist's first works, resized
    originals = artist_originals(args, out / "originals")

    # 2. protect with the default presets
    start, cpu = time.perf_counter(), time.process_time()
    protector = Protector(ProtectSettings(intensity=args.intensity, quality=args.quality), weights_dir=args.weights_dir)
    loaded = [load_image(f) for f in originals]
    target = protector.choose_target(loaded, artist=args.artist, profile=out / "profile.json").target_style
    for im, f in zip(loaded, originals):
        result = protector.protect(im, target)
        result.save(out / "cloaked" / f.name)
        s = result.summary()
        print(f"protect {f.name}: TP {s['target_progress']:.2f}  PSNR {s['psnr_db']:.1f} dB  {s['seconds']:.0f} s", flush=True)
    protect_s, protect_cpu = time.perf_counter() - start, time.process_time() - cpu

    # 3. audit, with the mimic proxy
    start, cpu = time.perf_counter(), time.process_time()
    pairs, warnings = pair_files(out / "originals", out / "cloaked")
    settings = AuditSettings(target_style=target, countermeasures=parse_countermeasures(args.countermeasures))
    report = audit(
        pairs,
        settings,
        mimic=MimicSettings(
            paintings=args.paintings,
            artist=args.artist,
            countermeasures=tuple(c for c in ("none", "jpeg75", "impress", "robust_encoder") if c == "none" or c in settings.countermeasures),
            fractions=parse_fractions(args.cloaked_fraction),
        ),
        weights_dir=args.weights_dir,
        progress=lambda label, done, total: print(f"  [{done}/{total}] {label}", end="\r", flush=True),
    )
    audit_s, audit_cpu = time.perf_counter() - start, time.process_time() - cpu
    report.warnings[:0] = warnings

    # 4. table and files
    print(f"\n{'countermeasure':16s} {'TP':>6s} {'transfer':>9s}")
    for name, tp, tr in report.rows():
        print(f"{name:16s} {tp:6.3f} {tr:9.3f}")
    if report.mimic:
        m = report.mimic
        print(f"mimic proxy ({m['artist']}): base rate {m['base_rate']:.2f}, judge LOO top-3 {m['judge']['loo_accuracy']:.2f}")
        for name, v in m["countermeasures"].items():
            print(f"  {name:14s} recognised clean {v['recognised_clean']:.2f}  cloaked {v['recognised_cloaked']:.2f}  protection {v['protection']:+.2f}")
        for f, blocks in m.get("by_fraction", {}).items():
            print(f"  {float(f):4.0%} cloaked: " + "  ".join(f"{c} {b['protection']:+.2f}" for c, b in blocks.items()))
    if report.robust_encoder:
        entry = report.summary["countermeasures"]["robust_encoder"]
        print(
            f"robust_encoder: clean round trip {entry['clean_roundtrip_psnr_db']:.1f} dB; "
            + ", ".join(f"{e['encoder']} TP on its pairs {e['pair_tp_before']:.2f} -> {e['pair_tp_after']:.2f}" for e in report.robust_encoder["encoders"])
        )
    timing = (
        f"Bench: {len(pairs)} × {args.artist} at {args.size} px, target {target}; protect {protect_s:.0f} s "
        f"(CPU {protect_cpu:.0f} s), audit {audit_s:.0f} s (CPU {audit_cpu:.0f} s, "
        f"{report.summary['seconds_per_image']:.0f} s per image before the mimic), load average {os.getloadavg()[0]:.1f}, "
        f"{args.threads} threads.\n\nCommand: `python {shlex.join(sys.argv)}`\n"
    )
    print(timing)
    (out / "audit.json").write_text(report.to_json())
    (out / "audit.md").write_text(report.to_markdown() + "\n" + timing)
    report.plot(out / "audit.png")
    for name in ("audit.json", "audit.md", "audit.png"):
        print(out / name)
    rows = [{"countermeasure": name, "tp": tp, "transfer": tr} for name, tp, tr in report.rows()]
    extra = {"protect_s": round(protect_s), "audit_s": round(audit_s), "target": target, "images": [p.original.name for p in pairs]}
    write_results(out / "bench.json", "audit", rows, settings=vars(args) | extra)


if __name__ == "__main__":
    main()
