"""Partly cloaked portfolios: the mimic also has the victim's uncloaked works (Glaze §6.4).

For a fraction f of n works, each draw cloaks k of them, chosen at random, and the mimic learns from
those cloaked copies plus the other works' originals. k is ⌊f·n⌋ or ⌈f·n⌉, split over the draws so
that the draws' mean share is as close to f as n allows; f = 0 is the clean mimic and f = 1 the fully
cloaked one. Seeded; identical choices are scored once.

>>> plan = plan_portfolios(n=5, fractions=(0.25, 1.0), draws=4, seed=0)
>>> learned.update(portfolio_sets(latents, plan))   # then mimic_study(…), then by_fraction(study, plan)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from .mimic import LatentMoments, protection_rates
from .report import pyplot, save_figure

DEFAULT_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)


def parse_fractions(spec: str) -> tuple[float, ...]:
    """``"0.25,0.5,1"`` → (0.25, 0.5, 1.0); each a share between 0 and 1."""
    try:
        values = tuple(float(v) for v in spec.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--cloaked-fraction {spec!r}: give comma-separated shares between 0 and 1, e.g. 0.25,0.5,0.75,1") from None
    if not values or any(not 0 <= v <= 1 for v in values):
        raise ConfigError(f"--cloaked-fraction {spec!r}: give comma-separated shares between 0 and 1, e.g. 0.25,0.5,0.75,1")
    return tuple(sorted(set(values)))


def fraction_key(fraction: float) -> str:
    """The JSON key of a fraction: ``0.25`` → ``"0.25"``, ``1.0`` → ``"1"``."""
    return f"{fraction:g}"


@dataclass(frozen=True)
class PortfolioPlan:
    """Which works are cloaked in each draw of each fraction (indices into the audited works)."""

    works: int
    draws: dict[str, tuple[tuple[int, ...], ...]]
    """Fraction key → one tuple of cloaked work indices per draw."""
    seed: int

    @property
    def subsets(self) -> list[tuple[int, ...]]:
        """Every distinct choice, in first-seen order."""
        return list(dict.fromkeys(s for draws in self.draws.values() for s in draws))


def set_name(subset: tuple[int, ...]) -> str:
    """The training-set name of a choice of cloaked works."""
    return "portfolio:" + ",".join(map(str, subset))


def plan_portfolios(works: int, fractions: Sequence[float], draws: int, seed: int) -> PortfolioPlan:
    """Seeded choices of cloaked works for each fraction; ``draws`` per fraction."""
    if works < 1 or draws < 1:
        raise ConfigError(f"a portfolio needs at least one work and one draw, got {works} works and {draws} draws")
    plan = {}
    for f in fractions:
        low = math.floor(f * works + 1e-9)
        high_draws = round((f * works - low) * draws)  # draws that cloak one work more, so the mean share is ≈ f
        rng = np.random.default_rng([seed, round(f * 10**6)])
        chosen = []
        for d in range(draws):
            k = min(works, low + (d < high_draws))
            chosen.append(tuple(sorted(rng.choice(works, size=k, replace=False).tolist())))
        plan[fraction_key(f)] = tuple(chosen)
    return PortfolioPlan(works, plan, seed)


def portfolio_sets(latents: Sequence[dict[str, tuple[torch.Tensor, torch.Tensor]]], plan: PortfolioPlan) -> dict[str, dict[str, LatentMoments]]:
    """What the mimic learns from each distinct choice: training set → countermeasure → latent moments.

    ``latents[i]`` maps a countermeasure to work i's (original, cloaked) latents; the works are added in order,
    as the fully clean and fully cloaked sets add them.
    """
    if len(latents) != plan.works:
        raise ConfigError(f"the portfolio plan is for {plan.works} works but {len(latents)} were audited")
    sets = {}
    for subset in plan.subsets:
        styles: dict[str, LatentMoments] = {}
        for i, kept in enumerate(latents):
            for c, (z, zp) in kept.items():
                styles.setdefault(c, LatentMoments()).add(zp if i in subset else z)
        sets[set_name(subset)] = styles
    return sets


def by_fraction(study: dict, plan: PortfolioPlan) -> dict:
    """Per fraction, the study's per-countermeasure block with the cloaked side averaged over the draws (from
    mimic_study's ``recognised``: training set → countermeasure → (top-k rate, victim score), unrounded)."""
    out: dict[str, dict] = {}
    for key, draws in plan.draws.items():
        out[key] = {}
        for c, block in study["countermeasures"].items():
            rate_clean, score_clean = study["recognised"]["clean"][c]
            rates, scores = zip(*(study["recognised"][set_name(s)][c] for s in draws))
            out[key][c] = protection_rates(rate_clean, sum(rates) / len(rates), score_clean, sum(scores) / len(scores), block["base_score"])
    return out


def portfolio_summary(plan: PortfolioPlan) -> dict:
    """How the draws were made, JSON-ready: the mean share actually cloaked per fraction."""
    return {
        "works": plan.works,
        "draws": len(next(iter(plan.draws.values()))) if plan.draws else 0,
        "seed": plan.seed,
        "cloaked_share": {k: round(sum(len(s) for s in d) / (len(d) * plan.works), 4) for k, d in plan.draws.items()},
        "cloaked_works": {k: [list(s) for s in d] for k, d in plan.draws.items()},
    }


def plot_portfolio(mimic: dict, path: str | Path) -> Path:
    """Line chart of the mimic proxy's protection against the share of the portfolio cloaked (needs matplotlib)."""
    plt = pyplot(path)

    fractions = mimic["by_fraction"]
    shares = [float(k) for k in fractions]
    fig, ax = plt.subplots(figsize=(6, 4))
    for c in mimic["countermeasures"]:
        ax.plot(shares, [fractions[k][c]["score_drop"] for k in fractions], marker="o", label=c)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("share of the portfolio cloaked")
    ax.set_ylabel("score drop (victim score, clean − partly cloaked)")
    ax.set_title(f"Mimic proxy: {mimic['artist']}, {mimic['portfolio']['works']} works, {mimic['portfolio']['draws']} draws")
    ax.legend(title="countermeasure")
    return save_figure(fig, path)
