"""Where a change to an image is hard to see: a contrast-masking map.

Noise on a flat area (white paper, a flat fill) is easy to see and costs a lot of perceptual distance;
the same noise beside an edge or inside texture is masked by it. :func:`masking_map` is 1 where the
image has local contrast (luminance gradient ≥ ``edge``, dilated by ``radius`` px and softened) and
falls to ``floor`` on flat areas; its mean (floor 0) is the share of an image a cloak can hide in
(:mod:`stylecloak.protectability`). Steering the optimiser's steps by it was measured and not adopted
(docs/decisions/0004-perceptual-distance.md). :func:`energy_weights` turns it into a texture-weighted energy
budget (``CloakSettings.texture_masking``).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)
MASK_FLOOR = 0.25
"""The masking map's value on flat areas in :func:`energy_weights`: a change there costs 1 / 0.25² = 16× the energy
it costs in texture."""


def masking_map(x: torch.Tensor, floor: float, edge: float = 0.05, radius: int = 3) -> torch.Tensor:
    """(B,1,H,W) in [floor, 1] for images ``x`` (B,3,H,W) in [0, 1]: 1 at and near edges and texture, ``floor`` on flat areas."""
    luma = cast(torch.Tensor, sum(w * x[:, i : i + 1] for i, w in enumerate(LUMA)))
    gx = F.pad((luma[..., :, 1:] - luma[..., :, :-1]).abs(), (0, 1))
    gy = F.pad((luma[..., 1:, :] - luma[..., :-1, :]).abs(), (0, 0, 0, 1))
    contrast = F.max_pool2d(torch.maximum(gx, gy), 2 * radius + 1, 1, radius)
    soft = F.avg_pool2d(contrast, 2 * radius + 1, 1, radius, count_include_pad=False)
    return (soft / edge).clamp(floor, 1)


def energy_weights(x: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) weights w for a texture-weighted energy budget ‖w·δ‖ on images ``x``: 1 / :func:`masking_map`, scaled
    so that mean(w²) = 1 (a uniform change costs what it costs under the plain PSNR cap; texture less, flat areas more)."""
    w = masking_map(x, MASK_FLOOR).reciprocal()
    return w / w.pow(2).mean((-2, -1), keepdim=True).sqrt()


def masked_psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR (dB) of the change y − x weighted by :func:`energy_weights` of ``x``."""
    mse = ((y - x) * energy_weights(x)).pow(2).mean((1, 2, 3))
    return -10 * torch.log10(mse.clamp_min(1e-12))
