"""Model families a cloak can be made against (``--against``): each named by the tiny encoder of its latent space.

>>> backbones_for(["sdxl", "flux2"])
('taesdxl', 'taef2')
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from .weights import find_local

FAMILIES: dict[str, str] = {"flux2": "taef2", "flux1": "taef1", "sdxl": "taesdxl", "sd15": "taesd", "sd3": "taesd3"}
"""Model family → the TAESD-family encoder (:data:`~stylecloak.backbones.TINY`) of its latent space."""


def backbones_for(families: Iterable[str]) -> tuple[str, ...]:
    """The backbones of ``families`` (in order, each once); an unknown family is a :class:`ConfigError`."""
    names = []
    for family in families:
        if family not in FAMILIES:
            raise ConfigError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
        if FAMILIES[family] not in names:
            names.append(FAMILIES[family])
    if not names:
        raise ConfigError(f"no model family given; name one or more of {', '.join(FAMILIES)}")
    return tuple(names)


def present(family: str, weights_dir: str | Path | None = None) -> bool:
    """Whether ``family``'s encoder weights are on this machine (a folder, the package or the cache): usable
    without a download."""
    return find_local(f"{backbones_for([family])[0]}_encoder.pth", weights_dir) is not None


def measurable(families: Iterable[str], weights_dir: str | Path | None = None) -> tuple[tuple[str, ...], list[str]]:
    """The encoders of those of ``families`` whose weights are here (:func:`present`), and one line for each other
    family saying it was not measured."""
    here, absent = [], []
    for family in families:
        name = backbones_for([family])[0]
        if present(family, weights_dir):
            here.append(name)
        else:
            absent.append(f"{family} ({name}): not measured (weights absent; put {name}_encoder.pth into the folder STYLECLOAK_WEIGHTS names to measure it)")
    return tuple(dict.fromkeys(here)), absent
