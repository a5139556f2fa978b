"""Registry of backbones: the latent encoders a cloak is optimised against.

>>> bb = load_backbone("taef2", weights_dir="../shared/models")
>>> z = bb.encode(torch.rand(1, 3, 64, 64))   # (1, 32, 8, 8)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError, WeightsError
from . import taesd
from .base import Backbone
from .families import FAMILIES, backbones_for
from .latents import encode_all, target_progress
from .weights import DownloadProgress, resolve


@dataclass(frozen=True)
class TinySpec:
    """A TAESD-family model: latent channels, downscale factor and architecture switches."""

    latent_channels: int
    factor: int = 8
    taef2_pool: bool = False
    has_decoder: bool = True


TINY: dict[str, TinySpec] = {
    "taesd": TinySpec(4),
    "taesdxl": TinySpec(4),
    "taesd3": TinySpec(16),
    "taef1": TinySpec(16),
    "taef2": TinySpec(32, taef2_pool=True),
    "taesana": TinySpec(32, factor=32, has_decoder=False),
}
"""taesana is loaded encoder-only: it is the audit's transfer encoder, which needs no decoder (the pinned upstream
commit also publishes a TAESana decoder; its architecture is not written here)."""

DEFAULT_BACKBONE = "taef2"

_cache: dict[tuple[str, str, str], Backbone] = {}


def load_backbone(
    name: str = DEFAULT_BACKBONE,
    *,
    weights_dir: str | Path | None = None,
    decoder: bool = True,
    progress: DownloadProgress | None = None,
    device: torch.device | str = "cpu",
) -> Backbone:
    """Load a backbone by name onto ``device``, resolving its weights (folder -> cache -> download).

    ``name`` is a TAESD-family name or ``diffusers:<hub id or local folder>`` for any AutoencoderKL.
    Loaded models are cached per process and device.
    """
    key = (name, str(weights_dir or ""), str(torch.device(device)))
    if key not in _cache:
        _cache[key] = _load(name, weights_dir, decoder, progress).to(device)
    return _cache[key]


def _load(name: str, weights_dir: str | Path | None, want_decoder: bool, progress: DownloadProgress | None) -> Backbone:
    if name.startswith("diffusers:"):
        from .diffusers_vae import load_diffusers_vae

        return load_diffusers_vae(name.removeprefix("diffusers:"))
    spec = TINY.get(name)
    if spec is None:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(TINY)} or diffusers:<id or folder>")
    enc = taesd.encoder_f32(spec.latent_channels) if spec.factor == 32 else taesd.encoder(spec.latent_channels, spec.taef2_pool)
    _load_state(enc, resolve(f"{name}_encoder.pth", weights_dir, progress))
    dec = None
    if spec.has_decoder and want_decoder:
        dec = taesd.decoder(spec.latent_channels, spec.taef2_pool)
        _load_state(dec, resolve(f"{name}_decoder.pth", weights_dir, progress))
    return Backbone(name, enc, dec, spec.factor)


def _load_state(module: torch.nn.Module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict({k: v.float() for k, v in state.items()})
    except (RuntimeError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a valid weight file for this model ({exc.__class__.__name__}); delete it and run again") from exc


__all__ = ["DEFAULT_BACKBONE", "FAMILIES", "TINY", "backbones_for", "Backbone", "encode_all", "load_backbone", "target_progress"]
