"""Where a change to an image is hard to see: a contrast-masking map.

Noise on a flat area (white paper, a flat fill) is easy to see and costs a lot of perceptual distance;
the same noise beside an edge or inside texture is masked by it. :func:`masking_map` is 1 where the
image has local contrast (luminance gradient ≥ ``edge``, dilated by ``radius`` px and softened) and
falls to ``floor`` on flat areas; its mean (floor 0) is the share of an image a cloak can hide in
(:mod:`stylecloak.protectability`). Steering the optimiser's steps by it was measured and not adopted
(docs/decisions/0004-perceptual-distance.md).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)


def masking_map(x: torch.Tensor, floor: float, edge: float = 0.05, radius: int = 3) -> torch.Tensor:
    """(B,1,H,W) in [floor, 1] for images ``x`` (B,3,H,W) in [0, 1]: 1 at and near edges and texture, ``floor`` on flat areas."""
    luma = cast(torch.Tensor, sum(w * x[:, i : i + 1] for i, w in enumerate(LUMA)))
    gx = F.pad((luma[..., :, 1:] - luma[..., :, :-1]).abs(), (0, 1))
    gy = F.pad((luma[..., 1:, :] - luma[..., :-1, :]).abs(), (0, 0, 0, 1))
    contrast = F.max_pool2d(torch.maximum(gx, gy), 2 * radius + 1, 1, radius)
    soft = F.avg_pool2d(contrast, 2 * radius + 1, 1, radius, count_include_pad=False)
    return (soft / edge).clamp(floor, 1)
