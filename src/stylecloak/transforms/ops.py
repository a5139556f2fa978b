"""Differentiable image operations, for Expectation over Transformation during cloak optimisation.

Every function takes and returns float tensors of shape (B, 3, H, W) with values in [0, 1]; outputs keep
the input's shape, dtype and device, and gradients flow back to the input (JPEG rounding straight-through).
The input checks are shared with :mod:`.countermeasures` and :mod:`.eot`.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from stylecloak.errors import ConfigError, ImageError


def check_int(name: str, value: object, minimum: int, maximum: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        bound = f">= {minimum}" if maximum == math.inf else f"in [{minimum}, {maximum:g}]"
        raise ConfigError(f"{name} must be an int {bound}, got {value!r}")


def check_image(x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ImageError(f"expected a float tensor of shape (B, 3, H, W), got {shape}")
    if not x.is_floating_point():
        raise ImageError(f"expected a float tensor with values in [0, 1], got dtype {x.dtype}")


def check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise ConfigError(f"{name} must be (lo, hi) with {low} <= lo <= hi <= {high}, got {value!r}")


def gaussian_noise(x: Tensor, sigma: float, seed: int) -> Tensor:
    """Add N(0, sigma²) noise (sigma ≥ 0, in [0,1] units) drawn from ``seed``; clamp to [0, 1].

    Differentiable with respect to ``x`` (where not clamped).
    """
    check_image(x)
    if not sigma >= 0:
        raise ConfigError(f"noise sigma must be >= 0, got {sigma!r}")
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float32)
    return (x + sigma * noise.to(device=x.device, dtype=x.dtype)).clamp(0, 1)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur with std ``sigma`` > 0 px (radius ceil(3·sigma), edge replicated).

    Differentiable with respect to ``x``.
    """
    check_image(x)
    if not sigma > 0:
        raise ConfigError(f"blur sigma must be > 0, got {sigma!r}")
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    horiz = kernel.view(1, 1, 1, -1).expand(3, 1, 1, -1)
    vert = kernel.view(1, 1, -1, 1).expand(3, 1, -1, 1)
    return F.conv2d(F.conv2d(padded, horiz, groups=3), vert, groups=3)


_LUMA_TABLE = torch.tensor(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=torch.float64,
)
_CHROMA_TABLE = torch.full((8, 8), 99.0, dtype=torch.float64)
_CHROMA_TABLE[:4, :4] = torch.tensor(
    [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]],
    dtype=torch.float64,
)
_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ],
    dtype=torch.float64,
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_DCT = torch.tensor(
    [[math.sqrt((1 if k == 0 else 2) / 8) * math.cos((2 * n + 1) * k * math.pi / 16) for n in range(8)] for k in range(8)],
    dtype=torch.float64,
)


def _quant_table(base: Tensor, quality: float) -> Tensor:
    """IJG table ``base`` scaled for ``quality`` in [1, 100] as libjpeg does (baseline, ≤ 255)."""
    scale = math.floor(5000 / quality) if quality < 50 else 200 - 2 * quality
    return torch.floor((base * scale + 50) / 100).clamp(1, 255)


def _color(x: Tensor, matrix: Tensor) -> Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), x)


def _quantise_blocks(plane: Tensor, table: Tensor) -> Tensor:
    """DCT-quantise-dequantise-IDCT each 8x8 block of (B,C,H,W) ``plane`` (H, W multiples of 8)."""
    b, c, h, w = plane.shape
    blocks = plane.reshape(b, c, h // 8, 8, w // 8, 8).transpose(3, 4)
    dct = _DCT.to(plane)
    coef = dct @ blocks @ dct.T / table.to(plane)
    coef = coef + (torch.round(coef) - coef).detach()  # straight-through rounding
    blocks = dct.T @ (coef * table.to(plane)) @ dct
    return blocks.transpose(3, 4).reshape(b, c, h, w)


def diff_jpeg(x: Tensor, quality: float) -> Tensor:
    """Differentiable approximation of a 4:2:0 baseline JPEG round trip at ``quality`` in [1, 100].

    Forward pass: YCbCr, 2x2 chroma averaging, 8x8 DCT, quantisation with the IJG
    tables scaled as libjpeg does, exact rounding, then the inverse chain with
    bilinear chroma upsampling. Rounding uses a straight-through gradient.
    """
    check_image(x)
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in [1, 100], got {quality!r}")
    h, w = x.shape[-2:]
    padded = F.pad(x, (0, -w % 16, 0, -h % 16), mode="replicate")
    ycc = _color(padded * 255, _RGB_TO_YCBCR)
    luma = _quantise_blocks(ycc[:, :1] - 128, _quant_table(_LUMA_TABLE, quality))
    chroma = F.avg_pool2d(ycc[:, 1:], 2)  # already centred on 0: the JPEG level shift
    chroma = _quantise_blocks(chroma, _quant_table(_CHROMA_TABLE, quality))
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    rgb = _color(torch.cat([luma, chroma], dim=1), _YCBCR_TO_RGB) + 128
    return (rgb[..., :h, :w] / 255).clamp(0, 1)


def diff_resize(x: Tensor, size: tuple[int, int], mode: Literal["bilinear", "bicubic"] = "bilinear") -> Tensor:
    """Antialiased differentiable resize to ``size`` = (H, W) px; bicubic output is clamped."""
    check_image(x)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"resize size must be two positive ints (H, W), got {size!r}")
    if mode not in ("bilinear", "bicubic"):
        raise ConfigError(f"resize mode must be 'bilinear' or 'bicubic', got {mode!r}")
    out = F.interpolate(x, size=tuple(size), mode=mode, align_corners=False, antialias=True)
    return out.clamp(0, 1) if mode == "bicubic" else out


def shift(x: Tensor, dy: int, dx: int) -> Tensor:
    """Translate content by (dy, dx) px with reflect padding; same size output."""
    pad = max(abs(dy), abs(dx))
    if pad == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    return padded[..., pad - dy : pad - dy + h, pad - dx : pad - dx + w]
