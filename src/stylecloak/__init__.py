"""stylecloak: protect artwork from AI style mimicry with Glaze-style cloaks.

Data flow, one folder per stage: io (load) → geometry (working copy, views) → styles (target Ω) → backbones (Φ) → cloak (δ)
→ io (save; batch, engines) → audit.
"""

from __future__ import annotations

from .api import Protector, ProtectResult, protect
from .config import ProtectSettings, cloak_settings
from .errors import ConfigError, ImageError, StylecloakError, WeightsError
from .version import __version__

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
