"""The TAESD family of tiny autoencoders (taesd, taesdxl, taesd3, taef1, taef2, taesana).

Each model is an ``nn.Sequential`` whose layer order matches the published state dicts, so
``load_state_dict`` works on the upstream ``.pth`` files directly.
Encoders map images in [0, 1] to raw latents; decoders map raw latents to images in ~[0, 1].
"""

from __future__ import annotations

import torch
from torch import nn


def conv(n_in: int, n_out: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=bias)


class Clamp(nn.Module):
    """Soft clamp of raw latents to (-3, 3)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z / 3) * 3


class Block(nn.Module):
    """Residual block: three 3x3 convs with ReLU, a skip, and an optional 1x1 "pool" branch (TAEF2)."""

    def __init__(self, n_in: int, n_out: int, pool: bool = False):
        super().__init__()
        self.conv = nn.Sequential(conv(n_in, n_out), nn.ReLU(), conv(n_out, n_out), nn.ReLU(), conv(n_out, n_out))
        self.skip = nn.Conv2d(n_in, n_out, 1, bias=False) if n_in != n_out else nn.Identity()
        self.pool = (
            nn.Sequential(
                nn.Conv2d(n_in, 4 * n_in, 1, bias=False),
                nn.GroupNorm(4, 4 * n_in),
                nn.ReLU(),
                nn.Conv2d(4 * n_in, n_in, 1, bias=False),
            )
            if pool
            else None
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.relu(self.conv(x) + self.skip(x))


def _stage(n: int, pool: bool = False) -> list[nn.Module]:
    return [Block(n, n, pool=pool) for _ in range(3)]


def encoder(latent_channels: int, pool_last: bool = False) -> nn.Sequential:
    """f8 encoder: image [0, 1] (B,3,H,W) -> raw latents (B,C,H/8,W/8)."""
    return nn.Sequential(
        conv(3, 64),
        Block(64, 64),
        conv(64, 64, stride=2, bias=False),
        *_stage(64),
        conv(64, 64, stride=2, bias=False),
        *_stage(64),
        conv(64, 64, stride=2, bias=False),
        *_stage(64, pool=pool_last),
        conv(64, latent_channels),
    )


def encoder_f32(latent_channels: int) -> nn.Sequential:
    """f32 encoder (TAESana): image [0, 1] (B,3,H,W) -> raw latents (B,C,H/32,W/32)."""
    return nn.Sequential(
        conv(3, 32, stride=2),
        nn.ReLU(),
        conv(32, 64, stride=2),
        nn.ReLU(),
        Block(64, 64),
        conv(64, 64, stride=2, bias=False),
        *_stage(64),
        conv(64, 64, stride=2, bias=False),
        *_stage(64),
        conv(64, 64, stride=2, bias=False),
        *_stage(64),
        conv(64, latent_channels),
    )


def decoder(latent_channels: int, pool_first: bool = False) -> nn.Sequential:
    """f8 decoder: raw latents (B,C,h,w) -> image ~[0, 1] (B,3,8h,8w)."""
    return nn.Sequential(
        Clamp(),
        conv(latent_channels, 64),
        nn.ReLU(),
        *_stage(64, pool=pool_first),
        nn.Upsample(scale_factor=2),
        conv(64, 64, bias=False),
        *_stage(64),
        nn.Upsample(scale_factor=2),
        conv(64, 64, bias=False),
        *_stage(64),
        nn.Upsample(scale_factor=2),
        conv(64, 64, bias=False),
        Block(64, 64),
        conv(64, 3),
    )
