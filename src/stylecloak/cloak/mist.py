"""Mist's textural loss: pull the encoder's view of x+δ toward the latents of a fixed, high-contrast pattern.

After Liang et al., "Adversarial Example Does Good: Preventing Painting Imitation from Diffusion Models
via Adversarial Examples" (ICML 2023) and the Mist tool built on it (Liang, Wu et al., "Mist: Towards
Improved Adversarial Examples for Diffusion Models", 2023). Mist's textural loss is

    minimise_δ  ‖Φ(x+δ) − Φ(P)‖²   subject to ‖δ‖∞ ≤ ε

with P a fixed high-contrast target image; here P is :func:`pattern`, drawn by our own code (Mist ships
its own picture). Mist also has a *semantic* loss that needs a diffusion UNet's denoising error; no
diffusion model runs here, so only the textural loss is implemented. The optimiser, caps, EOT and mimic
views are stylecloak's (:mod:`.optimiser`); only the target differs from Glaze's.

>>> settings = ProtectSettings(method="mist")   # equal visibility: the intensity preset's caps
>>> ProtectSettings(method="mist", overrides=dict(Mist.published))   # Mist's own budget: L∞ 16/255, 100 sign steps
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

import torch

from .base import FixedTargetMethod

TILE = 32
"""Side (px) of the pattern's repeating tile: the texture has the same pixel frequency at every view size."""


def pattern(size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """The target P (1,3,h,w) in {0, 1}: rings inside each ``TILE``-px tile XOR diagonal stripes, black and white."""
    y, x = torch.meshgrid(torch.arange(size[0], device=device), torch.arange(size[1], device=device), indexing="ij")
    ty, tx = (y % TILE) - (TILE - 1) / 2, (x % TILE) - (TILE - 1) / 2
    rings = torch.cos(torch.hypot(tx, ty) * (2 * math.pi / 8)) > 0
    stripes = torch.cos((x + y).float() * (2 * math.pi / 12)) > 0
    return (rings ^ stripes).float().expand(3, -1, -1)[None].clone()


class Mist(FixedTargetMethod):
    """Mist's textural loss: the target of every view is :func:`pattern` at the view's size."""

    name: ClassVar[str] = "mist"
    summary: ClassVar[str] = (
        "pull the model's view toward a fixed high-contrast pattern (Mist's textural loss only: its semantic loss "
        "needs a diffusion UNet, which does not run here); the target style is not used"
    )
    fixed: ClassVar[str] = "mist-pattern"
    published: ClassVar[Mapping[str, object]] = MappingProxyType(
        {"max_linf": 16 / 255, "min_psnr": None, "budget": math.inf, "steps": 100, "lr": 1 / 255, "method": "sign", "cosine": False, "eot": None}
    )
    """Mist's default budget: L∞ 16/255, 100 steps of 1/255 along the gradient's sign; no PSNR floor, no
    perceptual budget, no EOT."""

    def target(self, image: torch.Tensor) -> torch.Tensor:
        return pattern((image.shape[-2], image.shape[-1]), image.device)
