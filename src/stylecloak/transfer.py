"""Ω(x, T): latent style transfer by channel statistics (AdaIN) in a backbone's latent space."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .backbones import Backbone
from .styles import Style


@dataclass(frozen=True)
class LatentStats:
    """Channel mean and standard deviation of latents, each (C,)."""

    mean: torch.Tensor
    std: torch.Tensor

    def feature(self) -> torch.Tensor:
        """One vector (2C,) used to compare styles."""
        return torch.cat([self.mean, self.std])


def _fit(x: torch.Tensor, factor: int, long_side: int) -> torch.Tensor:
    """Resize so the long side is at most ``long_side`` and both sides are multiples of ``factor``."""
    h, w = x.shape[-2:]
    s = min(1.0, long_side / max(h, w))
    nh, nw = max(factor, round(h * s / factor) * factor), max(factor, round(w * s / factor) * factor)
    return x if (nh, nw) == (h, w) else F.interpolate(x, (nh, nw), mode="bilinear", antialias=True, align_corners=False)


@torch.no_grad()
def image_stats(backbone: Backbone, images: torch.Tensor, long_side: int = 512) -> list[LatentStats]:
    """Per-image latent statistics of a batch (N,3,H,W) in [0, 1]."""
    out = []
    for im in images.split(1):
        z = backbone.encode(_fit(im.to(backbone.device), backbone.factor, long_side))
        out.append(LatentStats(z.mean((0, 2, 3)), z.std((0, 2, 3))))
    return out


_style_cache: dict[tuple[str, str, str, str], LatentStats] = {}


def style_stats(backbone: Backbone, style: Style) -> LatentStats:
    """Latent statistics of a style's exemplars (pooled over all of them), cached per backbone."""
    key = (backbone.name, style.name, str(style.folder), str(backbone.device))
    if key not in _style_cache:
        stats = image_stats(backbone, style.images())
        _style_cache[key] = LatentStats(torch.stack([s.mean for s in stats]).mean(0), torch.stack([s.std for s in stats]).mean(0))
    return _style_cache[key]


def adain(z: torch.Tensor, target: LatentStats, strength: float = 1.0) -> torch.Tensor:
    """Move each latent channel's mean/std toward ``target``; ``strength`` 1 = fully."""
    mu, sd = z.mean((2, 3), keepdim=True), z.std((2, 3), keepdim=True) + 1e-6
    styled = (z - mu) / sd * target.std.view(1, -1, 1, 1) + target.mean.view(1, -1, 1, 1)
    return torch.lerp(z, styled, strength)


@torch.no_grad()
def style_transfer(
    backbone: Backbone, x: torch.Tensor, style: LatentStats, strength: float = 1.0, latents: torch.Tensor | None = None
) -> torch.Tensor:
    """Ω(x, T): the image x (B,3,H,W in [0, 1], sides multiples of the backbone factor) re-rendered in style T.

    ``latents``: ``backbone.encode(x)`` when the caller already has it (saves one encoder pass)."""
    return backbone.decode(adain(backbone.encode(x) if latents is None else latents, style, strength))
