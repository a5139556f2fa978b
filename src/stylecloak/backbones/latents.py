"""What the encoders see: an image's latents in several backbones, and how far a cloak moved them."""

from __future__ import annotations

import torch

from ..device import autocast
from .base import Backbone


@torch.no_grad()
def encode_all(backbones: list[Backbone], x: torch.Tensor, precision: str | bool = "fp32") -> list[torch.Tensor]:
    """Latents of ``x`` in every backbone (fp32, no gradient), computed in ``precision`` (:func:`~stylecloak.device.autocast`)."""
    with autocast(x.device, precision):
        return [bb.encode(x).float() for bb in backbones]


def target_progress(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> float:
    """TP = 1 − ‖z1 − t‖ / ‖z0 − t‖: how far latents moved from z0 (original) toward the target t."""
    return 1 - float((z1 - t).norm() / (z0 - t).norm().clamp_min(1e-12))
