"""Glaze (Shan et al., USENIX Security 2023): each mimic view's target is the image re-rendered in the target
style, Ω(x, T) (:func:`~stylecloak.styles.style_transfer`); :func:`~.optimiser.optimise` does the rest."""

from __future__ import annotations

from ..backbones import Backbone, encode_all
from ..config import CloakSettings
from ..geometry import Working, long_side_size, view_of
from ..styles import LatentStats, style_transfer
from .optimiser import View

METHOD = "glaze"
"""The method's name, recorded with every output."""


def glaze_views(
    renderer: Backbone, work: Working, style: LatentStats, settings: CloakSettings, strength: float, multiple: int
) -> dict[tuple[int, int], View]:
    """The mimic views of ``work`` (one per distinct size of ``settings.view_sizes``, or the working image itself),
    each with Ω(x, T) rendered by ``renderer`` at that size, by (h, w)."""
    z_work = encode_all([renderer], work.image)[0]
    views: dict[tuple[int, int], View] = {}
    for long_side in settings.view_sizes or (None,):
        size = long_side_size(work.size, long_side)
        if size not in views:
            image = view_of(work.image, work.size, size, multiple)
            omega = style_transfer(renderer, image, style, strength, z_work if size == work.size else None)
            views[size] = View(size, omega, _weight(settings, long_side))
    return views


def _weight(settings: CloakSettings, long_side: int | None) -> float:
    if settings.view_weights is None or long_side is None:
        return 1.0
    return settings.view_weights[settings.view_sizes.index(long_side)]
