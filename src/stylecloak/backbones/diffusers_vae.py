"""Adapter for any diffusers ``AutoencoderKL`` (Hub id or local folder); needs the ``diffusers`` extra."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, WeightsError
from .base import Backbone


class _Encode(nn.Module):
    def __init__(self, vae: Any):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] image -> latent mean (unscaled)."""
        return self.vae.encode(x * 2 - 1).latent_dist.mean


class _Decode(nn.Module):
    def __init__(self, vae: Any):
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> [0, 1] image."""
        return (self.vae.decode(z).sample + 1) / 2


def from_vae(name: str, vae: Any) -> Backbone:
    """Wrap an instantiated AutoencoderKL."""
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    return Backbone(name, _Encode(vae), _Decode(vae), factor)


def load_diffusers_vae(source: str) -> Backbone:
    """Load an AutoencoderKL from a Hub id (honours HF_HUB_OFFLINE) or a local folder."""
    try:
        from diffusers import AutoencoderKL
    except ImportError as exc:
        raise ConfigError("the diffusers backbone needs the extra: pip install 'stylecloak[diffusers]'") from exc
    try:
        vae = AutoencoderKL.from_pretrained(source, subfolder=None)
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{source}: cannot load an AutoencoderKL ({exc}); give a local folder with config.json and weights") from exc
    return from_vae(f"diffusers:{source}", vae.float())
