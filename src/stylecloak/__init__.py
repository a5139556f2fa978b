"""stylecloak: protect artwork from AI style mimicry with Glaze-style cloaks.

Data flow, one folder per stage: io (load) → geometry (working copy, views) → styles (target Ω) → backbones (Φ) → cloak (δ)
→ io (save; batch, engines) → audit.
"""

from __future__ import annotations

from .errors import ConfigError, ImageError, StylecloakError, WeightsError
from .version import __version__

_LAZY = {"Protector": "api", "ProtectResult": "api", "protect": "api", "ProtectSettings": "config", "cloak_settings": "config"}
"""Public names whose modules import torch: loaded on first use, so ``stylecloak --help`` starts fast."""


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "ImageError",
    "ProtectResult",
    "ProtectSettings",
    "Protector",
    "StylecloakError",
    "WeightsError",
    "__version__",
    "cloak_settings",
    "protect",
]
