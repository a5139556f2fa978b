"""A learned cloak detector: a small CNN that tells cloaked crops from clean ones.

The second half of the learned attacker (:mod:`.cleaner`): a scraper that can spot cloaked works can drop them,
or clean only those. Trained with Adam on the binary cross-entropy of random aligned patches of (original,
cloaked) pairs, clean labelled 0 and cloaked 1 (:func:`train_detector`); tested on random crops at the same
places of both sides of pairs it never saw (:func:`crop_scores`), scored by :func:`~.roc.separation`.

>>> detector = Detector()
>>> train_detector(detector, pairs, CleanerSettings())
>>> cloaked_scores, clean_scores = crop_scores(detector, x, xp, count=17, side=64, generator=torch.Generator())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..geometry import Working
from ..progress import Progress
from .cleaner import CleanerSettings, Pair, aligned_patches, conv
from .roc import Scores, separation
from .training import train


class Detector(nn.Module):
    """Crops (B,3,H,W) in [0, 1], any side ≥ 8 px -> logits (B,) that the crop is cloaked.

    It looks at the crop's high frequencies (the crop less its 3×3 local mean, ×10), where cloaks live and
    picture content is weak, through four convolutions and a global mean."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        layers = [conv(3, w), nn.ReLU(), conv(w, 2 * w, 2), nn.ReLU(), conv(2 * w, 4 * w, 2), nn.ReLU(), conv(4 * w, 4 * w, 2), nn.ReLU()]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = 10 * (x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        return self.head(self.features(residual))[:, 0]


def train_detector(detector: Detector, pairs: Sequence[Pair], settings: CleanerSettings, progress: Progress | None = None) -> dict:
    """Train ``detector`` in place on ``pairs`` (``settings.detector_steps`` steps of ``settings.batch`` pairs, both
    sides); ``progress`` is told (step, steps, {"loss": …}) after each; returns the loss log."""
    if not pairs:
        raise ConfigError("the learned detector needs at least one (original, cloaked) pair to train on")
    generator = torch.Generator().manual_seed(settings.seed + 1)
    device = next(detector.parameters()).device
    labels = torch.cat([torch.zeros(settings.batch), torch.ones(settings.batch)]).to(device)

    def step_loss() -> torch.Tensor:
        x, xp = aligned_patches(pairs, settings.batch, settings.patch, generator)
        return F.binary_cross_entropy_with_logits(detector(torch.cat([x, xp]).to(device)), labels)

    return train(detector, settings.detector_steps, settings.lr, step_loss, progress, digits=5)


@torch.no_grad()
def crop_scores(detector: Detector, x: torch.Tensor, xp: torch.Tensor, count: int, side: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The detector's scores of ``count`` random square crops (``side`` px, at most the image's short side) at the
    same places of cloaked ``xp`` and original ``x``: (cloaked scores, clean scores)."""
    device = next(detector.parameters()).device
    side = min(side, *x.shape[-2:])
    tops = torch.randint(x.shape[-2] - side + 1, (count,), generator=generator).tolist()
    lefts = torch.randint(x.shape[-1] - side + 1, (count,), generator=generator).tolist()

    def scores(image: torch.Tensor) -> np.ndarray:
        crops = torch.cat([image[..., t : t + side, s : s + side] for t, s in zip(tops, lefts)])
        return detector(crops.to(device)).float().cpu().numpy()

    return scores(xp), scores(x)


MIN_NEGATIVES = 100
"""Clean crops a detection test scores at least (with every pair it expects), so that 1 % FPR is one crop."""


@dataclass
class Detection:
    """A detection test: each pair's crops scored as saved and brought to each mimic size (never enlarged), grouped
    by pair for the bootstrap. ``expected`` pairs share :data:`MIN_NEGATIVES` clean crops per view."""

    detector: Detector
    expected: int
    sizes: Sequence[int]
    train_pairs: int
    side: int
    seed: int = 0
    groups: dict[str, list[Scores]] = field(default_factory=dict)
    """View ("full", or a mimic size) -> (cloaked scores, clean scores) per pair."""

    def add(self, x: torch.Tensor, xp: torch.Tensor) -> None:
        """Score an (original, cloaked) pair's crops in every view, each (1,3,H,W) in [0, 1]."""
        count = -(-MIN_NEGATIVES // max(self.expected, 1))
        generator = torch.Generator().manual_seed(self.seed + len(self.groups.get("full", ())))
        views = {"full": (x, xp), **{str(s): tuple(Working.of(t, s, 1).image for t in (x, xp)) for s in sorted(set(self.sizes))}}
        for view, (a, b) in views.items():
            self.groups.setdefault(view, []).append(crop_scores(self.detector, a, b, count, self.side, generator))

    def block(self) -> dict:
        """The report's ``detection``: AUC and TPR at 1 % FPR (with 95 % bootstrap intervals over pairs) as saved,
        the pairs and crops behind them, and the same per mimic size."""
        full = separation(self.groups["full"], self.seed)
        by_size = {view: separation(groups, self.seed) for view, groups in self.groups.items() if view != "full"}
        return {
            **{k: full[k] for k in ("auc", "auc_ci", "tpr_at_1pct_fpr", "tpr_ci")},
            "train_pairs": self.train_pairs,
            "test_pairs": len(self.groups["full"]),
            "negatives": full["negatives"],
            "by_size": by_size,
        }
