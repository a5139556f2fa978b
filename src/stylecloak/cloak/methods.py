"""The protection methods by name (``--method``): the one registry.

All share the optimiser (:mod:`.optimiser`), its caps, EOT, mimic views, progress and determinism; a
method (:class:`~.base.Method`) is only its target image per view:

- ``glaze`` (default, :mod:`.glaze`): Ω(x, T), the image style-transferred toward the target style T.
- ``mist`` (:mod:`.mist`): a fixed high-contrast pattern (Mist's textural loss only).
- ``photoguard`` (:mod:`.photoguard`): a flat grey image (PhotoGuard's encoder attack).

With the same ``--intensity`` all run at the same visibility (PSNR floor, L∞ cap, perceptual budget);
each method's ``published`` holds its own published budget as CloakSettings overrides.

>>> get_method("mist").target_label(None)
'mist-pattern'
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import Method
from .glaze import Glaze
from .mist import Mist
from .photoguard import PhotoGuard

METHODS: dict[str, Method] = {m.name: m for m in (Glaze(), Mist(), PhotoGuard())}
"""Every method, by name; the first is the default."""


def get_method(name: str) -> Method:
    """The method called ``name``, else a :class:`ConfigError` naming the choices."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]
