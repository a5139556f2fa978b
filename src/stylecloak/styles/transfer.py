"""Ω(x, T): latent style transfer by channel statistics (AdaIN) in a backbone's latent space."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..backbones import Backbone
from ..geometry import long_side_size, resize
from .library import Style


@dataclass(frozen=True)
class LatentStats:
    """Channel mean and standard deviation of latents, each (C,)."""

    mean: torch.Tensor
    std: torch.Tensor

    def feature(self) -> torch.Tensor:
        """One vector (2C,) used to compare styles."""
        return torch.cat([self.mean, self.std])


@torch.no_grad()
def image_stats(backbone: Backbone, images: torch.Tensor, long_side: int = 512) -> list[LatentStats]:
    """Per-image latent statistics of a batch (N,3,H,W) in [0, 1]."""
    out = []
    for im in images.split(1):
        im = im.to(backbone.device)  # long side at most long_side, both sides multiples of the factor
        z = backbone.encode(resize(im, long_side_size(im.shape[-2:], long_side, backbone.factor), "bilinear"))
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
def style_transfer(backbone: Backbone, x: torch.Tensor, style: LatentStats, strength: float = 1.0, latents: torch.Tensor | None = None) -> torch.Tensor:
    """Ω(x, T): the image x (B,3,H,W in [0, 1], sides multiples of the backbone factor) re-rendered in style T.

    ``latents``: ``backbone.encode(x)`` when the caller already has it (saves one encoder pass)."""
    return backbone.decode(adain(backbone.encode(x) if latents is None else latents, style, strength))
