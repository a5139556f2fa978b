"""Helpers shared by tests."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch import nn

from stylecloak import backbones
from stylecloak.backbones import TINY, Backbone, taesd
from stylecloak.backbones.weights import BUNDLED_DIR, cache_dir

SHARED = Path(os.environ.get("STYLECLOAK_SHARED") or Path(__file__).resolve().parents[2] / "shared")
"""The shared data folder beside the repository (weights, paintings; $STYLECLOAK_SHARED elsewhere): read from,
never copied into the repo."""
PAINTINGS = SHARED / "data" / "paintings"
STYLE = "cubist-facets"
"""The target style most tests cloak toward."""


def real_weights() -> Path | None:
    """The first folder holding the real TAEF2 weights: $STYLECLOAK_WEIGHTS, the shared models, the package's
    bundled copy, the user cache."""
    folders = [os.environ.get("STYLECLOAK_WEIGHTS"), SHARED / "models", BUNDLED_DIR, cache_dir()]
    return next((Path(f) for f in folders if f and (Path(f) / "taef2_encoder.pth").is_file()), None)


def tiny_backbone(name: str, seed: int = 0) -> Backbone:
    """A TAESD-family backbone of the published architecture with seeded random weights, its decoder's last
    convolution scaled so decoded images spread around mid-grey (not clamped to black) like a trained one."""
    spec = TINY[name]
    with torch.random.fork_rng(), torch.no_grad():  # the global random state is left as it was
        torch.manual_seed(seed)
        enc = taesd.encoder_f32(spec.latent_channels) if spec.factor == 32 else taesd.encoder(spec.latent_channels, spec.taef2_pool)
        dec = taesd.decoder(spec.latent_channels, spec.taef2_pool) if spec.has_decoder else None
        if dec is not None:
            images = torch.rand(2, 3, 64, 64)
            dec[-1].weight.mul_(0.2 / dec(enc(images)).std())
            dec[-1].bias.add_(0.5 - dec(enc(images)).mean())
    return Backbone(name, enc, dec, spec.factor)


def install_tiny_backbones(folder: Path) -> None:
    """Make every TAESD-family backbone "loaded from" ``folder`` a tiny one, in this process: the loader's cache
    answers for it, so nothing is read from ``folder``."""
    for name in TINY:
        backbones._cache[(name, str(folder), "cpu")] = tiny_backbone(name)


def painting_crop(source: Path | Image.Image, size: int) -> Image.Image:
    """A painting (a file or an image), centre-cropped to a square and resized to ``size`` px."""
    im = (source if isinstance(source, Image.Image) else Image.open(source)).convert("RGB")
    s = min(im.size)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((left, top, left + s, top + s)).resize((size, size), Image.LANCZOS)


def crops_folder(folder: Path, paintings: list[Path], count: int, size: int) -> Path:
    """``folder`` holding p0.png … the first ``count`` paintings, centre crops of ``size`` px."""
    folder.mkdir(parents=True)
    for i in range(count):
        painting_crop(paintings[i], size).save(folder / f"p{i}.png")
    return folder


def protect_command(src: Path, out: Path, weights_dir: Path, steps: int, *extra: str) -> list[str]:
    """``stylecloak protect SRC --out OUT`` toward mosaic at the fast preset, as a separate process runs it."""
    common = ["--weights-dir", str(weights_dir), "--quality", "fast", "--steps", str(steps), "--style", "mosaic"]
    return [sys.executable, "-m", "stylecloak.cli", "protect", str(src), "--out", str(out), *common, *extra]


def to_tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im, np.float32).copy() / 255).permute(2, 0, 1)[None]


def portfolio_folder(root: Path, paintings: list[Path], sizes: tuple[int, ...]) -> Path:
    """A small mirrored portfolio under ``root``: a.png, series/b.jpg, then c.png… (one per size), and series/broken.png."""
    (root / "series").mkdir(parents=True)
    names = ["a.png", "series/b.jpg", "c.png"]
    for name, path, size in zip(names, paintings, sizes):
        painting_crop(path, size).save(root / name, **({"quality": 92} if name.endswith(".jpg") else {}))
    (root / "series" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return root


class FakeLPIPS(nn.Module):
    """lpips.LPIPS's interface: images in [-1, 1], distance shaped (B,1,1,1)."""

    calls: ClassVar[list[tuple[float, float]]] = []

    def __init__(self, net: str = "alex", verbose: bool = True, fail: bool = False):
        super().__init__()
        if fail:
            raise OSError("no network")
        assert net == "alex"

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        FakeLPIPS.calls.append((float(a.detach().min()), float(a.detach().max())))
        return 1000 * (a - b).pow(2).mean((1, 2, 3), keepdim=True)


def fake_module(fail: bool = False) -> types.ModuleType:
    mod = types.ModuleType("lpips")
    mod.LPIPS = lambda net="alex", verbose=True: FakeLPIPS(net, verbose, fail)
    return mod
