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
