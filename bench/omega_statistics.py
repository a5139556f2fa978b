"""How much of the target style's latent statistics Glaze's target keeps: style progress (SP) of Ω's latents.

For each painting (round-robin over the manifest's artists, brought to ``--size`` px long side and cropped to the encoder's multiple), the style's
statistics are put on its TAEF2 latents (AdaIN in latent space), those latents are decoded into Ω, and Ω is
encoded again, Φ(Ω). Prints and records SP (:func:`stylecloak.audit.style_progress.style_progress`, s_T made at
``--size``) of both: the latents Ω is decoded from, and Φ(Ω), which the default cloak aims at.

    python bench/omega_statistics.py --count 2 --size 512 --style woodcut --json bench/results/omega_statistics-512.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import add_shared_options, set_up, write_results
from strength import paintings

from stylecloak.audit.style_progress import style_progress, style_target
from stylecloak.backbones import load_backbone
from stylecloak.geometry import Working
from stylecloak.io import load_image
from stylecloak.styles import adain, all_styles, get_style, style_stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--style", default="woodcut")
    ap.add_argument("--json", type=Path, help="Results file (default: omega_statistics.json in --out).")
    add_shared_options(ap)
    args = ap.parse_args()
    out = set_up(args, "stylecloak-omega-")
    renderer = load_backbone("taef2", weights_dir=args.weights_dir)
    style = get_style(args.style, all_styles())
    stats, memo, rows = style_stats(renderer, style), {}, []
    for path in paintings(args.paintings, args.count):
        x = Working.of(load_image(path).rgb, args.size, 1).image
        x = x[..., : x.shape[-2] // renderer.factor * renderer.factor, : x.shape[-1] // renderer.factor * renderer.factor]
        with torch.no_grad():
            z = renderer.encode(x)
            styled = adain(z, stats)
            again = renderer.encode(renderer.decode(styled))
        target = style_target(renderer, style, max(x.shape[-2:]), memo)
        row = {"work": f"{path.parent.name}/{path.name}", "sp_styled_latents": round(style_progress(z, styled, target), 3)}
        rows.append(row | {"sp_omega_encoded": round(style_progress(z, again, target), 3)})
        print(rows[-1], flush=True)
    write_results(args.json or out / "omega_statistics.json", "omega_statistics", rows, settings={"size": args.size, "style": args.style})


if __name__ == "__main__":
    main()
