"""A latent style-mimic proxy: does a cloak shift what a mimic learns?

The mimic learns an artist's style as the mean and covariance of TAEF2 latent pixels over a training set
(once from the originals, once from the cloaked copies, optionally after a countermeasure), then renders
held-out content (paintings of *other* artists) in that style by whitening–colouring their latents and
decoding with TAEF2. The judge (:mod:`.judge`) then says whether the victim is among the top-3 artists of
each render.

What the proxy does not capture: no diffusion model is fine-tuned, so it measures only the shift of
global latent statistics, not what a LoRA/DreamBooth fine-tune would learn from textures, motifs or
composition; the content never leaves the latent space of the autoencoder the cloak attacked
(TAEF2), which flatters the cloak; and a judge built on ImageNet features is not an art expert.
Treat its numbers as a cheap, reproducible early warning, not as proof of protection.
"""

from __future__ import annotations

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
    StyleJudge,
    content_paintings,
    leave_one_out,
    reference_features,
)


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
    content: int = 8
    """How many held-out works of other artists are rendered in the learned style."""
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
) -> dict:
    """Render held-out content in each learned style and ask the judge whether the victim shows.

    ``learned`` maps training set ("clean", "cloaked") → countermeasure → latent moments. The judge is
    fitted on the reference paintings minus the content works; when the victim is not in the manifest,
    ``victim_features`` (style features of the originals) form the victim's class. Returns the
    style-shift rates (share of renders whose top-k excludes the victim), JSON-ready.
    """
    # 1. the judge and the content
    paintings, features = reference_features(settings.paintings, settings.judge_size)
    content = content_paintings(paintings, victim, settings.content)
    if not content:
        raise ConfigError(f"{settings.paintings}: no works of artists other than {victim!r} to render; add paintings of other artists")
    extra = None
    if victim not in {p.artist for p in paintings}:
        if victim_features is None:
            raise ConfigError(f"artist {victim!r} is not in {settings.paintings / MANIFEST}; pass the originals' features")
        extra = {victim: victim_features}
    judge = StyleJudge.from_paintings(settings.paintings, exclude=content, extra=extra, long_side=settings.judge_size)
    accuracy = leave_one_out(features, [p.artist for p in paintings], settings.top_k)
    k = settings.top_k

    def shifted(ranks: list[list[str]]) -> float:
        return sum(victim not in r[:k] for r in ranks) / len(ranks)

    # 2. base rate: unstyled content
    images = [load_image(p.path).rgb for p in content]
    base = judge.rank_images(images)

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
        recognised = {}
        for training in ("clean", "cloaked"):
            style = learned[training][c]
            ranks = judge.rank_images(render(w, z, style) for w, z in zip(works, latents))
            recognised[training] = 1 - shifted(ranks)
            renders += [{"content": p.file, "training": training, "countermeasure": c, "top": r[:k]} for p, r in zip(content, ranks)]
        rates[c] = {
            "recognised_clean": round(recognised["clean"], 4),
            "recognised_cloaked": round(recognised["cloaked"], 4),
            "shift_clean": round(1 - recognised["clean"], 4),
            "shift_cloaked": round(1 - recognised["cloaked"], 4),
            "protection": round(recognised["clean"] - recognised["cloaked"], 4),
        }
    return {
        "artist": victim,
        "proxy": "latent whitening-colouring toward the training set's TAEF2 latent mean/covariance; no diffusion fine-tune",
        "judge": {
            "top_k": k,
            "artists": len(judge.artists),
            "chance": round(judge.chance(k), 4),
            "loo_accuracy": round(accuracy.accuracy, 4),
            "loo_works": accuracy.works,
            "loo_chance": round(accuracy.chance, 4),
        },
        "content": [p.file for p in content],
        "base_rate": round(1 - shifted(base), 4),
        "countermeasures": rates,
        "renders": renders,
    }
