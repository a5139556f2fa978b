"""Protection audit: what a cloak achieves, what it costs, and what survives a mimic's countermeasures.

For an original x, its cloaked copy x′, an encoder Φ and a countermeasure C (identity for "none"),
applied to *both* images with the same seed:

    TP_C = 1 − ‖Φ(C(x′)) − t‖ / ‖Φ(C(x)) − t‖,   t = Φ(Ω(x, T))

measured at each size a mimic trains at (``mimic_sizes``: the long side the image is resized to, never
enlarged), with the target image Ω(x, T) rendered from the original at the size the mimic sees. Countermeasures
work on the saved full-resolution file, before the mimic's resize; the repost trip (``repost_1080``,
``repost_2048``: what a platform serves) may shrink it, and a mimic size above what was served is measured at
the served size. The summary's numbers are the worst (minimum) over the sizes, so no size where a cloak fails
can hide; the headline ``protection`` is the worst size after the repost trip, plain TP beside it as the floor.
On the encoders the cloak was optimised against this is the target progress; on the others (TAESana) the
transfer. TP = 0: no effect; 1: the mimic's encoder sees the target. Style progress SP (:mod:`.style_progress`)
measures the latent statistics a mimic learns instead of one target latent. Cost is PSNR and SSIM at full
resolution and the perceptual distance at the working resolution; ``visibility`` is the referee's
(:mod:`stylecloak.referee`). ``impress`` is purification (:mod:`stylecloak.transforms.purify`); ``robust_encoder``
measures through encoder copies an adaptive mimic robust-trained (:mod:`.robust_encoder`). With
:class:`~.mimic.MimicSettings` the audit also runs the latent style-mimic proxy, for partly cloaked
portfolios too (:mod:`.portfolio`).

>>> pairs, warnings = pair_files("art/", "protected/")
>>> report = audit(pairs, AuditSettings(target_style="cubist-facets"), weights_dir="../shared/models")
>>> report.summary["countermeasures"]["jpeg75"]["target_progress"]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..backbones import DEFAULT_BACKBONE, Backbone, encode_all, load_backbone, target_progress
from ..cloak import Target, get_method
from ..device import resolve_device
from ..errors import ConfigError, ImageError, StylecloakError
from ..geometry import Working, fit
from ..io import LoadedImage, load_image
from ..perceptual import PerceptualDistance, psnr, ssim
from ..progress import AuditProgress
from ..referee import visibility
from ..styles import Style, all_styles, get_style
from ..transforms import COUNTERMEASURES, purify
from .judge import (
    content_paintings,
    infer_artist,
    read_manifest,
    style_features,
)
from .mimic import LatentMoments, MimicSettings, mimic_study, tensor_key
from .portfolio import by_fraction, plan_portfolios, portfolio_sets, portfolio_summary
from .report import AuditReport, summary, worst
from .robust_encoder import (
    make_pairs,
    robust_copies,
    roundtrip_psnr,
    training_works,
)
from .settings import ADAPTIVE, AuditSettings
from .style_progress import style_progress, style_target

Image = LoadedImage | torch.Tensor | str | Path
"""An image file, a loaded image, or a (1,3,H,W) tensor in [0, 1]."""


@dataclass
class _Models:
    renderer: Backbone
    attacked: list[Backbone]
    transfer: list[Backbone]
    aim: Target
    """The method's target of a view (Ω(view, T) for glaze)."""
    style: Style | None
    """The target style (glaze); None for methods with a fixed target."""
    perceptual: PerceptualDistance
    memo: dict = field(default_factory=dict)
    """Results that depend only on their inputs (purified images), shared between audits by :func:`audit`'s ``memo``."""
    robust: dict[str, Backbone] = field(default_factory=dict)
    """Encoder name → its robust-trained copy (with ``robust_encoder``)."""

    @property
    def encoders(self) -> list[Backbone]:
        seen = {b.name: b for b in [*self.attacked, *self.transfer]}
        return list(seen.values())

    def multiple(self, encoder: Backbone) -> int:
        """Working copies for ``encoder`` are padded to this (Ω must also suit the renderer)."""
        return math.lcm(encoder.factor, self.renderer.factor)


def _models(settings: AuditSettings, weights_dir: str | Path | None, styles: dict[str, Style] | None, device: torch.device) -> _Models:
    renderer = load_backbone(settings.renderer, weights_dir=weights_dir, device=device)
    if not renderer.has_decoder:
        raise ConfigError(f"renderer {settings.renderer} has no decoder; use {DEFAULT_BACKBONE}")
    method = get_method(settings.method)
    return _Models(
        renderer=renderer,
        attacked=[load_backbone(n, weights_dir=weights_dir, device=device) for n in settings.backbones],
        transfer=[load_backbone(n, weights_dir=weights_dir, device=device) for n in settings.transfer if n not in settings.backbones],
        aim=method.aim(renderer, settings.target_style, all_styles(styles), settings.style_strength),
        style=get_style(settings.target_style, styles) if method.needs_style else None,
        perceptual=PerceptualDistance().to(device),
    )


def _load(image: Image) -> tuple[torch.Tensor, str]:
    if isinstance(image, torch.Tensor):
        return image, "image tensor"
    loaded = image if isinstance(image, LoadedImage) else load_image(image)
    return loaded.rgb, str(loaded.path) if loaded.path else "in-memory image"


def _progress_entry(models: _Models, by_encoder: dict[str, float], style_progress: float | None) -> dict:
    def mean(bbs: list[Backbone]) -> float | None:
        return round(sum(by_encoder[b.name] for b in bbs) / len(bbs), 4) if bbs else None

    return {
        "target_progress": mean(models.attacked),
        "style_progress": None if style_progress is None else round(style_progress, 4),
        "transfer_progress": mean(models.transfer),
        "by_encoder": {k: round(v, 4) for k, v in by_encoder.items()},
    }


def _purified(models: _Models, settings: AuditSettings, x: torch.Tensor, size: int) -> torch.Tensor:
    """IMPRESS-style purification of ``x`` at the mimic size ``size`` (long side); computed once per memo."""
    key = ("impress", tensor_key(x), size, settings.purify, models.renderer.name)
    if key not in models.memo:
        models.memo[key] = purify(Working.of(x, size, 1).image, models.renderer, settings.purify, models.perceptual)
    return models.memo[key]


def effective_sizes(shape: tuple[int, int], sizes: Iterable[int]) -> list[int]:
    """The distinct long sides an image of ``shape`` (h, w) is seen at by mimics training at ``sizes``."""
    return sorted({min(s, max(shape)) for s in sizes})


def _audit(
    models: _Models,
    settings: AuditSettings,
    x: torch.Tensor,
    xp: torch.Tensor,
    seed: int,
    keep: tuple[str, ...] = (),
    tick: Callable[[str], None] = lambda _: None,
) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """The record of one pair, and the renderer's latents of (C(x), C(x′)) at the smallest mimic size for each
    countermeasure in ``keep``."""
    renderer, device = models.renderer, models.renderer.device
    sizes = effective_sizes(tuple(x.shape[-2:]), settings.mimic_sizes)

    # 1. cost of the cloak: PSNR and SSIM at full resolution, perceptual distance at the largest mimic size
    work, seen = Working.of(x, sizes[-1], renderer.factor), Working.of(xp, sizes[-1], renderer.factor)
    with torch.no_grad():
        dist = float(models.perceptual(work.crop(work.image).to(device), seen.crop(seen.image).to(device)))
    cost = {
        "psnr_db": round(float(psnr(x, xp)), 2),
        "ssim": round(float(ssim(x, xp)), 4),
        "perceptual_distance": round(dist, 4),
        "visibility": visibility(x, xp),
    }

    # 2. at each mimic size: targets t = Φ(Ω(x, T)) at each view size (Ω rendered once per view size and working-copy
    #    multiple), then target and style progress with no countermeasure and after each, applied to both sides
    #    (classical ones once, at full resolution; one may change the image's size, as a repost does)
    classical = {name: tuple(COUNTERMEASURES[name](im, seed) for im in (x, xp)) for name in settings.countermeasures if name in COUNTERMEASURES}
    per_size: dict[str, dict] = {}
    kept: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for size in sizes:
        targets: dict[tuple[int, int], dict[Backbone, torch.Tensor]] = {}
        entries: dict[str, dict] = {}
        change: list[float] = []
        for name in ("none", *settings.countermeasures):
            if name in ("none", ADAPTIVE):
                xc, xpc = x, xp
            elif name in classical:
                xc, xpc = classical[name]
            else:
                xc, xpc = (_purified(models, settings, im.to(device), size) for im in (x, xp))
            by_encoder, seen = {}, None
            for e in models.encoders:
                works = Working.of(xc.to(device), size, models.multiple(e)), Working.of(xpc.to(device), size, models.multiple(e))
                if works[0].size not in targets:
                    targets[works[0].size] = _targets(models, settings, x, works[0].size)
                encoder = _encoder(models, e, name)
                z, zp = encode_all([encoder], torch.cat([w.image for w in works]), settings.bf16)[0].split(1)
                by_encoder[e.name] = target_progress(z, zp, targets[works[0].size][encoder])
                if name == "none" and e in models.attacked:
                    change.append(view_change(_unpadded(z, works[0], e.factor), _unpadded(zp, works[1], e.factor)))
                if e is renderer:
                    seen = (_unpadded(z, works[0], e.factor), _unpadded(zp, works[1], e.factor), works[0].size)
            if seen is None and (models.style is not None or (size == sizes[0] and name in keep)):
                works = Working.of(xc.to(device), size, renderer.factor), Working.of(xpc.to(device), size, renderer.factor)
                z, zp = (_unpadded(encode_all([_encoder(models, renderer, name)], w.image, settings.bf16)[0], w, renderer.factor) for w in works)
                seen = (z, zp, works[0].size)
            if size == sizes[0] and name in keep:
                kept[name] = seen[:2]
            sp = None
            if models.style is not None:
                style = style_target(_encoder(models, renderer, name), models.style, max(seen[2]), models.memo)
                sp = style_progress(seen[0], seen[1], style)
            entries[name] = _progress_entry(models, by_encoder, sp)
            if name == ADAPTIVE:  # the price of robustness: clean images' round trip through the robust encoder
                work = Working.of(x.to(device), size, renderer.factor)
                entries[name]["clean_roundtrip_psnr_db"] = round(roundtrip_psnr(renderer, models.robust[renderer.name], work.image, work.size, settings.bf16), 2)
            tick(name if len(sizes) == 1 else f"{name} @ {size} px")
        none = entries.pop("none")
        per_size[size] = {**none, "view_change": round(sum(change) / len(change), 4), "countermeasures": entries, "long_side": size}
    long = max(x.shape[-2:])
    by_request = {str(s): per_size[min(s, long)] for s in sorted(settings.mimic_sizes)}
    return {**worst(by_request), **cost, "sizes": by_request}, kept


def _targets(models: _Models, settings: AuditSettings, x: torch.Tensor, size: tuple[int, int]) -> dict[Backbone, torch.Tensor]:
    """t = Φ(Ω(x, T)) for every encoder (and its robust copy) with x brought to ``size`` (h, w), the view a mimic
    gets; Ω is rendered once per working-copy multiple."""
    device, omegas, targets = models.renderer.device, {}, {}
    for e in models.encoders:
        m = models.multiple(e)
        if m not in omegas:
            omegas[m] = _target_image(models, fit(x.to(device), size, m))
        for encoder in (e, *([models.robust[e.name]] if e.name in models.robust else [])):
            targets[encoder] = encode_all([encoder], omegas[m], settings.bf16)[0]
    return targets


def _target_image(models: _Models, view: torch.Tensor) -> torch.Tensor:
    """The image the cloak aimed the encoder's view of ``view`` at: Ω(view, T) for glaze, else the method's fixed target."""
    return models.aim(view, tuple(view.shape[-2:]))


def _encoder(models: _Models, e: Backbone, countermeasure: str) -> Backbone:
    """The encoder the mimic measures ``e``'s view with under ``countermeasure``: its robust copy for ``robust_encoder``."""
    return models.robust[e.name] if countermeasure == ADAPTIVE else e


def view_change(z: torch.Tensor, zp: torch.Tensor) -> float:
    """‖Φ(x′) − Φ(x)‖ / ‖Φ(x)‖ from the latents of original and cloak: how far the cloak moved the encoder's
    view, whatever it aimed at (a measure every method can be compared on)."""
    return float((zp - z).norm() / z.norm().clamp_min(1e-12))


def _unpadded(z: torch.Tensor, work: Working, factor: int) -> torch.Tensor:
    """Latents of a working copy without those of its padding."""
    return z[..., : -(-work.size[0] // factor), : -(-work.size[1] // factor)]


def audit_pair(
    original: Image,
    cloaked: Image,
    settings: AuditSettings,
    *,
    weights_dir: str | Path | None = None,
    styles: dict[str, Style] | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    robust_works: Sequence[Image] = (),
) -> dict:
    """Audit one original and its cloaked copy; returns the JSON-ready record (see :func:`audit`)."""
    models = _models(settings, weights_dir, styles, resolve_device(device))
    if ADAPTIVE in settings.countermeasures:
        _train_robust(models, settings, robust_works, weights_dir, styles)
    return _audit_loaded(models, settings, original, cloaked, settings.seed if seed is None else seed)[0]


def _train_robust(models: _Models, settings: AuditSettings, works: Sequence[Image], weights_dir: str | Path | None, styles: dict[str, Style] | None) -> dict:
    """Make the mimic's training pairs from ``works`` with stylecloak (the audited method and target) and
    robust-train a copy of every encoder (into ``models.robust``); returns the training record."""
    if not works:
        raise ConfigError(f"{ADAPTIVE}: the mimic needs works other than the audited ones to make training pairs from; pass --paintings DIR (a folder with MANIFEST.csv)")
    start = time.perf_counter()
    pairs = make_pairs([_load(w)[0] for w in works], settings.target_style, settings.backbones, settings.robust, method=settings.method, weights_dir=weights_dir, styles=styles, device=models.renderer.device)
    encoders = {b.name: b for b in [models.renderer, *models.encoders]}.values()
    models.robust, logs = robust_copies(list(encoders), models.multiple, lambda view: _target_image(models, view), pairs, settings.robust, settings.bf16)
    return {
        "pairs": [_load(w)[1] if not isinstance(w, torch.Tensor) else f"image tensor {i}" for i, w in enumerate(works)],
        "pair_size": settings.robust.pair_size,
        "encoders": logs,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _audit_loaded(
    models: _Models,
    settings: AuditSettings,
    original: Image,
    cloaked: Image,
    seed: int,
    keep: tuple[str, ...] = (),
    tick: Callable[[str], None] = lambda _: None,
) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    start = time.perf_counter()
    (x, x_name), (xp, xp_name) = _load(original), _load(cloaked)
    if x.shape != xp.shape:
        raise ImageError(
            f"{xp_name}: is {xp.shape[-1]}×{xp.shape[-2]} px but its original {x_name} is {x.shape[-1]}×{x.shape[-2]} px; "
            "pair each original with the cloaked copy made from it"
        )
    record, kept = _audit(models, settings, x, xp, seed, keep, tick)
    head = {"original": x_name, "cloaked": xp_name, "width": x.shape[-1], "height": x.shape[-2]}
    return {**head, **record, "seconds": round(time.perf_counter() - start, 2)}, kept, x



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
    models = _models(settings, weights_dir, styles, resolve_device(device))
    if memo is not None:
        models.memo = memo
    conditions = ("none", *settings.countermeasures)
    keep: tuple[str, ...] = ()
    victim, needs_features = "", False
    learned: dict[str, dict[str, LatentMoments]] = {}
    if mimic is not None:
        keep = mimic.countermeasures
        missing = [c for c in keep if c not in conditions]
        if missing:
            raise ConfigError(f"the mimic study needs countermeasure {missing[0]!r}; add it to --countermeasures")
        victim = mimic.artist or infer_artist([_path_of(o) for o, _ in pairs], read_manifest(mimic.paintings)) or ""
        if not victim:
            raise ConfigError(f"cannot tell whose works the originals are from {mimic.paintings}/MANIFEST.csv; pass --artist NAME")
        learned = {side: {c: LatentMoments() for c in keep} for side in ("clean", "cloaked")}
        needs_features = victim not in {p.artist for p in read_manifest(mimic.paintings)}
    robust_record = None
    if ADAPTIVE in settings.countermeasures:
        if robust_works is None and mimic is not None:
            robust_works = mimic.paintings
        if isinstance(robust_works, (str, Path)):
            folder = Path(robust_works)
            exclude = content_paintings(read_manifest(folder), victim, mimic.content) if mimic is not None else []
            robust_works = training_works(folder, {Path(_path_of(o)).stem for o, _ in pairs}, victim, settings.robust.pairs, exclude)
        robust_record = _train_robust(models, settings, list(robust_works or []), weights_dir, styles)

    per_pair = len(conditions) * len(set(settings.mimic_sizes))
    total = len(pairs) * per_pair + (mimic is not None)
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(label, done, total)

    images, warnings, victim_features = [], [], []
    latents: list[dict[str, tuple[torch.Tensor, torch.Tensor]]] = []  # per audited work, for partial portfolios
    for i, (original, cloaked) in enumerate(pairs):
        try:
            record, kept, x = _audit_loaded(models, settings, original, cloaked, settings.seed + i, keep, tick)
        except StylecloakError as exc:
            warnings.append(str(exc))
            done = (i + 1) * per_pair
            if progress is not None:
                progress("failed", done, total)
            continue
        done = (i + 1) * per_pair
        images.append(record)
        for c, (z, zp) in kept.items():
            learned["clean"][c].add(z)
            learned["cloaked"][c].add(zp)
        if kept:
            latents.append(kept)
        if mimic is not None and needs_features:
            victim_features.append(style_features([x], mimic.judge_size))
    if not images:
        raise ImageError(f"no pair could be audited: {warnings[0] if warnings else 'no pairs given'}")

    study = None
    if mimic is not None:
        features = torch.cat(victim_features) if victim_features else None
        plan = plan_portfolios(len(latents), mimic.fractions, mimic.draws, settings.seed) if mimic.fractions else None
        if plan is not None:
            learned.update(portfolio_sets(latents, plan))
        encoders = {ADAPTIVE: _encoder(models, models.renderer, ADAPTIVE)} if ADAPTIVE in keep else None
        study = mimic_study(models.renderer, learned, victim, mimic, min(settings.mimic_sizes), features, memo=models.memo, encoders=encoders)
        if plan is not None:
            study["by_fraction"], study["portfolio"] = by_fraction(study, plan), portfolio_summary(plan)
        del study["recognised"]
        tick("mimic")
    report_summary = summary(images, settings.countermeasures)
    return AuditReport(settings, images, report_summary, study, warnings, time.perf_counter() - start, robust_record)


def _path_of(image: Image) -> str:
    if isinstance(image, LoadedImage):
        return str(image.path or "")
    return "" if isinstance(image, torch.Tensor) else str(image)

