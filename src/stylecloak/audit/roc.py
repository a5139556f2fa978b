"""How well scores separate two classes: ROC AUC by the rank formula, the true-positive rate at a false-positive
rate, and their confidence intervals by a bootstrap over groups of correlated scores (crops of one image).

>>> auc([0.9, 0.8], [0.1, 0.85])
0.75
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Scores = tuple[np.ndarray, np.ndarray]
"""(positives' scores, negatives' scores) of one group."""


def auc(positives: Sequence[float] | np.ndarray, negatives: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: P(a positive scores above a negative), ties counting one half, by the rank
    (Mann–Whitney) formula (R₊ − n₊(n₊ + 1)/2) / (n₊ n₋) with average ranks for tied scores."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    if not (len(pos) and len(neg)):
        raise ValueError("AUC needs at least one positive and one negative score")
    _, inverse, counts = np.unique(np.concatenate([pos, neg]), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2)[inverse]  # 1-based, ties share their mean rank
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tpr_at_fpr(positives: Sequence[float] | np.ndarray, negatives: Sequence[float] | np.ndarray, fpr: float = 0.01) -> float:
    """Share of positives scoring above the lowest threshold that at most ``fpr`` of the negatives exceed."""
    pos, neg = np.asarray(positives, float), np.sort(np.asarray(negatives, float))[::-1]
    allowed = int(np.floor(fpr * len(neg)))
    threshold = neg[allowed] if allowed < len(neg) else -np.inf
    return float((pos > threshold).mean())


def bootstrap_ci(groups: Sequence[Scores], metric: Callable[[np.ndarray, np.ndarray], float], draws: int = 500, seed: int = 0) -> tuple[float, float]:
    """95 % interval of ``metric(positives, negatives)`` over ``draws`` resamplings of whole ``groups`` with replacement."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        chosen = [groups[i] for i in rng.integers(len(groups), size=len(groups))]
        pos, neg = np.concatenate([g[0] for g in chosen]), np.concatenate([g[1] for g in chosen])
        if len(pos) and len(neg):
            values.append(metric(pos, neg))
    low, high = np.percentile(values, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def separation(groups: Sequence[Scores], seed: int = 0) -> dict:
    """AUC and TPR at 1 % FPR of the pooled scores of ``groups``, each with its bootstrap interval, and the counts."""
    pos, neg = np.concatenate([g[0] for g in groups]), np.concatenate([g[1] for g in groups])
    return {
        "auc": round(auc(pos, neg), 4),
        "auc_ci": bootstrap_ci(groups, auc, seed=seed),
        "tpr_at_1pct_fpr": round(tpr_at_fpr(pos, neg), 4),
        "tpr_ci": bootstrap_ci(groups, tpr_at_fpr, seed=seed),
        "positives": len(pos),
        "negatives": len(neg),
    }
