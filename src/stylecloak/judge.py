"""An independent style judge and a latent style-mimic proxy: does a cloak shift what a mimic learns?

**Style judge.** Each image is described by the channel mean and standard deviation of six
EfficientNet-Lite0 (ImageNet) block outputs at 384 px long side; features are standardised over a
reference set of paintings and an image is ranked against each artist's *centroid* (Euclidean
distance). One centroid per artist keeps the judge balanced: a nearest-neighbour judge favours the
artist with most works.

**Latent style mimic (a proxy).** The mimic learns an artist's style as the mean and covariance of
TAEF2 latent pixels over a training set (once from the originals, once from the cloaked copies,
optionally after a countermeasure), then renders held-out content (paintings of *other* artists) in
that style by whitening–colouring their latents and decoding with TAEF2. The judge then says whether
the victim is among the top-3 artists of each render, and how likely the render is the victim's.

**Victim score (continuous, base-rate normalised).** The judge's probability that an image is by
artist a is a softmax over negative centroid distances, P(a | x) ∝ exp(−‖z(x) − c_a‖ / τ), with the
temperature τ fitted by leave-one-out likelihood on the reference set. With p̄ the mean victim
probability over a mimic's renders and b̄ the mean over the same content works unstyled (the base
rate), the victim score is the share of the headroom above the base rate the mimic reaches:

    score = (p̄ − b̄) / (1 − b̄)      0: no more the victim's than unstyled content; 1: certainly the victim's

so a judge that already sees the victim in unstyled content (b̄ high) does not cap what a drop can show.
``score_drop`` = score(clean training) − score(cloaked training). Each content work is judged by a
judge fitted without that one work (leave-one-out), so many content works can be used without
removing their artists from the judge.

What the proxy does not capture: no diffusion model is fine-tuned, so it measures only the shift of
global latent statistics, not what a LoRA/DreamBooth fine-tune would learn from textures, motifs or
composition; the content never leaves the latent space of the autoencoder the cloak attacked
(TAEF2), which flatters the cloak; and a judge built on ImageNet features is not an art expert.
Treat its numbers as a cheap, reproducible early warning, not as proof of protection.

>>> judge = StyleJudge.from_paintings("../shared/data/paintings")
>>> judge.rank_images(images)[0][:3]   # three most likely artists of the first image
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from .backbones import Backbone
from .device import autocast
from .errors import ConfigError
from .geometry import Working
from .imageio import load_image
from .perceptual import FEATURE_BLOCKS, efficientnet_features

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


def _long_side(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    s = size / max(h, w)
    return F.interpolate(x, (max(1, round(h * s)), max(1, round(w * s))), mode="bilinear", antialias=True, align_corners=False)


@torch.no_grad()
def style_features(images: Iterable[torch.Tensor], long_side: int = JUDGE_SIZE) -> torch.Tensor:
    """Style descriptors (N, D): channel mean and std of EfficientNet-Lite0 block outputs, per image.

    ``images`` yields (1,3,H,W) or (B,3,H,W) tensors in [0, 1]; each is resized to ``long_side``.
    """
    net = efficientnet_features(FEATURE_BLOCKS)
    rows = []
    for batch in images:
        for x in batch.split(1):
            maps = net(_long_side(x.float().cpu(), long_side))
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

    def rank_images(self, images: Iterable[torch.Tensor]) -> list[list[str]]:
        """Artists from most to least likely, for each image (tensors in [0, 1])."""
        return self.rank(style_features(images, self.long_side))

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


def tensor_key(t: torch.Tensor) -> str:
    """A digest of a tensor's values: a key for results that depend only on it."""
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


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


# --------------------------------------------------------------------------- the latent mimic


class LatentMoments:
    """Mean and covariance of latent pixels, accumulated image by image: the style a latent mimic learns."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = torch.zeros(0, dtype=torch.float64)
        self._outer = torch.zeros(0, 0, dtype=torch.float64)

    def add(self, z: torch.Tensor) -> None:
        """Add the latent pixels of ``z`` (B,C,h,w)."""
        p = z.detach().double().transpose(0, 1).flatten(1)  # (C, B·h·w)
        if self.count == 0:
            self._sum, self._outer = p.sum(1), p @ p.T
        else:
            self._sum, self._outer = self._sum + p.sum(1), self._outer + p @ p.T
        self.count += p.shape[1]

    @property
    def mean(self) -> torch.Tensor:
        return self._sum / max(self.count, 1)

    @property
    def covariance(self) -> torch.Tensor:
        m = self.mean
        return (self._outer - self.count * torch.outer(m, m)) / max(self.count - 1, 1)


def _matrix_power(cov: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    return vectors @ torch.diag(values.clamp_min(eps).pow(power)) @ vectors.T


def whiten_colour(z: torch.Tensor, style: LatentMoments, eps: float = 1e-5) -> torch.Tensor:
    """Latents ``z`` (1,C,h,w) given the learned mean and covariance (whitening–colouring transform)."""
    if style.count < 2:
        raise ConfigError("the mimic has learned nothing yet; add training latents before rendering")
    c, h, w = z.shape[1:]
    p = z.detach().double()[0].flatten(1)
    mu = p.mean(1, keepdim=True)
    white = _matrix_power(torch.cov(p), -0.5, eps) @ (p - mu)
    coloured = _matrix_power(style.covariance, 0.5, eps) @ white + style.mean[:, None]
    return coloured.float().view(1, c, h, w)


@dataclass(frozen=True)
class MimicSettings:
    """Where the judge's reference paintings are and what the mimic study covers."""

    paintings: Path
    """Folder with MANIFEST.csv (file,artist,…) and the paintings."""
    artist: str | None = None
    """The victim; None: inferred from the manifest by the originals' file names."""
    content: int = 16
    """How many works of other artists are rendered in the learned style (each judged by a judge fitted without it)."""
    countermeasures: tuple[str, ...] = ("none", "jpeg75", "impress")
    top_k: int = 3
    judge_size: int = JUDGE_SIZE
    """Long side (px) at which the judge looks at images."""


@torch.no_grad()
def mimic_study(
    backbone: Backbone,
    learned: dict[str, dict[str, LatentMoments]],
    victim: str,
    settings: MimicSettings,
    work_size: int,
    victim_features: torch.Tensor | None = None,
    memo: dict | None = None,
) -> dict:
    """Render held-out content in each learned style and ask the judge whether, and how likely, the victim shows.

    ``learned`` maps training set ("clean", "cloaked") → countermeasure → latent moments. Each content work
    is judged by a judge fitted on the reference paintings without it; when the victim is not in the
    manifest, ``victim_features`` (style features of the originals) form the victim's class. Returns the
    style-shift rates (share of renders whose top-k excludes the victim) and the victim scores (module
    docstring), JSON-ready. ``memo`` (a dict kept between studies) holds the judgements of renders by
    their learned moments, so a mimic learned again from the same images is not rendered again.
    """
    memo = {} if memo is None else memo
    # 1. the content, one judge per content work (fitted without it), the judges' temperature
    paintings, features = reference_features(settings.paintings, settings.judge_size)
    content = content_paintings(paintings, victim, settings.content)
    if not content:
        raise ConfigError(f"{settings.paintings}: no works of artists other than {victim!r} to render; add paintings of other artists")
    extra = {}
    if victim not in {p.artist for p in paintings}:
        if victim_features is None:
            raise ConfigError(f"artist {victim!r} is not in {settings.paintings / MANIFEST}; pass the originals' features")
        extra = {victim: victim_features}
    labels = [p.artist for p in paintings] + [victim] * sum(f.shape[0] for f in extra.values())
    temperature = fit_temperature(torch.cat([features, *extra.values()]), labels)
    judges = [StyleJudge.from_paintings(settings.paintings, exclude=[p], extra=extra, long_side=settings.judge_size) for p in content]
    accuracy = leave_one_out(features, [p.artist for p in paintings], settings.top_k)
    k = settings.top_k

    def judged(images: Iterable[torch.Tensor]) -> tuple[list[list[str]], torch.Tensor]:
        """Ranks and victim probabilities of one image per content work, each by that work's judge."""
        feats = style_features(images, settings.judge_size)
        ranks = [j.rank(f[None])[0] for j, f in zip(judges, feats)]
        probs = torch.stack([j.probabilities(f[None], temperature)[0, j.artists.index(victim)] for j, f in zip(judges, feats)])
        return ranks, probs

    def shifted(ranks: list[list[str]]) -> float:
        return sum(victim not in r[:k] for r in ranks) / len(ranks)

    # 2. base rate: unstyled content
    images = [load_image(p.path).rgb for p in content]
    base_ranks, base = judged(images)

    # 3. render every content image in every learned style
    works = [Working.of(x.to(backbone.device), work_size, backbone.factor) for x in images]
    with autocast(backbone.device):
        latents = [backbone.encode(w.image).float() for w in works]

    def render(work: Working, z: torch.Tensor, style: LatentMoments) -> torch.Tensor:
        styled = whiten_colour(z, style)
        with autocast(z.device):
            return work.crop(backbone.decode(styled).float())

    rates: dict[str, dict] = {}
    renders = []
    for c in settings.countermeasures:
        recognised, score = {}, {}
        for training in ("clean", "cloaked"):
            style = learned[training][c]
            key = ("mimic", tensor_key(style.mean), tensor_key(style.covariance), backbone.name, victim, str(settings.paintings), tuple(p.file for p in content), work_size, settings.judge_size)
            if key not in memo:
                memo[key] = judged(render(w, z, style) for w, z in zip(works, latents))
            ranks, probs = memo[key]
            recognised[training] = 1 - shifted(ranks)
            score[training] = victim_score(probs, base)
            renders += [
                {"content": p.file, "training": training, "countermeasure": c, "top": r[:k], "victim_probability": round(float(q), 4)}
                for p, r, q in zip(content, ranks, probs)
            ]
        rates[c] = {
            "recognised_clean": round(recognised["clean"], 4),
            "recognised_cloaked": round(recognised["cloaked"], 4),
            "shift_clean": round(1 - recognised["clean"], 4),
            "shift_cloaked": round(1 - recognised["cloaked"], 4),
            "protection": round(recognised["clean"] - recognised["cloaked"], 4),
            "victim_score_clean": round(score["clean"], 4),
            "victim_score_cloaked": round(score["cloaked"], 4),
            "score_drop": round(score["clean"] - score["cloaked"], 4),
            "base_score": round(float(base.mean()), 4),
        }
    return {
        "artist": victim,
        "proxy": "latent whitening-colouring toward the training set's TAEF2 latent mean/covariance; no diffusion fine-tune",
        "judge": {
            "top_k": k,
            "artists": len(judges[0].artists),
            "chance": round(judges[0].chance(k), 4),
            "loo_accuracy": round(accuracy.accuracy, 4),
            "loo_works": accuracy.works,
            "loo_chance": round(accuracy.chance, 4),
            "temperature": round(temperature, 4),
        },
        "content": [p.file for p in content],
        "base_rate": round(1 - shifted(base_ranks), 4),
        "base_score": round(float(base.mean()), 4),
        "countermeasures": rates,
        "renders": renders,
    }
