"""How fast this machine cloaks, measured before any image: a short speed probe and the estimates made from it.

An optimisation step costs about the same per pixel, so pace is counted in seconds per step per working megapixel
(the image brought down to the preset's working size, :func:`work_megapixels`). The probe times a few forward and
backward passes of the loaded encoders on a small view, after one warm-up pass, and converts them to that unit with
the share of the working copy that each step shows the encoders (:func:`view_share`). It leaves out what is not an
encoder pass (the perceptual check, EOT, the targets, a second round): an estimate, low by some per cent.

>>> rate = probe(protector.backbones, protector.cloak_settings, protector.device)
>>> batch_seconds([(1600, 1200), (800, 800)], protector.cloak_settings, rate)
"""

from __future__ import annotations

import time
from typing import cast

import torch

from ..backbones import Backbone
from ..config import CloakSettings
from ..device import autocast

PROBE_SIDE = 128
"""Side (px) of the probe's square view: small, so the probe takes a moment even on a laptop CPU."""
PROBE_PASSES = 2
"""Timed forward and backward passes, after one warm-up pass."""


def work_megapixels(width: int, height: int, work_size: int | None) -> float:
    """Megapixels of an image's working copy: its long side brought down to ``work_size`` (never enlarged)."""
    scale = min(1.0, work_size / max(width, height, 1)) if work_size else 1.0
    return max(width * height * scale * scale, 1.0) / 1e6


def view_share(settings: CloakSettings) -> float:
    """Pixels the encoders see per step as a share of the working copy's (an image at the working size): the
    views' mean share (their sum when every step sees all of them, ``view_order="all"``)."""
    if not settings.view_sizes or settings.work_size is None:
        return 1.0
    shares = [min(1.0, side / settings.work_size) ** 2 for side in settings.view_sizes]
    weights = settings.view_weights or (1.0,) * len(shares)
    if settings.view_order == "all":
        return sum(shares)
    return sum(s * w for s, w in zip(shares, weights)) / sum(weights)


def probe(backbones: list[Backbone], settings: CloakSettings, device: torch.device, side: int = PROBE_SIDE) -> float:
    """Seconds per optimisation step per working megapixel on ``device``, from :data:`PROBE_PASSES` timed forward
    and backward passes of ``backbones`` on a ``side`` px view in ``settings.precision``."""
    multiple = max(bb.factor for bb in backbones)
    side = max(multiple, side // multiple * multiple)
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_()
    seconds = []
    for _ in range(1 + PROBE_PASSES):
        start = time.perf_counter()
        with autocast(device, settings.precision):
            loss = cast(torch.Tensor, sum(bb.encode(x).float().pow(2).mean() for bb in backbones))
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    per_view_megapixel = sum(seconds[1:]) / PROBE_PASSES / (side * side / 1e6)
    return per_view_megapixel * view_share(settings)


def batch_seconds(sizes: list[tuple[int, int]], settings: CloakSettings, rate: float) -> float:
    """Expected seconds for images of ``sizes`` (width, height) at ``settings.steps`` each, at ``rate`` (:func:`probe`)."""
    return sum(settings.steps * work_megapixels(w, h, settings.work_size) * rate for w, h in sizes)


def duration_words(seconds: float) -> str:
    """A duration as a person says it ahead: "about 40 s", "about 12 min"."""
    return f"about {max(1, round(seconds))} s" if seconds < 90 else f"about {round(seconds / 60)} min"
