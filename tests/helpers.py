"""Helpers shared by tests."""

from __future__ import annotations

import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch import nn

SHARED = Path(__file__).resolve().parents[2] / "shared"
"""The workspace's shared folder (weights, paintings); read from, never copied into the repo."""
PAINTINGS = SHARED / "data" / "paintings"
MODELS = SHARED / "models"
STYLE = "cubist-facets"
"""The target style most tests cloak toward."""


def painting_crop(path: Path, size: int) -> Image.Image:
    """A real painting, centre-cropped to a square and resized to ``size`` px."""
    im = Image.open(path).convert("RGB")
    s = min(im.size)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((left, top, left + s, top + s)).resize((size, size), Image.LANCZOS)


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
