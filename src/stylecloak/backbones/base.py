"""The interface every backbone (latent encoder under attack) provides."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


class Backbone(nn.Module):
    """A frozen latent encoder Φ with an optional decoder.

    ``encode``: image batch (B,3,H,W) in [0, 1] -> latents (differentiable).
    ``decode``: latents -> image batch in [0, 1].
    """

    def __init__(self, name: str, encoder: nn.Module, decoder: nn.Module | None, factor: int):
        super().__init__()
        self.name = name
        self.encoder = encoder
        self.decoder = decoder
        self.factor = factor
        self.requires_grad_(False)
        self.eval()
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack memory_format; ~25 % faster convolutions on CPU, same numbers

    @property
    def device(self) -> torch.device:
        """Where the weights live (inputs must be there too)."""
        return next(self.parameters()).device

    @property
    def has_decoder(self) -> bool:
        return self.decoder is not None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.contiguous(memory_format=torch.channels_last))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.decoder is None:
            raise ConfigError(f"backbone {self.name} has no decoder; use one that has (e.g. taef2) for previews and targets")
        return self.decoder(z.contiguous(memory_format=torch.channels_last)).clamp(0, 1)
