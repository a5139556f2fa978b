"""A learned cloak cleaner: a small residual U-Net trained to map cloaked images back to their originals.

The attacker of LightShed (Foerster et al., USENIX Security 2025) and BridgePure (NeurIPS 2025): stylecloak is
open source, so anyone can cloak works of their own and learn to undo the cloaks. The network predicts a
correction added to its input, ``C(x′) = clamp(x′ + U(x′), 0, 1)``; its last convolution starts at zero, so an
untrained cleaner is the identity. Trained with Adam on the mean squared error ‖C(x′) − x‖² over random aligned
square patches of (original, cloaked) pairs (:func:`train_cleaner`); applied tile by tile (:func:`clean`).

>>> cleaner = Cleaner(width=32)
>>> log = train_cleaner(cleaner, pairs, CleanerSettings())
>>> cleaned = clean(cleaner, cloaked)  # (1,3,H,W) in [0, 1] -> the same
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..progress import Progress
from .training import train

Pair = tuple[torch.Tensor, torch.Tensor]
"""(original, cloaked), each (1,3,H,W) in [0, 1]."""


@dataclass(frozen=True)
class CleanerSettings:
    """The learned attacker's training budget: the pairs it makes with stylecloak and how long its cleaner and
    detector train (written into the audit report; the cleaner is a lower bound on what a better-funded attacker does)."""

    works: int = 4
    """Works (never the audited ones) the attacker cloaks to train on."""
    styles: int = 2
    """Target styles each work is cloaked toward, the audited one first (one for methods with a fixed target)."""
    knows_target: bool = True
    """Whether the attacker knows the audited target style (the worst case, the default). Off, it cloaks only toward
    other styles of the library, as when each artist's target style is chosen per artist and kept private; methods
    with a fixed target are always known."""
    held_out: int = 2
    """Further works cloaked toward the audited target only to test the detector."""
    pair_size: int = 256
    """Long side (px) the works are brought to before cloaking."""
    intensity: str = "default"
    """stylecloak ``--intensity`` the attacker cloaks with: the audited preset where protect recorded it."""
    quality: str = "fast"
    """stylecloak ``--quality`` the attacker cloaks with: the audited preset where protect recorded it."""
    width: int = 32
    """Channels of the U-Net's first level (×2, ×4 below): 32 gives about 0.52 M parameters."""
    steps: int = 300
    """Adam steps of the cleaner."""
    detector_steps: int = 200
    """Adam steps of the detector."""
    batch: int = 8
    """Patches per step (pairs drawn with replacement)."""
    patch: int = 64
    """Side (px) of the random aligned square patches trained on (and of the detector's test crops)."""
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        counts = (self.works, self.styles, self.held_out, self.width, self.steps, self.detector_steps, self.batch)
        if not isinstance(self.knows_target, bool):
            raise ConfigError(f"learned-cleaner setting knows_target={self.knows_target!r} must be True or False")
        if min(counts) < 1 or self.patch < 16 or self.patch % 4 or self.pair_size < self.patch or self.lr <= 0:
            raise ConfigError(
                f"bad learned-cleaner settings {self}; works, styles, held_out, width, steps, detector_steps and batch ≥ 1, "
                "16 ≤ patch ≤ pair_size with patch a multiple of 4, lr > 0"
            )


def conv(n_in: int, n_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, stride, padding=1)


def block(n_in: int, n_out: int, stride: int = 1) -> nn.Sequential:
    """Two 3×3 convolutions with leaky ReLUs (slope 0.1: no unit dies while the correction is still zero); the first may stride."""
    return nn.Sequential(conv(n_in, n_out, stride), nn.LeakyReLU(0.1), conv(n_out, n_out), nn.LeakyReLU(0.1))


class Cleaner(nn.Module):
    """Residual U-Net of three levels (``width``, 2·``width``, 4·``width`` channels): cloaked image -> cleaned image,
    both (B,3,H,W) in [0, 1], H and W multiples of :attr:`MULTIPLE`."""

    MULTIPLE = 4
    """Sides must be multiples of this (two halvings)."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.down = nn.ModuleList([block(3, w), block(w, 2 * w, 2), block(2 * w, 4 * w, 2)])
        self.up = nn.ModuleList([conv(4 * w, 2 * w), conv(2 * w, w)])
        self.merge = nn.ModuleList([block(4 * w, 2 * w), block(2 * w, w)])
        self.out = conv(w, 3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)  # type: ignore[arg-type]  # conv() makes its layers with a bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for level in self.down:
            h = level(h)
            skips.append(h)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1])):
            h = merge(torch.cat([up(F.interpolate(h, scale_factor=2.0, mode="nearest")), skip], 1))
        return (x + self.out(h)).clamp(0, 1)


def parameters(model: nn.Module) -> int:
    """How many weights ``model`` has."""
    return sum(p.numel() for p in model.parameters())


def aligned_patches(pairs: Sequence[Pair], count: int, side: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` pairs drawn with replacement, each cut to the same random square (``side`` px, or the smallest
    pair's short side rounded down to :attr:`Cleaner.MULTIPLE`) on both sides: (originals, cloaked)."""
    side = min(side, *(min(x.shape[-2:]) for x, _ in pairs)) // Cleaner.MULTIPLE * Cleaner.MULTIPLE
    xs, xps = [], []
    for i in torch.randint(len(pairs), (count,), generator=generator).tolist():
        x, xp = pairs[i]
        top = int(torch.randint(x.shape[-2] - side + 1, (1,), generator=generator))
        left = int(torch.randint(x.shape[-1] - side + 1, (1,), generator=generator))
        xs.append(x[..., top : top + side, left : left + side])
        xps.append(xp[..., top : top + side, left : left + side])
    return torch.cat(xs), torch.cat(xps)


def train_cleaner(cleaner: Cleaner, pairs: Sequence[Pair], settings: CleanerSettings, progress: Progress | None = None) -> dict:
    """Train ``cleaner`` in place on ``pairs`` (``settings.steps`` Adam steps); returns the loss log.

    ``progress`` is told (step, steps, {"loss": mean squared error of the step}) after each step.
    """
    if not pairs:
        raise ConfigError("the learned cleaner needs at least one (original, cloaked) pair to train on")
    generator = torch.Generator().manual_seed(settings.seed)
    device = next(cleaner.parameters()).device

    def step_loss() -> torch.Tensor:
        x, xp = (t.to(device) for t in aligned_patches(pairs, settings.batch, settings.patch, generator))
        return F.mse_loss(cleaner(xp), x)

    return train(cleaner, settings.steps, settings.lr, step_loss, progress, digits=7)


@torch.no_grad()
def clean(cleaner: Cleaner, x: torch.Tensor, tile: int = 512, margin: int = 32) -> torch.Tensor:
    """``cleaner`` applied to an image of any size (1,3,H,W) in [0, 1], in ``tile`` px tiles that see ``margin`` px
    of their neighbours (so no seams show), on the cleaner's device; returned on ``x``'s."""
    device = next(cleaner.parameters()).device
    h, w = x.shape[-2:]
    out = torch.empty_like(x)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            t0, l0 = max(top - margin, 0), max(left - margin, 0)
            t1, l1 = min(top + tile + margin, h), min(left + tile + margin, w)
            piece = x[..., t0:t1, l0:l1].to(device)
            ph, pw = (-piece.shape[-2]) % Cleaner.MULTIPLE, (-piece.shape[-1]) % Cleaner.MULTIPLE
            mode = "reflect" if min(piece.shape[-2:]) > max(ph, pw) else "replicate"
            cleaned = cleaner(F.pad(piece, (0, pw, 0, ph), mode=mode))
            bottom, right = min(top + tile, h), min(left + tile, w)
            out[..., top:bottom, left:right] = cleaned[..., top - t0 : bottom - t0, left - l0 : right - l0].to(x.device)
    return out
