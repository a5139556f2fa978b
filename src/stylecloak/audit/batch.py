"""The audit of many pairs: each measured (:mod:`.measure`), the adaptive mimic trained first where asked, and
the latent style-mimic proxy on top (:mod:`.mimic`, :mod:`.portfolio`).

>>> pairs, warnings = pair_files("art/", "protected/")
>>> report = audit(pairs, AuditSettings(target_style="cubist-facets"), weights_dir="../shared/models")
>>> report.summary["countermeasures"]["jpeg75"]["target_progress"]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..device import resolve_device
from ..errors import ConfigError, ImageError, StylecloakError
from ..io import LoadedImage, load_image
from ..progress import AuditProgress
from ..styles import Style
from .detector import Detection
from .judge import content_paintings, infer_artist, read_manifest, style_features
from .learned import train_attacker
from .measure import Image, Models, audit_loaded, load_models, train_robust
from .mimic import LatentMoments, MimicSettings, mimic_study
from .portfolio import by_fraction, plan_portfolios, portfolio_sets, portfolio_summary
from .report import AuditReport, summary
from .robust_encoder import training_works
from .settings import ADAPTIVE, LEARNED, AuditSettings


def audit(
    pairs: Iterable[tuple[Image, Image]],
    settings: AuditSettings,
    *,
    mimic: MimicSettings | None = None,
    weights_dir: str | Path | None = None,
    styles: dict[str, Style] | None = None,
    progress: AuditProgress | None = None,
    device: str | torch.device = "cpu",
    memo: dict | None = None,
    robust_works: Sequence[Image] | str | Path | None = None,
) -> AuditReport:
    """Audit (original, cloaked) pairs on ``device``; pairs that cannot be read become warnings.

    ``memo``: a dict kept between audits of the same originals (e.g. cloaks made by several methods):
    work that depends only on an original (its purification, the clean mimic's renders) is done once.

    With ``mimic``, the originals must be one artist's works (``mimic.artist``, or inferred from the
    manifest by file name) and the latent style-mimic proxy runs on top (see :mod:`.mimic`), for each
    share of the portfolio cloaked in ``mimic.fractions`` too (:mod:`.portfolio`). With the
    ``robust_encoder`` countermeasure, the mimic makes its training pairs from ``robust_works`` (images, or a
    folder with MANIFEST.csv to choose ``settings.robust.pairs`` works from; default ``mimic.paintings``),
    never from the audited works or the mimic's content.
    """
    start = time.perf_counter()
    pairs = list(pairs)
    models = load_models(settings, weights_dir, styles, resolve_device(device))
    if memo is not None:
        models.memo = memo
    # 1. whose works the originals are (for the mimic study); 2. the adaptive mimic's encoders, trained first
    victim, needs_features = _victim(mimic, pairs, settings) if mimic is not None else ("", False)
    robust_record, attacker = None, None
    if ADAPTIVE in settings.countermeasures:
        works = _robust_works(robust_works, mimic, pairs, victim, settings.robust.pairs)
        robust_record = train_robust(models, settings, works, weights_dir, styles)
    if LEARNED in settings.countermeasures:  # the learned attacker: a cleaner, and a detector tested on the pairs below
        works = _robust_works(robust_works, mimic, pairs, victim, settings.cleaner.works + settings.cleaner.held_out)
        attacker = train_attacker(
            [load_image(w) for w in works], settings, models.attacked, weights_dir=weights_dir, styles=styles, device=models.renderer.device, progress=progress
        )
        models.cleaner = attacker.cleaner
    # 3. each pair measured; 4. the mimic study on what the mimic learned from them
    tick = _Ticker(progress, len(pairs) * (1 + len(settings.countermeasures)) * len(set(settings.mimic_sizes)) + (mimic is not None))
    detection = attacker.detection(len(pairs), settings.mimic_sizes) if attacker is not None else None
    measured = _measure_pairs(models, settings, pairs, mimic, needs_features, tick, detection)
    study = None
    if mimic is not None:
        study = _study(models, settings, mimic, victim, measured)
        tick("mimic")
    report_summary = summary(measured.images, settings.countermeasures)
    learned = {"learned_cleaner": attacker.record, "detection": detection.block()} if attacker is not None and detection is not None else {}
    return AuditReport(settings, measured.images, report_summary, study, measured.warnings, time.perf_counter() - start, robust_record, **learned)


@dataclass
class _Ticker:
    """Counts the audit's finished measurements for ``progress`` (label, done, total)."""

    progress: AuditProgress | None
    total: int
    done: int = 0

    def __call__(self, label: str) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(label, self.done, self.total)

    def reach(self, done: int, label: str | None = None) -> None:
        """Count up to ``done`` (a pair's measurements all finished, or skipped), telling ``progress`` if ``label`` is given."""
        self.done = done
        if label is not None and self.progress is not None:
            self.progress(label, done, self.total)


@dataclass
class _Measured:
    """What the pairs gave: their records and warnings, and what the mimic study learns from them."""

    learned: dict[str, dict[str, LatentMoments]]
    """Side (clean, cloaked) → countermeasure → the latent moments a mimic learns."""
    images: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    features: list[torch.Tensor] = field(default_factory=list)
    """The judge's features of the victim's works, where the manifest does not hold them."""
    latents: list[dict[str, tuple[torch.Tensor, torch.Tensor]]] = field(default_factory=list)
    """Per audited work, for partial portfolios."""


def _victim(mimic: MimicSettings, pairs: list[tuple[Image, Image]], settings: AuditSettings) -> tuple[str, bool]:
    """Whose works the originals are, and whether the judge must learn their features from the audited works (the
    artist is not in the manifest)."""
    missing = [c for c in mimic.countermeasures if c not in ("none", *settings.countermeasures)]
    if missing:
        raise ConfigError(f"the mimic study needs countermeasure {missing[0]!r}; add it to --countermeasures")
    victim = mimic.artist or infer_artist([_path_of(o) for o, _ in pairs], read_manifest(mimic.paintings)) or ""
    if not victim:
        raise ConfigError(f"cannot tell whose works the originals are from {mimic.paintings}/MANIFEST.csv; pass --artist NAME")
    return victim, victim not in {p.artist for p in read_manifest(mimic.paintings)}


def _robust_works(
    works: Sequence[Image] | str | Path | None, mimic: MimicSettings | None, pairs: list[tuple[Image, Image]], victim: str, count: int
) -> list[Image]:
    """The works an adaptive mimic makes its training pairs from: those given, or ``count`` chosen from a folder
    with MANIFEST.csv (default ``mimic.paintings``), never the audited works (by content) or the mimic's content."""
    if works is None and mimic is not None:
        works = mimic.paintings
    if isinstance(works, (str, Path)):
        folder = Path(works)
        exclude = content_paintings(read_manifest(folder), victim, mimic.content) if mimic is not None else []
        works = training_works(folder, [load_image(o) for o, _ in pairs], victim, count, exclude)
    return list(works or [])


def _measure_pairs(
    models: Models,
    settings: AuditSettings,
    pairs: list[tuple[Image, Image]],
    mimic: MimicSettings | None,
    needs_features: bool,
    tick: _Ticker,
    detection: Detection | None = None,
) -> _Measured:
    """Each pair measured (:func:`~.measure.audit_loaded`) and given to ``detection``; one that cannot be read becomes a warning."""
    keep = mimic.countermeasures if mimic is not None else ()
    per_pair = (1 + len(settings.countermeasures)) * len(set(settings.mimic_sizes))
    measured = _Measured(learned={side: {c: LatentMoments() for c in keep} for side in ("clean", "cloaked")} if mimic is not None else {})
    for i, (original, cloaked) in enumerate(pairs):
        try:
            record, kept, (x, xp) = audit_loaded(models, settings, original, cloaked, settings.seed + i, keep, tick)
        except StylecloakError as exc:
            measured.warnings.append(str(exc))
            tick.reach((i + 1) * per_pair, "failed")
            continue
        tick.reach((i + 1) * per_pair)
        measured.images.append(record)
        if detection is not None:
            detection.add(x, xp)
        for c, (z, zp) in kept.items():
            measured.learned["clean"][c].add(z)
            measured.learned["cloaked"][c].add(zp)
        if kept:
            measured.latents.append(kept)
        if mimic is not None and needs_features:
            measured.features.append(style_features([x], mimic.judge_size))
    if not measured.images:
        raise ImageError(f"no pair could be audited: {measured.warnings[0] if measured.warnings else 'no pairs given'}")
    return measured


def _study(models: Models, settings: AuditSettings, mimic: MimicSettings, victim: str, measured: _Measured) -> dict:
    """The latent style-mimic proxy on what the mimic learned, by share of the portfolio cloaked where asked."""
    features = torch.cat(measured.features) if measured.features else None
    plan = plan_portfolios(len(measured.latents), mimic.fractions, mimic.draws, settings.seed) if mimic.fractions else None
    if plan is not None:
        measured.learned.update(portfolio_sets(measured.latents, plan))
    encoders = {ADAPTIVE: models.robust[models.renderer.name]} if ADAPTIVE in mimic.countermeasures else None
    study = mimic_study(models.renderer, measured.learned, victim, mimic, min(settings.mimic_sizes), features, memo=models.memo, encoders=encoders)
    if plan is not None:
        study["by_fraction"], study["portfolio"] = by_fraction(study, plan), portfolio_summary(plan)
    del study["recognised"]
    return study


def _path_of(image: Image) -> str:
    if isinstance(image, LoadedImage):
        return str(image.path or "")
    return "" if isinstance(image, torch.Tensor) else str(image)
