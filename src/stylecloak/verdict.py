"""How well an image is protected, in one word and a percentage: the gauge the web page and the command line show.

The gauge is decided by what survives a re-upload, not by the cloak's own number: the worst of the target
progress (TP) and the TP left after each re-upload check the summary carries under :data:`AFTER_REUPLOAD`
(JPEG at quality 75, halving the size, a platform's repost trip; :mod:`stylecloak.audit.reupload`).

>>> protection_verdict({"target_progress": 0.49, "after_reupload": {"jpeg75": 0.23, "downscale_half": 0.18}})
('weak', 18)
"""

from __future__ import annotations

from collections.abc import Mapping

STRONG = 0.5
"""Worst TP from which protection is called strong."""
MODERATE = 0.25
"""Worst TP from which protection is called moderate; below it, weak, and the artist is warned (:mod:`.protectability`)."""
AFTER_REUPLOAD = "after_reupload"
"""Summary key: check name (an audit countermeasure, e.g. ``jpeg75``) → TP left after it, worst over the mimic sizes."""


def worst_progress(summary: Mapping[str, object]) -> float:
    """The lowest of the summary's target progress and every number under :data:`AFTER_REUPLOAD` (missing ones skipped)."""
    after = summary.get(AFTER_REUPLOAD) or {}
    numbers = [summary.get("target_progress"), *(after.values() if isinstance(after, Mapping) else ())]
    found = [float(n) for n in numbers if isinstance(n, int | float)]
    if not found:
        raise ValueError("the summary has no target progress to judge")
    return min(found)


def protection_verdict(summary: Mapping[str, object]) -> tuple[str, int]:
    """``("strong" | "moderate" | "weak", percent)``: the worst of the summary's numbers (:func:`worst_progress`),
    as a whole percentage of the way to the target (never below 0)."""
    worst = worst_progress(summary)
    word = "strong" if worst >= STRONG else "moderate" if worst >= MODERATE else "weak"
    return word, round(max(worst, 0.0) * 100)
