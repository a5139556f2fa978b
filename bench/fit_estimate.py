"""Calibrate the before-protecting estimate: the trial cloak's TP against the measured TP of styles_report rows.

For every image of the given ``bench/styles_report.py`` result files (drawn again at the file's size: the
hard set is code, the paintings come from --paintings), runs :meth:`stylecloak.Protector.estimate`'s trial
cloak, writes its TP (``pilot``) and the shipped calibration's expectation (``estimate``) into the rows with
``--write``, and prints the least-squares line
measured TP ≈ a + b · pilot + c · log2(long side / 512) over the default-intensity rows of the shipped code (config ``default``), its
correlation and mean absolute error, and the mean gain from the default to the high intensity: the values of
:data:`stylecloak.protectability.EXPECTED` and ``GAIN``.

    python bench/fit_estimate.py bench/results/styles_report-256.json bench/results/styles_report-768.json --write
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import add_shared_options, set_up
from styles_report import originals

from stylecloak import Protector, ProtectSettings
from stylecloak.protectability import EXPECTED, GAIN, Assessment, size_term


def pilots(result: dict, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    """Trial-cloak TP per image of one styles_report result."""
    names = {r["image"] for r in result["rows"]}
    drawn = originals(folder, args.paintings, result["size"], args.woodblocks, args.others)
    missing = names - set(drawn)
    if missing:
        raise SystemExit(f"cannot draw {sorted(missing)} again; pass the --woodblocks/--others the run used")
    protector = Protector(ProtectSettings(target_style=result["style"], perceptual="efficientnet"), weights_dir=args.weights_dir)
    out = {}
    for name in sorted(names):
        start = time.perf_counter()
        out[name] = protector.estimate(folder / name).pilot
        print(f"{result['size']} px {name}: trial TP {out[name]:.4f} ({time.perf_counter() - start:.1f} s)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="styles_report.json files.")
    ap.add_argument("--write", action="store_true", help="Store each image's trial TP in the files' rows (pilot).")
    ap.add_argument("--woodblocks", type=int, default=2)
    ap.add_argument("--others", type=int, default=3)
    add_shared_options(ap)
    args = ap.parse_args()
    out = set_up(args, "stylecloak-fit-")
    rows = []
    for path in args.results:
        result = json.loads(path.read_text())
        found = pilots(result, out / path.stem, args)
        for row in result["rows"]:
            row["pilot"] = found[row["image"]]
            row["estimate"] = Assessment(row["texture"], row["pilot"], result["size"]).expected(row["intensity"])
            rows.append({**row, "size": result["size"]})
        if args.write:
            path.write_text(json.dumps(result, indent=1))

    shipped = [r for r in rows if r["config"] == "default"]
    base = [r for r in shipped if r["intensity"] == "default"]
    x, y = np.array([r["pilot"] for r in base]), np.array([r["tp"] for r in base])
    design = np.stack([np.ones_like(x), x, [size_term(r["size"]) for r in base]], axis=1)
    (a, b, c), *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ np.array([a, b, c])
    print(
        f"\ndefault intensity, {len(base)} rows: TP ≈ {a:.4f} + {b:.4f} · pilot + {c:.4f} · log2(side / 512); correlation of fit and TP {np.corrcoef(fitted, y)[0, 1]:.2f}, mean absolute error {np.abs(fitted - y).mean():.3f}"
    )
    for size in sorted({r["size"] for r in base}):
        sel = np.array([r["size"] == size for r in base])
        print(
            f"  at {size} px, {sel.sum()} rows: correlation {np.corrcoef(fitted[sel], y[sel])[0, 1]:.2f}, mean absolute error {np.abs(fitted[sel] - y[sel]).mean():.3f}"
        )
    for r, f in zip(base, fitted):
        print(f"  {r['size']} px {r['image']:40s} pilot {r['pilot']:.3f} measured {r['tp']:.3f} expected {f:.3f}")
    default = {(r["size"], r["image"]): r["tp"] for r in base}
    gains = [r["tp"] - default[(r["size"], r["image"])] for r in shipped if r["intensity"] == "high" and (r["size"], r["image"]) in default]
    if gains:
        print(f"high − default, {len(gains)} images: mean {np.mean(gains):+.3f} (min {min(gains):+.3f}, max {max(gains):+.3f})")
    print(f"\nshipped: EXPECTED = {EXPECTED}, GAIN = {GAIN}")
    print(
        f"fitted:  EXPECTED = ({a:.4f}, {b:.4f}, {c:.4f}), GAIN = {{'high': {np.mean(gains):.3f}}}"
        if gains
        else f"fitted:  EXPECTED = ({a:.4f}, {b:.4f}, {c:.4f})"
    )


if __name__ == "__main__":
    main()
