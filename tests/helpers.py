"""Helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


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
