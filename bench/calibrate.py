"""Compare cloak settings on the same paintings: plain and robust target progress, transfer, PSNR, time.

Used to choose the presets (docs/decisions/0002-l2-steps-and-eot.md). Arguments: a target style, comma-separated
image files, then any number of settings, each a Python dict of CloakSettings fields (EOTSettings and
ROBUST are in scope).

    python bench/calibrate.py cubist-facets ../shared/data/paintings/claude-monet/bordighera.jpg \
        "dict(steps=60, eot=None)" "dict(steps=60, eot=EOTSettings(shift_prob=0.0))"
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import write_results

from stylecloak.backbones import encode_all, load_backbone, target_progress
from stylecloak.cloak import CloakSettings, optimise
from stylecloak.config import ROBUST
from stylecloak.geometry import Working
from stylecloak.io import load_image
from stylecloak.perceptual import PerceptualDistance, psnr
from stylecloak.styles import get_style, style_stats, style_transfer
from stylecloak.transforms import EOTSettings, adverse_cleaner, downscale, jpeg

WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "models"


def main() -> None:
    torch.set_num_threads(2)
    bb, sana = (load_backbone(n, weights_dir=WEIGHTS) for n in ("taef2", "taesana"))
    perc = PerceptualDistance()
    style = get_style(sys.argv[1])
    files = sys.argv[2].split(",")
    print(f"{'settings':60} {'TP':>6} {'jpeg75':>6} {'half':>6} {'clean':>6} {'sana':>6} {'PSNR':>6} {'d':>6} {'s':>6}")
    results = []
    for spec in sys.argv[3:]:
        settings = CloakSettings(**eval(spec, {"EOTSettings": EOTSettings, "ROBUST": ROBUST}))
        rows = []
        for f in files:
            work = Working.of(load_image(f).rgb, 512, 32)
            x = work.image
            omega = style_transfer(bb, x, style_stats(bb, style))
            start = time.perf_counter()
            xc = ((x + optimise(x, omega, [bb], settings, perc, valid=work.size)).clamp(0, 1) * 255).round() / 255
            seconds = time.perf_counter() - start

            def tp(enc, a, b, omega=omega):
                return target_progress(*(encode_all([enc], im)[0] for im in (a, b, omega)))

            rows.append(
                [
                    tp(bb, x, xc),
                    tp(bb, jpeg(x, 75), jpeg(xc, 75)),
                    tp(bb, downscale(x, 0.5), downscale(xc, 0.5)),
                    tp(bb, adverse_cleaner(x), adverse_cleaner(xc)),
                    tp(sana, x, xc),
                    float(psnr(x, xc)),
                    float(perc(x, xc)),
                    seconds,
                ]
            )
        means = np.mean(rows, 0)
        print(f"{spec[:60]:60} " + " ".join(f"{v:6.3f}" if i < 5 or i == 6 else f"{v:6.1f}" for i, v in enumerate(means)), flush=True)
        results.append(
            {"settings": spec} | dict(zip(("tp", "jpeg75", "half", "cleaner", "transfer", "psnr", "d", "seconds"), (round(float(v), 4) for v in means)))
        )
    path = Path(tempfile.mkdtemp(prefix="stylecloak-calibrate-")) / "calibrate.json"
    write_results(path, "calibrate", results, settings={"style": sys.argv[1], "images": files})


if __name__ == "__main__":
    main()
