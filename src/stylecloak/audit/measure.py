"""Protection audit: what a cloak achieves, what it costs, and what survives a mimic's countermeasures.

For an original x, its cloaked copy x′, an encoder Φ and a countermeasure C (identity for "none"),
applied to *both* images with the same seed:

    TP_C = 1 − ‖Φ(C(x′)) − t‖ / ‖Φ(C(x)) − t‖,   t = Φ(Ω(x, T))

measured at each size a mimic trains at (``mimic_sizes``: the long side the image is resized to, never
enlarged), with the target image Ω(x, T) rendered from the original at that size by the TAEF2 decoder.
Headline numbers are the worst (minimum) over the sizes, so no size where a cloak fails can hide. On the encoders the cloak was optimised
against this is the target progress; on the others (TAESana) the transfer. TP = 0: no effect; 1: the
mimic's encoder sees the target. Cost is PSNR and SSIM at full resolution and the perceptual distance
at the working resolution. ``impress`` is purification (:mod:`stylecloak.transforms.purify`); with
:class:`~.mimic.MimicSettings` the audit also runs the latent style-mimic proxy.

>>> pairs, warnings = pair_files("art/", "protected/")
>>> report = audit(pairs, AuditSettings(target_style="cubist-facets"), weights_dir="../shared/models")
>>> report.summary["countermeasures"]["jpeg75"]["target_progress"]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..backbones import Backbone, encode_all, load_backbone, target_progress
from ..device import resolve_device
from ..errors import ConfigError, ImageError, StylecloakError
from ..geometry import Working
from ..io import LoadedImage, load_image
from ..perceptual import PerceptualDistance, psnr, ssim
from ..styles import LatentStats, Style, get_style, style_stats, style_transfer
from ..transforms import COUNTERMEASURES, PurifySettings, purify
from .judge import infer_artist, read_manifest, style_features
from .mimic import LatentMoments, MimicSettings, mimic_study
from .report import AuditReport, summary, worst

ALL_COUNTERMEASURES: tuple[str, ...] = (*COUNTERMEASURES, "impress")
"""Every countermeasure the audit knows: the classical ones of :mod:`stylecloak.transforms`, then purification."""

AuditProgress = Callable[[str, int, int], None]
"""Called with (what was just measured, units done, units in all)."""

Image = LoadedImage | torch.Tensor | str | Path
"""An image file, a loaded image, or a (1,3,H,W) tensor in [0, 1]."""


@dataclass(frozen=True)
class AuditSettings:
    """Everything that decides an audit's numbers; written into its report."""

    target_style: str
    """T: the style the cloak aimed at (from the artist profile or the protect report)."""
    backbones: tuple[str, ...] = ("taef2",)
    """Encoders the cloak was optimised against (target progress)."""
    transfer: tuple[str, ...] = ("taesana",)
    """Encoders the cloak was not optimised against (transfer)."""
    mimic_sizes: tuple[int, ...] = (512, 768, 1024)
    """Long sides (px) mimics train at; a size above an image's long side is measured once, at its own."""
    countermeasures: tuple[str, ...] = ALL_COUNTERMEASURES
    style_strength: float = 1.0
    seed: int = 0
    """Seed of the random countermeasures (image i uses seed + i, the same on both sides)."""
    bf16: bool = True
    """Encode under bfloat16 autocast (changes TP by < 0.001 and is several times faster on CPU)."""
    purify: PurifySettings = field(default_factory=PurifySettings)
    renderer: str = "taef2"
    """Backbone whose decoder renders Ω (and the mimic)."""

    def __post_init__(self) -> None:
        unknown = [c for c in self.countermeasures if c not in ALL_COUNTERMEASURES]
        if unknown:
            raise ConfigError(f"unknown countermeasure {unknown[0]!r}; choose from {', '.join(ALL_COUNTERMEASURES)}")
        if not self.backbones:
            raise ConfigError("no backbone to audit; pass the encoders the cloak was made against, e.g. --backbones taef2")
        if not self.mimic_sizes or min(self.mimic_sizes) < 32:
            raise ConfigError(f"mimic sizes {self.mimic_sizes} must be one or more long sides of at least 32 px (default 512,768,1024)")


def parse_countermeasures(spec: str) -> tuple[str, ...]:
    """``all``, ``none``, or a comma-separated list of names from :data:`ALL_COUNTERMEASURES`."""
    spec = spec.strip()
    if spec == "all":
        return ALL_COUNTERMEASURES
    names = tuple(n.strip() for n in spec.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in ALL_COUNTERMEASURES]
    if unknown:
        raise ConfigError(f"unknown countermeasure {unknown[0]!r}; choose all, none or from {', '.join(ALL_COUNTERMEASURES)}")
    return names


@dataclass
class _Models:
    renderer: Backbone
    attacked: list[Backbone]
    transfer: list[Backbone]
    stats: LatentStats
    perceptual: PerceptualDistance

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
        raise ConfigError(f"renderer {settings.renderer} has no decoder; use taef2")
    return _Models(
        renderer=renderer,
        attacked=[load_backbone(n, weights_dir=weights_dir, device=device) for n in settings.backbones],
        transfer=[load_backbone(n, weights_dir=weights_dir, device=device) for n in settings.transfer if n not in settings.backbones],
        stats=style_stats(renderer, get_style(settings.target_style, styles)),
        perceptual=PerceptualDistance().to(device),
    )


def _load(image: Image) -> tuple[torch.Tensor, str]:
    if isinstance(image, torch.Tensor):
        return image, "image tensor"
    loaded = image if isinstance(image, LoadedImage) else load_image(image)
    return loaded.rgb, str(loaded.path) if loaded.path else "in-memory image"


def _progress_entry(models: _Models, by_encoder: dict[str, float]) -> dict:
    def mean(bbs: list[Backbone]) -> float | None:
        return round(sum(by_encoder[b.name] for b in bbs) / len(bbs), 4) if bbs else None

    return {
        "target_progress": mean(models.attacked),
        "transfer_progress": mean(models.transfer),
        "by_encoder": {k: round(v, 4) for k, v in by_encoder.items()},
    }


def _purified(models: _Models, settings: AuditSettings, x: torch.Tensor, size: int) -> torch.Tensor:
    """IMPRESS-style purification of ``x`` at the mimic size ``size`` (long side)."""
    return purify(Working.of(x, size, 1).image, models.renderer, settings.purify, models.perceptual)


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
    }

    # 2. at each mimic size: targets t = Φ(Ω(x, T)) (Ω rendered once per working-copy multiple), then target progress
    #    with no countermeasure and after each, applied to both sides (classical ones once, at full resolution)
    classical = {name: tuple(COUNTERMEASURES[name](im, seed) for im in (x, xp)) for name in settings.countermeasures if name != "impress"}
    per_size: dict[str, dict] = {}
    kept: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for size in sizes:
        omegas: dict[int, torch.Tensor] = {}
        targets = {}
        for e in models.encoders:
            m = models.multiple(e)
            if m not in omegas:
                omegas[m] = style_transfer(renderer, Working.of(x, size, m).image.to(device), models.stats, settings.style_strength)
            targets[e.name] = encode_all([e], omegas[m], settings.bf16)[0]
        entries: dict[str, dict] = {}
        for name in ("none", *settings.countermeasures):
            if name == "none":
                xc, xpc = x, xp
            elif name in classical:
                xc, xpc = classical[name]
            else:
                xc, xpc = (_purified(models, settings, im.to(device), size) for im in (x, xp))
            by_encoder = {}
            for e in models.encoders:
                works = Working.of(xc.to(device), size, models.multiple(e)), Working.of(xpc.to(device), size, models.multiple(e))
                z, zp = encode_all([e], torch.cat([w.image for w in works]), settings.bf16)[0].split(1)
                by_encoder[e.name] = target_progress(z, zp, targets[e.name])
                if size == sizes[0] and name in keep and e is renderer:
                    kept[name] = (_unpadded(z, works[0], e.factor), _unpadded(zp, works[1], e.factor))
            if size == sizes[0] and name in keep and name not in kept:
                works = Working.of(xc.to(device), size, renderer.factor), Working.of(xpc.to(device), size, renderer.factor)
                z, zp = (_unpadded(encode_all([renderer], w.image, settings.bf16)[0], w, renderer.factor) for w in works)
                kept[name] = (z, zp)
            entries[name] = _progress_entry(models, by_encoder)
            tick(name if len(sizes) == 1 else f"{name} @ {size} px")
        none = entries.pop("none")
        per_size[size] = {**none, "countermeasures": entries, "long_side": size}
    long = max(x.shape[-2:])
    by_request = {str(s): per_size[min(s, long)] for s in sorted(settings.mimic_sizes)}
    return {**worst(by_request), **cost, "sizes": by_request}, kept



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
) -> dict:
    """Audit one original and its cloaked copy; returns the JSON-ready record (see :func:`audit`)."""
    return _audit_loaded(_models(settings, weights_dir, styles, resolve_device(device)), settings, original, cloaked, settings.seed if seed is None else seed)[0]


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
) -> AuditReport:
    """Audit (original, cloaked) pairs on ``device``; pairs that cannot be read become warnings.

    With ``mimic``, the originals must be one artist's works (``mimic.artist``, or inferred from the
    manifest by file name) and the latent style-mimic proxy runs on top (see :mod:`stylecloak.judge`).
    """
    start = time.perf_counter()
    pairs = list(pairs)
    models = _models(settings, weights_dir, styles, resolve_device(device))
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

    per_pair = len(conditions) * len(set(settings.mimic_sizes))
    total = len(pairs) * per_pair + (mimic is not None)
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(label, done, total)

    images, warnings, victim_features = [], [], []
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
        if mimic is not None and needs_features:
            victim_features.append(style_features([x], mimic.judge_size))
    if not images:
        raise ImageError(f"no pair could be audited: {warnings[0] if warnings else 'no pairs given'}")

    study = None
    if mimic is not None:
        study = mimic_study(models.renderer, learned, victim, mimic, min(settings.mimic_sizes), torch.cat(victim_features) if victim_features else None)
        tick("mimic")
    return AuditReport(settings, images, summary(images, settings.countermeasures), study, warnings, time.perf_counter() - start)


def _path_of(image: Image) -> str:
    if isinstance(image, LoadedImage):
        return str(image.path or "")
    return "" if isinstance(image, torch.Tensor) else str(image)

