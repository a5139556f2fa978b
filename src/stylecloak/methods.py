"""The protection methods (``--method``): what each pulls the encoder's view toward.

All three share the optimiser (:func:`stylecloak.cloak.optimise`), its caps, EOT, mimic views, progress
and determinism; a method is only its target image Ω per view:

- ``glaze`` (default): Ω(x, T), the image style-transferred toward the target style T (:mod:`stylecloak.transfer`).
- ``mist``: a fixed high-contrast pattern (:mod:`stylecloak.mist`; Mist's textural loss only).
- ``photoguard``: a flat grey image (:mod:`stylecloak.photoguard`; PhotoGuard's encoder attack).

With the same ``--intensity`` all run at the same visibility (PSNR floor, L∞ cap, perceptual budget);
each module's ``PUBLISHED`` holds that method's own published budget as CloakSettings overrides.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from . import mist, photoguard
from .errors import ConfigError

GLAZE = "glaze"
METHODS: tuple[str, ...] = (GLAZE, mist.NAME, photoguard.NAME)
_FIXED: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor], dict]] = {
    m.NAME: (m.TARGET, m.target, m.PUBLISHED) for m in (mist, photoguard)
}


def check_method(name: str) -> str:
    """``name`` if it is a known method, else a :class:`ConfigError` naming the choices."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return name


def uses_style(method: str) -> bool:
    """Whether the method aims at a target style (only glaze; the others draw a fixed target)."""
    return check_method(method) == GLAZE


def target_name(method: str) -> str | None:
    """The fixed target's recorded name (``mist-pattern``, ``flat-grey``); None for glaze (the style's name)."""
    return _FIXED[method][0] if not uses_style(method) else None


def fixed_target(method: str, image: torch.Tensor) -> torch.Tensor:
    """Ω of a fixed-target method for a view ``image`` (1,3,h,w), same shape."""
    if uses_style(method):
        raise ConfigError("glaze's target is the style transfer of the image; it has no fixed target")
    return _FIXED[method][1](image)


def published_budget(method: str) -> dict:
    """The method's own published budget as CloakSettings overrides (glaze: none, its default preset is ours)."""
    return {} if uses_style(method) else dict(_FIXED[method][2])
