"""Expectation over Transformation: a random, differentiable chain a mimic's pipeline might apply."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stylecloak.errors import ConfigError

from .ops import (
    check_image,
    check_int,
    check_range,
    diff_jpeg,
    diff_resize,
    gaussian_blur,
    gaussian_noise,
    shift,
)

EOTRecord = dict[str, dict[str, float | int]]
"""What :class:`RandomEOT` applied: transform name → its sampled parameters, in order."""


@dataclass(frozen=True)
class EOTSettings:
    """Probabilities and parameter ranges of the transformations :class:`RandomEOT` samples.

    Probabilities are in [0, 1]; ``jpeg_quality`` is an inclusive int range in [1, 100];
    ``rescale`` is a range of relative scales in (0, 1] (down, then back up);
    ``noise_sigma`` ≥ 0 is in [0,1] units; ``blur_sigma`` in px; ``max_shift`` ≥ 0 in px.
    """

    jpeg_quality: tuple[int, int] = (50, 95)
    jpeg_prob: float = 0.5
    rescale: tuple[float, float] = (0.5, 1.0)
    rescale_prob: float = 0.5
    noise_sigma: float = 0.02
    noise_prob: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.0)
    blur_prob: float = 0.2
    max_shift: int = 8
    shift_prob: float = 0.3

    def __post_init__(self) -> None:
        for name in ("jpeg_prob", "rescale_prob", "noise_prob", "blur_prob", "shift_prob"):
            p = getattr(self, name)
            if not 0 <= p <= 1:
                raise ConfigError(f"EOT {name} must be in [0, 1], got {p!r}")
        check_range("EOT jpeg_quality", self.jpeg_quality, 1, 100)
        for q in self.jpeg_quality:
            check_int("EOT jpeg_quality", q, 1, 100)
        check_range("EOT rescale", self.rescale, 0, 1)
        if self.rescale[0] <= 0:
            raise ConfigError(f"EOT rescale must be > 0, got {self.rescale!r}")
        check_range("EOT blur_sigma", self.blur_sigma, 0, math.inf)
        if self.blur_sigma[0] <= 0:
            raise ConfigError(f"EOT blur_sigma must be > 0, got {self.blur_sigma!r}")
        if not self.noise_sigma >= 0:
            raise ConfigError(f"EOT noise_sigma must be >= 0, got {self.noise_sigma!r}")
        check_int("EOT max_shift", self.max_shift, 0)


class RandomEOT(nn.Module):
    """Randomly sampled, differentiable chain: shift → rescale → blur → noise → JPEG.

    ``forward(x, generator)`` returns the transformed image and a record of what was
    applied (name → sampled parameters, in application order; skipped ones absent).
    The same generator state gives the same chain; :meth:`replay` applies a record to
    another image of the same size.
    """

    def __init__(self, settings: EOTSettings | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else EOTSettings()

    def sample(self, height: int, width: int, generator: torch.Generator) -> EOTRecord:
        """Draw a record for an image of ``height`` x ``width`` px from ``generator``."""
        s = self.settings

        def chance(p: float) -> bool:
            return bool(torch.rand((), generator=generator) < p)

        def uniform(lo: float, hi: float) -> float:
            return lo + (hi - lo) * float(torch.rand((), generator=generator))

        def integer(lo: int, hi: int) -> int:
            return int(torch.randint(lo, hi + 1, (), generator=generator))

        record: EOTRecord = {}
        max_shift = min(s.max_shift, height - 1, width - 1)
        if chance(s.shift_prob) and max_shift > 0:
            record["shift"] = {
                "dy": integer(-max_shift, max_shift),
                "dx": integer(-max_shift, max_shift),
            }
        if chance(s.rescale_prob):
            record["rescale"] = {"scale": uniform(*s.rescale)}
        if chance(s.blur_prob):
            record["blur"] = {"sigma": uniform(*s.blur_sigma)}
        if chance(s.noise_prob):
            record["noise"] = {"sigma": s.noise_sigma, "seed": integer(0, 2**31 - 1)}
        if chance(s.jpeg_prob):
            record["jpeg"] = {"quality": integer(*s.jpeg_quality)}
        return record

    def forward(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, EOTRecord]:
        """Sample a chain from ``generator``, apply it to ``x``; return (image, record)."""
        check_image(x)
        record = self.sample(x.shape[-2], x.shape[-1], generator)
        return self.replay(x, record), record

    def replay(self, x: Tensor, record: EOTRecord) -> Tensor:
        """Apply exactly the transformations in ``record`` to ``x`` (differentiable)."""
        check_image(x)
        unknown = set(record) - {"shift", "rescale", "blur", "noise", "jpeg"}
        if unknown:
            raise ConfigError(f"unknown EOT transformations in record: {sorted(unknown)}")
        h, w = x.shape[-2:]
        if "shift" in record:
            x = shift(x, int(record["shift"]["dy"]), int(record["shift"]["dx"]))
        if "rescale" in record:
            scale = float(record["rescale"]["scale"])
            small = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = diff_resize(diff_resize(x, small, "bicubic"), (h, w), "bicubic")
        if "blur" in record:
            x = gaussian_blur(x, float(record["blur"]["sigma"]))
        if "noise" in record:
            x = gaussian_noise(x, float(record["noise"]["sigma"]), int(record["noise"]["seed"]))
        if "jpeg" in record:
            x = diff_jpeg(x, float(record["jpeg"]["quality"]))
        return x
