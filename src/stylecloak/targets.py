"""Glaze target selection (§5.3): pick a style 50-75th percentile away from the artist, and remember it."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from platformdirs import user_config_dir

from .backbones import Backbone
from .errors import ConfigError
from .io import atomic_file
from .styles import Style
from .transfer import image_stats, style_stats

PROFILE_VERSION = 1


@dataclass(frozen=True)
class ArtistProfile:
    """The persisted choice of target style for one artist."""

    artist: str
    target_style: str
    backbone: str
    seed: int
    distances: dict[str, float] = field(default_factory=dict)
    band: tuple[float, float] = (0.0, 0.0)
    created: str = ""
    version: int = PROFILE_VERSION


def default_profile_path(artist: str = "default") -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", artist) or "default"
    return Path(user_config_dir("stylecloak")) / "profiles" / f"{safe}.json"


def load_profile(path: str | Path) -> ArtistProfile | None:
    """The profile at ``path``, or None when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        data["band"] = tuple(data.get("band", (0.0, 0.0)))
        return ArtistProfile(**data)
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise ConfigError(f"{path}: not a stylecloak artist profile ({exc}); delete it or pass another --profile") from exc


def save_profile(profile: ArtistProfile, path: str | Path) -> Path:
    """Write the profile atomically."""
    path = Path(path)
    with atomic_file(path, "w") as f:
        json.dump(asdict(profile), f, indent=2)
    return path


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
