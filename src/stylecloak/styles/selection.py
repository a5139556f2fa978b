"""Glaze target selection (§5.3): pick a style 50-75th percentile away from the artist."""

from __future__ import annotations

import datetime as dt

import numpy as np
import torch

from ..backbones import Backbone
from ..errors import ConfigError
from .library import Style
from .profile import ArtistProfile
from .transfer import image_stats, style_stats


def style_distances(backbone: Backbone, artist_images: list[torch.Tensor], candidates: dict[str, Style]) -> dict[str, float]:
    """Distance of each candidate style's centroid from the artist's centroid in latent-statistics space."""
    feats = [s.feature() for im in artist_images for s in image_stats(backbone, im)]
    centroid = torch.stack(feats).mean(0)
    return {name: float((style_stats(backbone, st).feature() - centroid).norm()) for name, st in candidates.items()}


def choose_target(distances: dict[str, float], seed: int = 0, band: tuple[float, float] = (50, 75)) -> tuple[str, tuple[float, float]]:
    """Seeded choice among styles whose distance lies in the percentile band; returns (name, (low, high))."""
    if not distances:
        raise ConfigError("no candidate target styles to choose from")
    values = np.array(list(distances.values()))
    lo, hi = (float(v) for v in np.percentile(values, band))
    names = sorted(n for n, d in distances.items() if lo <= d <= hi)
    if not names:  # too few candidates to populate the band: take the one nearest its middle
        names = [min(distances, key=lambda n: abs(distances[n] - (lo + hi) / 2))]
    return names[int(np.random.default_rng(seed).integers(len(names)))], (lo, hi)


def select_target(
    backbone: Backbone,
    artist_images: list[torch.Tensor],
    candidates: dict[str, Style],
    *,
    artist: str = "default",
    seed: int = 0,
) -> ArtistProfile:
    """Run Glaze's target selection for an artist's images (each (1,3,H,W) in [0, 1])."""
    distances = style_distances(backbone, artist_images, candidates)
    name, band = choose_target(distances, seed)
    return ArtistProfile(
        artist=artist,
        target_style=name,
        backbone=backbone.name,
        seed=seed,
        distances=distances,
        band=band,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
