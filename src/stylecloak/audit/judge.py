"""An independent style judge: which artist's style does an image show?

Each image is described by the channel mean and standard deviation of six EfficientNet-Lite0 (ImageNet)
block outputs at 384 px long side; features are standardised over a reference set of paintings and an
image is ranked against each artist's *centroid* (Euclidean distance). One centroid per artist keeps the
judge balanced: a nearest-neighbour judge favours the artist with most works. :mod:`.mimic` uses it.

The judge's probability that an image is by artist a is a softmax over negative centroid distances,
P(a | x) ∝ exp(−‖z(x) − c_a‖ / τ), with the temperature τ fitted by leave-one-out likelihood on the
reference set (:func:`fit_temperature`); :func:`victim_score` normalises it by a base rate.

>>> judge = StyleJudge.from_paintings("../shared/data/paintings")
>>> judge.rank(style_features(images, judge.long_side))[0][:3]   # three most likely artists of the first image
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import ConfigError
from ..geometry import long_side_size, resize
from ..io import load_image
from ..perceptual import FEATURE_BLOCKS, efficientnet_features

JUDGE_SIZE = 384
"""Long side (px) at which the judge looks at images."""
MANIFEST = "MANIFEST.csv"


# --------------------------------------------------------------------------- reference paintings


@dataclass(frozen=True)
class Painting:
    """One work of the reference set."""

    file: str
    """Path relative to the reference folder, as in the manifest."""
    artist: str
    path: Path


def read_manifest(folder: str | Path) -> tuple[Painting, ...]:
    """The paintings listed in ``folder/MANIFEST.csv`` (columns ``file`` and ``artist`` at least)."""
    path = Path(folder) / MANIFEST
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; pass a folder of paintings with a MANIFEST.csv (columns file,artist)") from None
    if not rows or not {"file", "artist"} <= set(rows[0]):
        raise ConfigError(f"{path}: needs columns file and artist and at least one row; fix the manifest")
    return tuple(Painting(r["file"], r["artist"], Path(folder) / r["file"]) for r in rows)


def infer_artist(files: Iterable[str | Path], paintings: Sequence[Painting]) -> str | None:
    """The one artist whose manifest holds every file (matched by file stem), else None."""
    by_stem: dict[str, set[str]] = {}
    for p in paintings:
        by_stem.setdefault(p.path.stem, set()).add(p.artist)
    found: set[str] = set()
    for f in files:
        artists = by_stem.get(Path(f).stem)
        if not artists:
            return None
        found |= artists
    return found.pop() if len(found) == 1 else None


def content_paintings(paintings: Sequence[Painting], victim: str, count: int) -> list[Painting]:
    """``count`` works of artists other than ``victim``: round robin over those artists, in manifest order."""
    queues: dict[str, list[Painting]] = {}
    for p in paintings:
        if p.artist != victim:
            queues.setdefault(p.artist, []).append(p)
    chosen: list[Painting] = []
    while len(chosen) < count and any(queues.values()):
        for works in queues.values():
            if works and len(chosen) < count:
                chosen.append(works.pop(0))
    return chosen


# --------------------------------------------------------------------------- the judge


@torch.no_grad()
def style_features(images: Iterable[torch.Tensor], long_side: int = JUDGE_SIZE) -> torch.Tensor:
    """Style descriptors (N, D): channel mean and std of EfficientNet-Lite0 block outputs, per image.

    ``images`` yields (1,3,H,W) or (B,3,H,W) tensors in [0, 1]; each is resized to ``long_side``.
    """
    net = efficientnet_features(FEATURE_BLOCKS)
    rows = []
    for batch in images:
        for x in batch.split(1):
            x = x.float().cpu()
            maps = net(resize(x, long_side_size(x.shape[-2:], long_side, enlarge=True), "bilinear"))
            rows.append(torch.cat([torch.cat([m.mean((2, 3)), m.std((2, 3))], 1) for m in maps], 1))
    if not rows:
        raise ConfigError("no images to describe; pass at least one image")
    return torch.cat(rows)


def reference_features(folder: str | Path, long_side: int = JUDGE_SIZE) -> tuple[tuple[Painting, ...], torch.Tensor]:
    """The manifest's paintings and their style features (computed once per process and size)."""
    return _reference_features(str(Path(folder).resolve()), long_side)


@lru_cache(maxsize=4)
def _reference_features(folder: str, long_side: int) -> tuple[tuple[Painting, ...], torch.Tensor]:
    paintings = read_manifest(folder)
    return paintings, style_features((load_image(p.path).rgb for p in paintings), long_side)


class StyleJudge:
    """Nearest artist centroid in standardised style features (balanced: one centroid per artist)."""

    def __init__(self, features: torch.Tensor, artists: Sequence[str], long_side: int = JUDGE_SIZE):
        if features.shape[0] != len(artists) or features.shape[0] < 2:
            raise ConfigError(f"the judge needs at least two labelled reference images, got {features.shape[0]} features for {len(artists)} labels")
        self.long_side = long_side
        self.artists = sorted(set(artists))
        self.mean = features.mean(0)
        self.scale = features.std(0).clamp_min(1e-6)
        z = self._standardise(features)
        labels = list(artists)
        self.centroids = torch.stack([z[[i for i, a in enumerate(labels) if a == name]].mean(0) for name in self.artists])

    @classmethod
    def from_paintings(
        cls,
        folder: str | Path,
        *,
        exclude: Iterable[Painting] = (),
        extra: dict[str, torch.Tensor] | None = None,
        long_side: int = JUDGE_SIZE,
    ) -> StyleJudge:
        """Fit on a reference folder, leaving out ``exclude`` and adding ``extra`` (artist → features (N, D))."""
        paintings, features = reference_features(folder, long_side)
        skip = {p.path for p in exclude}
        keep = [i for i, p in enumerate(paintings) if p.path not in skip]
        feats, labels = [features[keep]], [paintings[i].artist for i in keep]
        for artist, f in (extra or {}).items():
            feats.append(f)
            labels += [artist] * f.shape[0]
        return cls(torch.cat(feats), labels, long_side)

    def _standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.scale

    def chance(self, k: int = 3) -> float:
        """Top-k accuracy of a judge that guesses at random."""
        return min(1.0, k / len(self.artists))

    def rank(self, features: torch.Tensor) -> list[list[str]]:
        """Artists from most to least likely, for each row of ``features`` (N, D)."""
        dist = torch.cdist(self._standardise(features), self.centroids)
        return [[self.artists[j] for j in row] for row in dist.argsort(1).tolist()]

    def probabilities(self, features: torch.Tensor, temperature: float) -> torch.Tensor:
        """P(artist | image) (N, A), columns in the order of ``self.artists``: softmax of −distance / τ."""
        return torch.softmax(-torch.cdist(self._standardise(features), self.centroids) / temperature, 1)


TEMPERATURES = tuple(2 ** (k / 4) for k in range(-8, 21))
"""Candidate softmax temperatures τ (0.25 to 32, in steps of 2^¼), in units of standardised feature distance."""


def fit_temperature(features: torch.Tensor, artists: Sequence[str]) -> float:
    """τ maximising the leave-one-out log-likelihood of each work's own artist (artists with ≥ 2 works)."""
    counts = {a: list(artists).count(a) for a in set(artists)}
    held = []
    for i, artist in enumerate(artists):
        if counts[artist] < 2:
            continue
        keep = [j for j in range(len(artists)) if j != i]
        judge = StyleJudge(features[keep], [artists[j] for j in keep])
        held.append((torch.cdist(judge._standardise(features[i : i + 1]), judge.centroids)[0], judge.artists.index(artist)))
    if not held:
        raise ConfigError("no artist has two or more works in the reference set; the judge's temperature cannot be fitted")
    return max(TEMPERATURES, key=lambda t: sum(float(torch.log_softmax(-d / t, 0)[k]) for d, k in held))


def victim_score(renders: torch.Tensor, base: torch.Tensor) -> float:
    """(p̄ − b̄) / (1 − b̄): the mean victim probability of ``renders`` above that of the unstyled content
    (``base``, the base rate), as a share of the headroom above the base rate (see the module docstring)."""
    b = float(base.mean())
    return (float(renders.mean()) - b) / max(1 - b, 1e-6)


@dataclass(frozen=True)
class JudgeAccuracy:
    """Leave-one-out top-k accuracy of the judge over artists with enough works."""

    k: int
    accuracy: float
    chance: float
    works: int
    artists: int
    per_artist: dict[str, float] = field(default_factory=dict)


def leave_one_out(features: torch.Tensor, artists: Sequence[str], k: int = 3, min_works: int = 5) -> JudgeAccuracy:
    """Hold out each work of an artist with ≥ ``min_works`` works, refit the judge without it, and rank it."""
    counts = {a: list(artists).count(a) for a in set(artists)}
    hits: dict[str, list[bool]] = {}
    for i, artist in enumerate(artists):
        if counts[artist] < min_works:
            continue
        keep = [j for j in range(len(artists)) if j != i]
        judge = StyleJudge(features[keep], [artists[j] for j in keep])
        hits.setdefault(artist, []).append(artist in judge.rank(features[i : i + 1])[0][:k])
    if not hits:
        raise ConfigError(f"no artist has {min_works} or more works in the reference set; lower min_works or add paintings")
    flat = [h for v in hits.values() for h in v]
    return JudgeAccuracy(
        k=k,
        accuracy=sum(flat) / len(flat),
        chance=min(1.0, k / len(counts)),
        works=len(flat),
        artists=len(hits),
        per_artist={a: sum(v) / len(v) for a, v in sorted(hits.items())},
    )
