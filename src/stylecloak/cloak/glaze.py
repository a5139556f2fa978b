"""Glaze (Shan et al., USENIX Security 2023): each mimic view's target is the image re-rendered in the target
style, Ω(x, T) (:func:`~stylecloak.styles.style_transfer`); :func:`~.optimiser.optimise` does the rest."""

from __future__ import annotations

from typing import ClassVar

import torch

from ..backbones import Backbone, encode_all
from ..errors import ConfigError
from ..geometry import Working
from ..styles import Style, get_style, style_stats, style_transfer
from .base import Method, StyleTarget, Target


class Glaze(Method):
    """Ω(x, T) per view: the view style-transferred toward the target style T (the default method).

    >>> target = Glaze().aim(renderer, "cubist-facets", styles)   # target(view image, (h, w)) -> Ω
    """

    name: ClassVar[str] = "glaze"
    summary: ClassVar[str] = "pull the model's view toward the target style (the default)"
    needs_style: ClassVar[bool] = True
    calibrated: ClassVar[bool] = True

    def aim(self, renderer: Backbone, style: str | None, styles: dict[str, Style], strength: float = 1.0, work: Working | None = None) -> Target:
        if style is None:
            raise ConfigError("glaze needs a target style; pass one (e.g. --style cubist-facets) or let the artist profile choose")
        chosen = get_style(style, styles)
        stats = style_stats(renderer, chosen)
        z_work = encode_all([renderer], work.image)[0] if work is not None else None

        def omega(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
            return style_transfer(renderer, image, stats, strength, z_work if work is not None and size == work.size else None)

        return StyleTarget(omega, chosen)
