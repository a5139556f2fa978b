"""A latent style-mimic proxy: does a cloak shift what a mimic learns?

The mimic learns an artist's style as the mean and covariance of TAEF2 latent pixels over a training set
(once from the originals, once from the cloaked copies, optionally after a countermeasure), then renders
held-out content (paintings of *other* artists) in that style by whitening–colouring their latents and
decoding with TAEF2. The judge (:mod:`.judge`) then says whether the victim is among the top-3 artists of
each render, and how likely the render is the victim's.

**Victim score (continuous, base-rate normalised).** With p̄ the judge's mean probability that a mimic's
renders are the victim's (:meth:`.judge.StyleJudge.probabilities`) and b̄ the mean over the same content
works unstyled (the base rate), the victim score is the share of the headroom above the base rate the
mimic reaches:

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
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..backbones import Backbone
from ..device import autocast
from ..errors import ConfigError
from ..geometry import Working
from ..io import load_image
from .judge import (
    JUDGE_SIZE,
    MANIFEST,
    JudgeAccuracy,
    Painting,
    StyleJudge,
    content_paintings,
    fit_temperature,
    leave_one_out,
    reference_features,
    style_features,
    victim_score,
)


def tensor_key(t: torch.Tensor) -> str:
    """A digest of a tensor's values: a key for results that depend only on it."""
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


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
    fractions: tuple[float, ...] = ()
    """Shares of the victim's works the mimic sees cloaked, the rest original (:mod:`.portfolio`)."""
    draws: int = 4
    """Random choices of which works are cloaked, averaged per fraction."""

    def __post_init__(self) -> None:
        if min(self.content, self.top_k, self.draws) < 1 or self.judge_size < 32:
            raise ConfigError(
                f"bad mimic settings: content, top_k and draws must be ≥ 1 and judge_size ≥ 32 (got {self.content}, {self.top_k}, {self.draws}, {self.judge_size})"
            )
        if any(not 0 <= f <= 1 for f in self.fractions):
            raise ConfigError(f"mimic fractions {self.fractions} must be shares between 0 and 1")


@torch.no_grad()
def mimic_study(
    backbone: Backbone,
    learned: dict[str, dict[str, LatentMoments]],
    victim: str,
    settings: MimicSettings,
    work_size: int,
    victim_features: torch.Tensor | None = None,
    memo: dict | None = None,
    encoders: dict[str, Backbone] | None = None,
) -> dict:
    """Render held-out content in each learned style and ask the judge whether, and how likely, the victim shows.

    ``learned`` maps training set ("clean", "cloaked", and any others) → countermeasure → latent moments.
    Each content work is judged by a judge fitted on the reference paintings without it; when the victim
    is not in the manifest, ``victim_features`` (style features of the originals) form the victim's class.
    ``encoders`` maps a countermeasure to the encoder the mimic uses with it (default ``backbone``'s; the
    decoder is always ``backbone``'s). Returns the style-shift rates (share of renders whose top-k excludes
    the victim) and the victim scores (module docstring), JSON-ready; ``recognised`` holds (rate, score) of
    every training set, unrounded. ``memo`` (a dict kept between studies) holds the
    judgements of renders by their learned moments, so a mimic learned again from the same images is not
    rendered again.
    """
    memo = {} if memo is None else memo
    # 1. the content, one judge per content work (fitted without it), the judges' temperature
    panel = _Panel.fit(settings, victim, victim_features)
    # 2. base rate: unstyled content
    images = [load_image(p.path).rgb for p in panel.content]
    base_ranks, base = panel.judged(images)
    # 3. every content image's latents, by the encoder the mimic uses with each countermeasure
    works = [Working.of(x.to(backbone.device), work_size, backbone.factor) for x in images]
    latents: dict[str, list[torch.Tensor]] = {}
    for c in settings.countermeasures:
        encoder = (encoders or {}).get(c, backbone)
        with autocast(backbone.device):
            latents[c] = [encoder.encode(w.image).float() for w in works]
    # 4. the measures per training set: share of renders whose top-k holds the victim, and the victim score
    rates: dict[str, dict] = {}
    renders: list[dict] = []
    others: dict[str, dict[str, tuple[float, float]]] = {}  # unrounded, for partly cloaked portfolios
    for c in settings.countermeasures:
        recognised = _recognised(backbone, panel, learned, c, works, latents[c], base, work_size, memo, renders)
        for training, measured in recognised.items():
            others.setdefault(training, {})[c] = measured
        clean, cloaked = recognised["clean"], recognised["cloaked"]
        rates[c] = protection_rates(clean[0], cloaked[0], clean[1], cloaked[1], float(base.mean()))
    return {
        "artist": victim,
        "proxy": "latent whitening-colouring toward the training set's TAEF2 latent mean/covariance; no diffusion fine-tune",
        "judge": panel.record(),
        "content": [p.file for p in panel.content],
        "base_rate": round(1 - panel.shifted(base_ranks), 4),
        "base_score": round(float(base.mean()), 4),
        "countermeasures": rates,
        "renders": renders,
        "recognised": others,
    }


@dataclass(frozen=True)
class _Panel:
    """The held-out content works and one judge per work, fitted on the reference paintings without it."""

    settings: MimicSettings
    victim: str
    content: list[Painting]
    judges: list[StyleJudge]
    temperature: float
    accuracy: JudgeAccuracy
    """The judges' leave-one-out accuracy on the reference paintings."""

    @classmethod
    def fit(cls, settings: MimicSettings, victim: str, victim_features: torch.Tensor | None) -> _Panel:
        """The panel for ``victim``; ``victim_features`` form the victim's class where the manifest lacks the artist."""
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
        return cls(settings, victim, content, judges, temperature, accuracy)

    def judged(self, images: Iterable[torch.Tensor]) -> tuple[list[list[str]], torch.Tensor]:
        """Ranks and victim probabilities of one image per content work, each by that work's judge."""
        feats = style_features(images, self.settings.judge_size)
        ranks = [j.rank(f[None])[0] for j, f in zip(self.judges, feats)]
        probs = torch.stack([j.probabilities(f[None], self.temperature)[0, j.artists.index(self.victim)] for j, f in zip(self.judges, feats)])
        return ranks, probs

    def shifted(self, ranks: list[list[str]]) -> float:
        """Share of ``ranks`` whose top-k leaves the victim out."""
        return sum(self.victim not in r[: self.settings.top_k] for r in ranks) / len(ranks)

    def record(self) -> dict:
        """The judges, JSON-ready."""
        k, accuracy = self.settings.top_k, self.accuracy
        return {
            "top_k": k,
            "artists": len(self.judges[0].artists),
            "chance": round(self.judges[0].chance(k), 4),
            "loo_accuracy": round(accuracy.accuracy, 4),
            "loo_works": accuracy.works,
            "loo_chance": round(accuracy.chance, 4),
            "temperature": round(self.temperature, 4),
        }


def _recognised(
    backbone: Backbone,
    panel: _Panel,
    learned: dict[str, dict[str, LatentMoments]],
    c: str,
    works: list[Working],
    latents: list[torch.Tensor],
    base: torch.Tensor,
    work_size: int,
    memo: dict,
    renders: list[dict],
) -> dict[str, tuple[float, float]]:
    """Training set → (share of renders recognised as the victim's, victim score) under countermeasure ``c``: the
    content rendered in each set's learned style (judged once per memo); the clean and cloaked renders go into ``renders``."""
    settings, victim, content = panel.settings, panel.victim, panel.content
    content_key = tensor_key(latents[0])  # which encoder saw the content
    recognised = {}
    for training, styles in learned.items():
        style = styles[c]
        key = (
            "mimic",
            tensor_key(style.mean),
            tensor_key(style.covariance),
            content_key,
            victim,
            str(settings.paintings),
            tuple(p.file for p in content),
            work_size,
            settings.judge_size,
        )
        if key not in memo:
            memo[key] = panel.judged(_render(backbone, w, z, style) for w, z in zip(works, latents))
        ranks, probs = memo[key]
        recognised[training] = (1 - panel.shifted(ranks), victim_score(probs, base))
        if training in ("clean", "cloaked"):
            renders.extend(
                {"content": p.file, "training": training, "countermeasure": c, "top": r[: settings.top_k], "victim_probability": round(float(q), 4)}
                for p, r, q in zip(content, ranks, probs)
            )
    return recognised


def _render(backbone: Backbone, work: Working, z: torch.Tensor, style: LatentMoments) -> torch.Tensor:
    """The content latents ``z`` whitened and coloured toward ``style``, decoded, at the work's own size."""
    styled = whiten_colour(z, style)
    with autocast(z.device):
        return work.crop(backbone.decode(styled).float())


def protection_rates(recognised_clean: float, recognised_cloaked: float, score_clean: float, score_cloaked: float, base_score: float) -> dict:
    """The per-countermeasure block of the mimic study: how often the victim is recognised (top-k) and its score
    after clean and after cloaked training, and the drops (``protection``, ``score_drop``)."""
    return {
        "recognised_clean": round(recognised_clean, 4),
        "recognised_cloaked": round(recognised_cloaked, 4),
        "shift_clean": round(1 - recognised_clean, 4),
        "shift_cloaked": round(1 - recognised_cloaked, 4),
        "protection": round(recognised_clean - recognised_cloaked, 4),
        "victim_score_clean": round(score_clean, 4),
        "victim_score_cloaked": round(score_cloaked, 4),
        "score_drop": round(score_clean - score_cloaked, 4),
        "base_score": round(base_score, 4),
    }
