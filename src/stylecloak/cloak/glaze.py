"""Glaze (Shan et al., USENIX Security 2023): each mimic view's target is the image re-rendered in the target
style, Ω(x, T) (:func:`~stylecloak.styles.style_transfer`); :func:`~.optimiser.optimise` does the rest."""

from __future__ import annotations

import torch

from ..backbones import Backbone, encode_all
from ..config import CloakSettings
from ..geometry import Working
from ..styles import LatentStats, style_transfer
from .optimiser import View, mimic_views

METHOD = "glaze"
"""The method's name, recorded with every output."""


def glaze_views(
    renderer: Backbone, work: Working, style: LatentStats, settings: CloakSettings, strength: float, multiple: int
) -> dict[tuple[int, int], View]:
    """The mimic views of ``work`` (one per distinct size of ``settings.view_sizes``, or the working image itself),
    each with Ω(x, T) rendered by ``renderer`` at that size, by (h, w)."""
    z_work = encode_all([renderer], work.image)[0]

    def omega(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return style_transfer(renderer, image, style, strength, z_work if size == work.size else None)

    return mimic_views(work, settings, multiple, omega)
