"""The protection methods by name (``--method``): what each pulls the encoder's view toward.

All share the optimiser (:mod:`.optimiser`), its caps, EOT, mimic views, progress and determinism; a
method is only its target image per view:

- ``glaze`` (default, :mod:`.glaze`): Ω(x, T), the image style-transferred toward the target style T.
- ``mist`` (:mod:`.mist`): a fixed high-contrast pattern (Mist's textural loss only).
- ``photoguard`` (:mod:`.photoguard`): a flat grey image (PhotoGuard's encoder attack).

With the same ``--intensity`` all run at the same visibility (PSNR floor, L∞ cap, perceptual budget);
each fixed-target module's ``PUBLISHED`` holds that method's own published budget as CloakSettings overrides.
"""

from __future__ import annotations

import torch

from ..config import GLAZE, METHODS, CloakSettings, check_method
from ..errors import ConfigError
from ..geometry import Working
from . import glaze, mist, photoguard
from .optimiser import View

_FIXED = {m.METHOD: m for m in (mist, photoguard)}
MODULES = {glaze.METHOD: glaze, **_FIXED}
"""Every method's module, by name (the same names as :data:`stylecloak.config.METHODS`)."""

__all__ = ["GLAZE", "METHODS", "MODULES", "check_method", "fixed_target", "fixed_views", "published_budget", "target_name", "uses_style"]


def uses_style(method: str) -> bool:
    """Whether the method aims at a target style (only glaze; the others draw a fixed target)."""
    return check_method(method) == GLAZE


def target_name(method: str) -> str | None:
    """The fixed target's recorded name (``mist-pattern``, ``flat-grey``); None for glaze (the style's name)."""
    return None if uses_style(method) else _FIXED[method].TARGET


def fixed_target(method: str, image: torch.Tensor) -> torch.Tensor:
    """The target image of a fixed-target method for a view ``image`` (1,3,h,w), same shape."""
    if uses_style(method):
        raise ConfigError("glaze's target is the style transfer of the image; it has no fixed target")
    return _FIXED[method].target(image)


def fixed_views(method: str, work: Working, settings: CloakSettings, multiple: int) -> dict[tuple[int, int], View]:
    """The mimic views of ``work`` with a fixed-target method's target at each size."""
    if uses_style(method):
        raise ConfigError("glaze's views need the target style: use glaze_views")
    return _FIXED[method].views(work, settings, multiple)


def published_budget(method: str) -> dict:
    """The method's own published budget as CloakSettings overrides (glaze: none, its default preset is ours)."""
    return {} if uses_style(method) else dict(_FIXED[method].PUBLISHED)
