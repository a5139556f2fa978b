"""Where images change size: the working copy, and the views a mimic trains on.

A mimic resizes an artwork to its training size (512 px long side for SD 1.5, up to 1024 px for SDXL and
FLUX) before its encoder sees it; :func:`fit` is that resize (bicubic, antialiased, differentiable), padded
to the encoder's multiple. :class:`Working` is the copy a cloak is optimised on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def long_side_size(size: tuple[int, int], long_side: int | None, multiple: int = 1, enlarge: bool = False) -> tuple[int, int]:
    """(h, w) of an image of ``size`` brought to ``long_side`` px on its long side (None: kept), each side
    rounded to a multiple of ``multiple`` (at least one); never enlarged unless ``enlarge``."""
    scale = 1.0 if long_side is None else long_side / max(size)
    scale = scale if enlarge else min(1.0, scale)
    return max(multiple, round(size[0] * scale / multiple) * multiple), max(multiple, round(size[1] * scale / multiple) * multiple)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """``x`` resized to (h, w), antialiased when shrinking (differentiable); ``bicubic`` output is clamped to
    [0, 1], ``bilinear`` (the style statistics' and the judge's resize) cannot overshoot."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    out = F.interpolate(x, size, mode=mode, antialias=True, align_corners=False)
    return out.clamp(0, 1) if mode == "bicubic" else out


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right by edge replication so both sides are multiples of ``multiple``."""
    ph, pw = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def fit(x: torch.Tensor, size: tuple[int, int], multiple: int) -> torch.Tensor:
    """What an encoder with downscale ``multiple`` is shown of ``x`` at (h, w): resized, then padded."""
    return pad_to(resize(x, size), multiple)


def view_of(x: torch.Tensor, valid: tuple[int, int], size: tuple[int, int], multiple: int) -> torch.Tensor:
    """A padded working image ``x`` (its image part is ``valid`` = (h, w)) as a mimic sees it at ``size``:
    ``x`` itself at its own size, else its image part fitted to ``size``."""
    return x if tuple(size) == tuple(valid) else fit(x[..., : valid[0], : valid[1]], size, multiple)


@dataclass(frozen=True)
class Working:
    """An image brought to the working resolution: resized (if larger) and padded to a multiple."""

    image: torch.Tensor
    size: tuple[int, int]
    """(h, w) before padding."""
    full: tuple[int, int]
    """(H, W) of the original."""

    @staticmethod
    def of(x: torch.Tensor, long_side: int | None, multiple: int) -> Working:
        full = (x.shape[-2], x.shape[-1])
        size = long_side_size(full, long_side)
        return Working(fit(x, size, multiple), size, full)

    def crop(self, t: torch.Tensor) -> torch.Tensor:
        return t[..., : self.size[0], : self.size[1]]

    def to_full(self, delta: torch.Tensor) -> torch.Tensor:
        """Carry a working-resolution δ to the original size (bicubic; identity when not resized)."""
        d = self.crop(delta)
        return d if self.size == self.full else F.interpolate(d, self.full, mode="bicubic", align_corners=False)
