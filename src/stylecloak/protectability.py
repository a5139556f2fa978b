"""How well an image can be protected, in plain words, before and after protecting.

Before protecting, a quick trial cloak tells: :data:`PILOT` steps of the fast preset on a small copy (about
2 s on a laptop CPU, :meth:`stylecloak.api.Protector.estimate`). The target progress it reaches predicts the
full cloak's along a straight line per intensity, fitted on ``bench/styles_report.py``'s rows by
``bench/fit_estimate.py`` (docs/decisions/0006-estimate-from-a-trial-cloak.md). After protecting, the measured TP decides the words.
The cause named is texture: a cloak needs places to hide, and edges and texture mask a change while flat
areas show it (:func:`assess`, from :func:`~stylecloak.visibility.masking_map`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .geometry import Working
from .verdict import MODERATE
from .visibility import masking_map

PILOT = {"steps": 8, "work_size": 128, "view_sizes": (), "eot": None}
"""The trial cloak: the fast preset's settings at the default intensity with these overrides."""

EXPECTED = (0.3099, 0.2749, -0.0605)
"""(a, b, c) of the TP expected at the default intensity ≈ a + b · the trial's TP + c · log2(long side / 512), the long
side clamped to :data:`SIDES`: least squares over the bench rows (``python bench/fit_estimate.py``;
docs/decisions/0006-estimate-from-a-trial-cloak.md gives the rows, the correlation and the error). Larger images are harder to protect within the budget."""

SIDES = (256, 1024)
"""The long sides (px) the size term is clamped to: the bench measured 256 and 768 px, mimics train up to 1024."""

GAIN: dict[str, float] = {"high": 0.038}
"""Mean change of the measured TP from the default intensity to this one, over the bench rows that have both."""

LITTLE_TEXTURE = 0.5
"""Below this share of textured area the warning names little texture as the likely cause."""

STRONGER = {"low": "default", "default": "high"}
"""The next intensity to suggest."""

SIDE = 512
"""Texture is measured with the image at this long side (as the smallest mimic sees it)."""


@dataclass(frozen=True)
class Assessment:
    """What is known of an image before protecting it, and what that predicts."""

    texture: float
    """Share of the image (0-1) with edges or texture near enough to hide a change."""
    pilot: float | None = None
    """Target progress of the trial cloak (:data:`PILOT`); None where it was not run."""
    side: int = 512
    """The image's long side (px)."""

    def expected(self, intensity: str = "default") -> float | None:
        """Expected target progress at ``intensity`` (None without a trial or where that intensity was not calibrated)."""
        if self.pilot is None or (intensity != "default" and intensity not in GAIN):
            return None
        a, b, c = EXPECTED
        return max(0.0, a + b * self.pilot + c * size_term(self.side) + GAIN.get(intensity, 0.0))

    def warnings(self, intensity: str = "default") -> list[str]:
        """Before protecting: a plain-words warning when protection is expected to be weak."""
        expected = self.expected(intensity)
        if expected is None or expected >= MODERATE:
            return []
        return [f"expect weak protection (TP ~{expected:.2f}, from a quick trial cloak); {self.cause()}{_stronger(intensity, expected)}"]

    def cause(self) -> str:
        """The likely reason for weak protection, in plain words."""
        if self.texture < LITTLE_TEXTURE:
            return f"little texture ({self.texture:.0%} of the image has edges or texture to hide the cloak in)"
        return "this image resists the cloak (flat colour and clean lines often do)"


def _stronger(intensity: str, here: float) -> str:
    """The next intensity to try and, where calibrated, the TP expected there for an image at ``here``."""
    nxt = STRONGER.get(intensity)
    if nxt is None:
        return "; this is the strongest preset"
    if intensity != "default" or nxt not in GAIN:
        return f"; try --intensity {nxt}"
    gain = GAIN[nxt]
    return f"; --intensity {nxt} {'gives' if gain >= 0.05 else 'is not expected to help much:'} ~{max(here + gain, 0):.2f}"


def size_term(side: int) -> float:
    """log2(long side / 512), the side clamped to :data:`SIDES`."""
    return math.log2(min(max(side, SIDES[0]), SIDES[1]) / 512)


def assess(image: torch.Tensor) -> Assessment:
    """Texture of a (1,3,H,W) image in [0, 1] (any size; measured at :data:`SIDE` px long side); no trial."""
    x = Working.of(image, SIDE, 1).image
    return Assessment(texture=round(float(masking_map(x, 0.0).mean()), 4), side=max(image.shape[-2:]))


def advice(assessment: Assessment, target_progress: float, intensity: str = "default") -> list[str]:
    """After protecting: a warning when the measured TP (worst mimic size) is weak, with the likely cause and what
    the next intensity is expected to give for an image that reached this TP."""
    if target_progress >= MODERATE:
        return []
    text = f"weak protection: the AI model's view moved only {max(target_progress, 0):.0%} of the way to the target style (TP {target_progress:.2f}); {assessment.cause()}"
    return [text + _stronger(intensity, max(target_progress, 0.0))]
