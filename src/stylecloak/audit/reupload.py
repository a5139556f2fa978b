"""After protecting: what survives a re-upload, as a short audit of one image at the sizes mimics train at.

The checks are the clean-ups an image meets when it is posted and scraped: JPEG at quality 75, halving the
size, and the platforms' repost trips where the audit has them. Their worst numbers feed the protection gauge
(:func:`stylecloak.verdict.protection_verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..config import DEFAULT_METHOD, MIMIC_SIZES
from ..transforms import COUNTERMEASURES
from .batch import AuditProgress, audit
from .settings import AuditSettings

CHECKS: tuple[str, ...] = ("jpeg75", "downscale_half", *(name for name in COUNTERMEASURES if name.startswith("repost")))
"""JPEG at quality 75, halving the size then restoring it, and every repost trip the audit knows."""


def short_audit(
    original: Path,
    protected: Path,
    style: str,
    sizes: Sequence[int] = MIMIC_SIZES,
    weights_dir: str | Path | None = None,
    progress: AuditProgress | None = None,
    *,
    method: str = DEFAULT_METHOD,
    device: str | torch.device = "cpu",
) -> dict:
    """Target progress, and what remains of it after each of :data:`CHECKS`, at each mimic size the image is
    seen at (long side, px; sizes above the image's own are measured once, at its size); ``worst`` holds the
    minimum over the sizes of each."""
    settings = AuditSettings(target_style=style, method=method, transfer=(), countermeasures=CHECKS, mimic_sizes=tuple(sizes))
    report = audit([(original, protected)], settings, weights_dir=weights_dir, progress=progress, device=device)
    summary = report.summary
    per_size = {
        str(entry["long_side"]): {"target_progress": entry["target_progress"], **{c: entry["countermeasures"][c]["target_progress"] for c in CHECKS}}
        for entry in report.images[0]["sizes"].values()
    }
    worst = {k: min(v[k] for v in per_size.values()) for k in ("target_progress", *CHECKS)}
    return {
        "target_style": style,
        "backbones": list(settings.backbones),
        "checks": list(CHECKS),
        "psnr_db": summary["psnr_db"],
        "ssim": summary["ssim"],
        "perceptual_distance": summary["perceptual_distance"],
        "sizes": per_size,
        "worst": worst,
    }


def after_reupload(checked: dict) -> dict[str, float]:
    """A :func:`short_audit`'s worst TP after each check: the summary's ``after_reupload`` numbers."""
    return {name: checked["worst"][name] for name in checked["checks"]}
