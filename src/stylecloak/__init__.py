"""stylecloak: protect artwork from AI style mimicry with Glaze-style cloaks.

Data flow, one folder per stage: io (load) → geometry (working copy, views) → styles (target Ω) → backbones (Φ) → cloak (δ)
→ io (save; batch, engines) → audit.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stylecloak")  # the one source: pyproject.toml, through the installed metadata
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

from .api import Protector, ProtectResult, protect
from .config import ProtectSettings, cloak_settings
from .errors import ConfigError, ImageError, StylecloakError, WeightsError

__all__ = [
    "ConfigError",
    "ImageError",
    "ProtectResult",
    "ProtectSettings",
    "Protector",
    "StylecloakError",
    "WeightsError",
    "cloak_settings",
    "protect",
]
