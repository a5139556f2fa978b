"""How well an image can be protected, in plain words, before and after protecting.

A cloak needs places to hide: edges and texture mask a change, flat areas (white paper, flat fills, soft
gradients) show it, so the perceptual budget runs out early there. :func:`assess` measures the share of the
image with local contrast (``texture``, from :func:`~stylecloak.visibility.masking_map`) and turns it into an
expected target progress per intensity; :func:`advice` words it, with the measured TP once the image is
protected. The expectation is a straight line per intensity fitted to ``bench/styles_report.py`` (README,
"Hard styles"); the measured TP always decides the words after protecting.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .geometry import Working
from .visibility import masking_map

WEAK = 0.25
"""Below this target progress protection is called weak and the artist is warned."""

EXPECTED: dict[str, tuple[float, float]] = {"default": (0.403, 0.025), "high": (0.293, 0.185)}
"""Per intensity, (a, b) of the expected TP ≈ a + b · texture: least squares over the rows of
``bench/results/styles_report-256.json`` (11 images at default, mean absolute error 0.056; 4 at high, 0.097).
Since the grain and the clamp-aware projection, texture barely predicts TP at 256 px (correlation 0.10 at
default): the expectation is close to the mean and rarely warns; the measured TP decides after protecting."""

STRONGER = {"low": "default", "default": "high"}
"""The next intensity to suggest."""

SIDE = 512
"""Texture is measured with the image at this long side (as the smallest mimic sees it)."""


@dataclass(frozen=True)
class Assessment:
    """Cheap statistics of one image and what they predict."""

    texture: float
    """Share of the image (0-1) with edges or texture near enough to hide a change."""

    def expected(self, intensity: str = "default") -> float | None:
        """Expected target progress at ``intensity`` (None where that intensity was not calibrated)."""
        if intensity not in EXPECTED:
            return None
        a, b = EXPECTED[intensity]
        return max(0.0, a + b * self.texture)

    def warnings(self, intensity: str = "default") -> list[str]:
        """Before protecting: a plain-words warning when protection is expected to be weak."""
        expected = self.expected(intensity)
        if expected is None or expected >= WEAK:
            return []
        return [f"{self._why()}: expect weak protection (TP ~{expected:.2f}){self._stronger(intensity)}"]

    def _why(self) -> str:
        return f"little texture ({self.texture:.0%} of the image has edges or texture to hide the cloak in)"

    def _stronger(self, intensity: str) -> str:
        nxt = STRONGER.get(intensity)
        there = self.expected(nxt) if nxt else None
        return f"; --intensity {nxt} gives ~{there:.2f}" if there is not None else f"; try --intensity {nxt}" if nxt else ""


def assess(image: torch.Tensor) -> Assessment:
    """Assess a (1,3,H,W) image in [0, 1] (any size; measured at :data:`SIDE` px long side)."""
    x = Working.of(image, SIDE, 1).image
    return Assessment(texture=round(float(masking_map(x, 0.0).mean()), 4))


def advice(assessment: Assessment, target_progress: float, intensity: str = "default") -> list[str]:
    """After protecting: a warning when the measured TP (worst mimic size) is weak, with the likely cause and the
    next intensity's expected TP (the measured TP scaled by the ratio of the two expectations)."""
    if target_progress >= WEAK:
        return []
    here = assessment.expected(intensity)
    cause = assessment._why() if here is not None and here < WEAK else "this image resists the cloak (flat colour and clean lines often do)"
    text = f"weak protection: the AI model's view moved only {max(target_progress, 0):.0%} of the way to the target style (TP {target_progress:.2f}); {cause}"
    nxt = STRONGER.get(intensity)
    if nxt:
        there = assessment.expected(nxt)
        gain = there / here if here is not None and there is not None and here > 0.02 else None
        if gain is None:
            text += f"; try --intensity {nxt}"
        else:
            verdict = "gives" if gain >= 1.1 else "is not expected to help much:"
            text += f"; --intensity {nxt} {verdict} ~{max(target_progress, 0) * gain:.2f}"
    else:
        text += "; this is the strongest preset"
    return [text]
