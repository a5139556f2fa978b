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
measures through encoder copies an adaptive mimic robust-trained (:mod:`.robust_encoder`); ``learned_cleaner``
applies a cleaner network trained on stylecloak's own cloaks (:mod:`.learned`). With
:class:`~.mimic.MimicSettings` the audit also runs the latent style-mimic proxy, for partly cloaked
portfolios too (:mod:`.portfolio`); :func:`~.batch.audit` measures many pairs.

>>> record = audit_pair("art/a.png", "protected/a.png", AuditSettings(target_style="cubist-facets"))
>>> record["countermeasures"]["jpeg75"]["target_progress"]
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
from ..errors import ConfigError, ImageError
from ..geometry import Working, fit
from ..io import LoadedImage, load_image
from ..perceptual import PerceptualDistance, psnr, ssim
from ..referee import visibility
from ..styles import Style, all_styles, get_style
from ..transforms import COUNTERMEASURES, purify
from .cleaner import Cleaner, clean
from .learned import train_attacker
from .mimic import tensor_key
from .report import worst
from .robust_encoder import (
    make_pairs,
    robust_copies,
    roundtrip_psnr,
)
from .settings import ADAPTIVE, LEARNED, AuditSettings
from .style_progress import style_progress, style_target

Image = LoadedImage | torch.Tensor | str | Path
"""An image file, a loaded image, or a (1,3,H,W) tensor in [0, 1]."""


@dataclass
class Models:
    """The audit's loaded models: the renderer of targets, the encoders measured, and what they share."""

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
    cleaner: Cleaner | None = None
    """The learned attacker's cleaner (with ``learned_cleaner``)."""

    @property
    def encoders(self) -> list[Backbone]:
        seen = {b.name: b for b in [*self.attacked, *self.transfer]}
        return list(seen.values())

    def multiple(self, encoder: Backbone) -> int:
        """Working copies for ``encoder`` are padded to this (Ω must also suit the renderer)."""
        return math.lcm(encoder.factor, self.renderer.factor)


def load_models(settings: AuditSettings, weights_dir: str | Path | None, styles: dict[str, Style] | None, device: torch.device) -> Models:
    renderer = load_backbone(settings.renderer, weights_dir=weights_dir, device=device)
    if not renderer.has_decoder:
        raise ConfigError(f"renderer {settings.renderer} has no decoder; use {DEFAULT_BACKBONE}")
    method = get_method(settings.method)
    return Models(
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
    loaded = load_image(image)
    return loaded.rgb, str(loaded.path) if loaded.path else "in-memory image"


def _progress_entry(models: Models, by_encoder: dict[str, float], style_progress: float | None) -> dict:
    def mean(bbs: list[Backbone]) -> float | None:
        return round(sum(by_encoder[b.name] for b in bbs) / len(bbs), 4) if bbs else None

    return {
        "target_progress": mean(models.attacked),
        "style_progress": None if style_progress is None else round(style_progress, 4),
        "transfer_progress": mean(models.transfer),
        "by_encoder": {k: round(v, 4) for k, v in by_encoder.items()},
    }


def _purified(models: Models, settings: AuditSettings, x: torch.Tensor, size: int) -> torch.Tensor:
    """IMPRESS-style purification of ``x`` at the mimic size ``size`` (long side); computed once per memo."""
    key = ("impress", tensor_key(x), size, settings.purify, models.renderer.name)
    if key not in models.memo:
        models.memo[key] = purify(Working.of(x, size, 1).image, models.renderer, settings.purify, models.perceptual)
    return models.memo[key]


def effective_sizes(shape: tuple[int, int], sizes: Iterable[int]) -> list[int]:
    """The distinct long sides an image of ``shape`` (h, w) is seen at by mimics training at ``sizes``."""
    return sorted({min(s, max(shape)) for s in sizes})


def _audit(
    models: Models,
    settings: AuditSettings,
    x: torch.Tensor,
    xp: torch.Tensor,
    seed: int,
    keep: tuple[str, ...] = (),
    tick: Callable[[str], None] = lambda _: None,
) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """The record of one pair, and the renderer's latents of (C(x), C(x′)) at the smallest mimic size for each
    countermeasure in ``keep``."""
    sizes = effective_sizes((x.shape[-2], x.shape[-1]), settings.mimic_sizes)
    cost = _cost(models, x, xp, sizes[-1])

    # 2. at each mimic size: targets t = Φ(Ω(x, T)) at each view size (Ω rendered once per view size and working-copy
    #    multiple), then target and style progress with no countermeasure and after each, applied to both sides
    #    (classical ones once, at full resolution; one may change the image's size, as a repost does)
    classical = {name: (COUNTERMEASURES[name](x, seed), COUNTERMEASURES[name](xp, seed)) for name in settings.countermeasures if name in COUNTERMEASURES}
    if models.cleaner is not None and LEARNED in settings.countermeasures:
        classical[LEARNED] = (clean(models.cleaner, x), clean(models.cleaner, xp))
    per_size: dict[int, dict] = {}
    kept: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for size in sizes:

        def told(name: str, size: int = size) -> None:
            tick(name if len(sizes) == 1 else f"{name} @ {size} px")

        per_size[size] = _at_size(models, settings, (x, xp), size, classical, keep if size == sizes[0] else (), kept, told)
    long = max(x.shape[-2:])
    by_request = {str(s): per_size[min(s, long)] for s in sorted(settings.mimic_sizes)}
    return {**worst(by_request), **cost, "sizes": by_request}, kept


def _cost(models: Models, x: torch.Tensor, xp: torch.Tensor, size: int) -> dict:
    """1. The cloak's cost: PSNR and SSIM at full resolution, perceptual distance at the (largest) mimic size ``size``."""
    device, factor = models.renderer.device, models.renderer.factor
    work, seen = Working.of(x, size, factor), Working.of(xp, size, factor)
    with torch.no_grad():
        dist = float(models.perceptual(work.crop(work.image).to(device), seen.crop(seen.image).to(device)))
    return {
        "psnr_db": round(float(psnr(x, xp)), 2),
        "ssim": round(float(ssim(x, xp)), 4),
        "perceptual_distance": round(dist, 4),
        "visibility": visibility(x, xp),
    }


def _at_size(
    models: Models,
    settings: AuditSettings,
    pair: tuple[torch.Tensor, torch.Tensor],
    size: int,
    classical: dict[str, tuple[torch.Tensor, torch.Tensor]],
    keep: tuple[str, ...],
    kept: dict[str, tuple[torch.Tensor, torch.Tensor]],
    tick: Callable[[str], None],
) -> dict:
    """The record at one mimic size: progress with no countermeasure, the view change, and each countermeasure's
    entry; the renderer's latents of the countermeasures in ``keep`` go into ``kept``."""
    targets: dict[tuple[int, int], dict[Backbone, torch.Tensor]] = {}
    entries: dict[str, dict] = {}
    change: list[float] = []
    for name in ("none", *settings.countermeasures):
        countered = _countered(models, settings, pair, size, classical, name)
        entries[name], seen = _condition(models, settings, pair[0], countered, size, name, targets, change, name in keep)
        if name in keep and seen is not None:
            kept[name] = seen[:2]
        tick(name)
    none = entries.pop("none")
    return {**none, "view_change": round(sum(change) / len(change), 4), "countermeasures": entries, "long_side": size}


def _countered(
    models: Models, settings: AuditSettings, pair: tuple[torch.Tensor, torch.Tensor], size: int, classical: dict, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(C(x), C(x′)) for countermeasure ``name``: the pair itself for none and the robust encoder (it changes the
    mimic, not the images), a classical one or the learned cleaner applied once, or purification at ``size``."""
    if name in ("none", ADAPTIVE):
        return pair
    if name in classical:
        return classical[name]
    x, xp = pair
    return _purified(models, settings, x.to(models.renderer.device), size), _purified(models, settings, xp.to(models.renderer.device), size)


def _condition(
    models: Models,
    settings: AuditSettings,
    x: torch.Tensor,
    countered: tuple[torch.Tensor, torch.Tensor],
    size: int,
    name: str,
    targets: dict,
    change: list[float],
    keep: bool,
) -> tuple[dict, tuple | None]:
    """One countermeasure's entry at one mimic size (target progress per encoder, style progress), and the renderer's
    unpadded latents of (C(x), C(x′)) with their size; no countermeasure adds each attacked encoder's view change
    to ``change``. ``targets`` caches t per working-copy size."""
    renderer, device = models.renderer, models.renderer.device
    xc, xpc = countered
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
    if seen is None and (models.style is not None or keep):
        works = Working.of(xc.to(device), size, renderer.factor), Working.of(xpc.to(device), size, renderer.factor)
        z, zp = (_unpadded(encode_all([_encoder(models, renderer, name)], w.image, settings.bf16)[0], w, renderer.factor) for w in works)
        seen = (z, zp, works[0].size)
    sp = None
    if models.style is not None and seen is not None:
        style = style_target(_encoder(models, renderer, name), models.style, max(seen[2]), models.memo)
        sp = style_progress(seen[0], seen[1], style)
    entry = _progress_entry(models, by_encoder, sp)
    if name == ADAPTIVE:  # the price of robustness: clean images' round trip through the robust encoder
        work = Working.of(x.to(device), size, renderer.factor)
        entry["clean_roundtrip_psnr_db"] = round(roundtrip_psnr(renderer, models.robust[renderer.name], work.image, work.size, settings.bf16), 2)
    if name == LEARNED:  # the cleaner's own damage: a cleaned clean image against the clean one, at the mimic size
        entry["cleaned_clean_psnr_db"] = round(float(psnr(Working.of(xc, size, 1).image, Working.of(x, size, 1).image)), 2)
    return entry, seen


def _targets(models: Models, settings: AuditSettings, x: torch.Tensor, size: tuple[int, int]) -> dict[Backbone, torch.Tensor]:
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


def _target_image(models: Models, view: torch.Tensor) -> torch.Tensor:
    """The image the cloak aimed the encoder's view of ``view`` at: Ω(view, T) for glaze, else the method's fixed target."""
    return models.aim(view, (view.shape[-2], view.shape[-1]))


def _encoder(models: Models, e: Backbone, countermeasure: str) -> Backbone:
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
    """Audit one original and its cloaked copy; returns the JSON-ready record (see :func:`audit`). The adaptive
    countermeasures train on ``robust_works``."""
    models = load_models(settings, weights_dir, styles, resolve_device(device))
    if ADAPTIVE in settings.countermeasures:
        train_robust(models, settings, robust_works, weights_dir, styles)
    if LEARNED in settings.countermeasures:
        works = [load_image(w) for w in robust_works]
        models.cleaner = train_attacker(works, settings, models.attacked, weights_dir=weights_dir, styles=styles, device=models.renderer.device).cleaner
    return audit_loaded(models, settings, original, cloaked, settings.seed if seed is None else seed)[0]


def train_robust(models: Models, settings: AuditSettings, works: Sequence[Image], weights_dir: str | Path | None, styles: dict[str, Style] | None) -> dict:
    """Make the mimic's training pairs from ``works`` with stylecloak (the audited method and target) and
    robust-train a copy of every encoder (into ``models.robust``); returns the training record."""
    if not works:
        raise ConfigError(
            f"{ADAPTIVE}: the mimic needs works other than the audited ones to make training pairs from; pass --paintings DIR (a folder with MANIFEST.csv)"
        )
    start = time.perf_counter()
    pairs = make_pairs(
        [_load(w)[0] for w in works],
        settings.target_style,
        settings.backbones,
        settings.robust,
        method=settings.method,
        weights_dir=weights_dir,
        styles=styles,
        device=models.renderer.device,
    )
    encoders = {b.name: b for b in [models.renderer, *models.encoders]}.values()
    models.robust, logs = robust_copies(list(encoders), models.multiple, lambda view: _target_image(models, view), pairs, settings.robust, settings.bf16)
    return {
        "pairs": [_load(w)[1] if not isinstance(w, torch.Tensor) else f"image tensor {i}" for i, w in enumerate(works)],
        "pair_size": settings.robust.pair_size,
        "encoders": logs,
        "seconds": round(time.perf_counter() - start, 1),
    }


def audit_loaded(
    models: Models,
    settings: AuditSettings,
    original: Image,
    cloaked: Image,
    seed: int,
    keep: tuple[str, ...] = (),
    tick: Callable[[str], None] = lambda _: None,
) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]:
    """The record of one pair read from its images (:func:`_audit`), the latents kept, and the pair's pixels."""
    start = time.perf_counter()
    (x, x_name), (xp, xp_name) = _load(original), _load(cloaked)
    if x.shape != xp.shape:
        raise ImageError(
            f"{xp_name}: is {xp.shape[-1]}×{xp.shape[-2]} px but its original {x_name} is {x.shape[-1]}×{x.shape[-2]} px; "
            "pair each original with the cloaked copy made from it"
        )
    record, kept = _audit(models, settings, x, xp, seed, keep, tick)
    head = {"original": x_name, "cloaked": xp_name, "width": x.shape[-1], "height": x.shape[-2]}
    return {**head, **record, "seconds": round(time.perf_counter() - start, 2)}, kept, (x, xp)
