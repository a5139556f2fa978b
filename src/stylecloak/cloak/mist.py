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
>>> ProtectSettings(method="mist", overrides=PUBLISHED)   # Mist's own budget: L∞ 16/255, 100 sign steps
"""

from __future__ import annotations

import math

import torch

from ..config import CloakSettings
from ..geometry import Working
from .optimiser import View, mimic_views

METHOD = "mist"
"""The method's name, recorded with every output."""
TARGET = "mist-pattern"
"""The name recorded as the target (XMP ``stylecloak:targetStyle``, reports)."""
TILE = 32
"""Side (px) of the pattern's repeating tile: the texture has the same pixel frequency at every view size."""

PUBLISHED = {"max_linf": 16 / 255, "min_psnr": None, "budget": math.inf, "steps": 100, "lr": 1 / 255, "method": "sign", "cosine": False, "eot": None}
"""Mist's default budget as :class:`~stylecloak.config.CloakSettings` overrides: L∞ 16/255, 100 steps of
1/255 along the gradient's sign; no PSNR floor, no perceptual budget, no EOT."""


def pattern(size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """The target P (1,3,h,w) in {0, 1}: rings inside each ``TILE``-px tile XOR diagonal stripes, black and white."""
    y, x = torch.meshgrid(torch.arange(size[0], device=device), torch.arange(size[1], device=device), indexing="ij")
    ty, tx = (y % TILE) - (TILE - 1) / 2, (x % TILE) - (TILE - 1) / 2
    rings = torch.cos(torch.hypot(tx, ty) * (2 * math.pi / 8)) > 0
    stripes = torch.cos((x + y).float() * (2 * math.pi / 12)) > 0
    return (rings ^ stripes).float().expand(3, -1, -1)[None].clone()


def target(image: torch.Tensor) -> torch.Tensor:
    """Ω for a view ``image`` (1,3,h,w): the pattern at the view's size."""
    return pattern(tuple(image.shape[-2:]), image.device)


def views(work: Working, settings: CloakSettings, multiple: int) -> dict[tuple[int, int], View]:
    """The mimic views of ``work`` (as :func:`~.optimiser.mimic_views`), each with :func:`target` at its size."""
    return mimic_views(work, settings, multiple, lambda image, size: target(image))
