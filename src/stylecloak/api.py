"""Public entry points: :func:`protect` one image, or a :class:`Protector` for many.

>>> result = protect("painting.png", ProtectSettings(target_style="cubist-facets"))
>>> result.save("out/painting.png")
>>> result.target_progress, result.psnr_db
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields, replace
from pathlib import Path

import torch
from PIL import Image

from .backbones import DEFAULT_BACKBONE, Backbone, encode_all, load_backbone, target_progress
from .cloak import Method, ViewLatents, get_method, mimic_views, optimise
from .config import CloakSettings, ProtectSettings
from .device import keep_cpu_memory, make_deterministic, release_memory, resolve_device, use_bf16
from .errors import ConfigError, StylecloakError
from .geometry import Working, view_of
from .io import MAX_PIXELS, LoadedImage, iter_images, load_image
from .perceptual import load_perceptual, psnr
from .progress import Progress
from .protectability import PILOT, Assessment, advice, assess
from .result import ProtectResult, SavedFile, provenance, settings_dict
from .styles import (
    ArtistProfile,
    Style,
    all_styles,
    find_profile,
    get_style,
    load_profile,
    save_profile,
    select_target,
)

__all__ = ["ArtistImage", "ProtectResult", "Protector", "SavedFile", "Source", "given_target", "protect", "provenance", "settings_dict", "style_sample"]

log = logging.getLogger(__name__)

STYLE_SAMPLE = 8
"""At most this many of an artist's images are used to choose the target style (the first ones given)..."""
STYLE_SAMPLE_SIDE = 512
"""...each brought to this long side (px), as a mimic would train: a fixed analysis size, so the choice
does not depend on the resolution the images happen to come in."""

UNSPENT_DB = 0.5
"""A cloak whose PSNR is this far above the floor left energy unspent (see :func:`_retry`)."""
RETRY_TEXTURE = 0.8
"""Art with a smaller share of textured area (:func:`~stylecloak.protectability.assess`) gets a second round when
weak even at the PSNR floor: line art and flat colour measured 0.11–0.83, paintings and prints 0.88–1.0."""

COPY_FIELDS = frozenset({"target_style", "metadata", "optout", "record_settings", "creator", "rights", "credentials"})
"""The :class:`ProtectSettings` fields a :meth:`Protector.with_settings` copy may change: the target style and what an
output's metadata says. The others choose the models and the cloak's parameters, fixed when a Protector is made."""
NO_TARGET = "no target style: decide it once for the run with Protector.resolve_target(images, artist=...) and protect with the settings it returns"

Source = LoadedImage | str | Path | Image.Image | torch.Tensor
"""An image to protect: a file, a PIL image, a (1,3,H,W) or (3,H,W) float tensor in [0, 1], or an image already loaded."""

ArtistImage = LoadedImage | torch.Tensor | str | Path
"""An image of the artist for target selection: loaded, a (1,3,H,W) tensor in [0, 1], or a file or folder."""


class Protector:
    """Loaded models and settings, reused across many images.

    ``extra_backbones``: encoders built in code that the cloak is also optimised against, after those the settings
    name (e.g. an encoder behind a frozen cleaner network, for a cloak that adapts to it); moved to the device. Progress
    is still measured on the first named backbone, and only the named ones are recorded in the outputs' settings.
    """

    def __init__(
        self,
        settings: ProtectSettings | None = None,
        *,
        weights_dir: str | Path | None = None,
        styles: dict[str, Style] | None = None,
        device: str | torch.device = "auto",
        extra_backbones: Sequence[Backbone] = (),
    ):
        settings = settings or ProtectSettings()
        self.method: Method = get_method(settings.method)
        self.device = resolve_device(device)
        make_deterministic(self.device)
        keep_cpu_memory(self.device)
        name, perceptual = load_perceptual(settings.perceptual)
        self.perceptual = perceptual.to(self.device)
        self.settings = replace(settings, perceptual=name)
        self.cloak_settings: CloakSettings = self.settings.cloak
        use_bf16(self.device, self.cloak_settings.precision)  # bf16 where it is not native: refused before loading models
        if not self.settings.backbones:
            raise ConfigError(f"no backbone given; use e.g. --backbones {DEFAULT_BACKBONE}")
        self.backbones: list[Backbone] = [load_backbone(n, weights_dir=weights_dir, device=self.device) for n in self.settings.backbones]
        self.backbones += [b.to(self.device) for b in extra_backbones]
        renderer = next((b for b in self.backbones if b.has_decoder), None)
        if renderer is None:
            raise ConfigError(f"no backbone with a decoder in the list; include {DEFAULT_BACKBONE} (or another with a decoder) to render targets")
        self.renderer: Backbone = renderer
        self.multiple = max(b.factor for b in self.backbones)
        self.styles = all_styles(styles)
        self.settings = replace(self.settings, target_style=given_target(self.method, self.settings.target_style, self.styles))

    def with_settings(self, settings: ProtectSettings) -> Protector:
        """This protector, its models shared, with ``settings`` (e.g. those of :meth:`resolve_target`): they may
        differ from its own only in :data:`COPY_FIELDS`."""
        changed = sorted(f.name for f in fields(settings) if getattr(settings, f.name) != getattr(self.settings, f.name))
        refused = [name for name in changed if name not in COPY_FIELDS]
        if refused:
            raise ConfigError(f"{', '.join(refused)}: fixed when a Protector is made; make a new one (a copy may change only {', '.join(sorted(COPY_FIELDS))})")
        clone = copy.copy(self)
        clone.settings = replace(settings, target_style=given_target(self.method, settings.target_style, self.styles))
        return clone

    def resolve_target(
        self, images: Iterable[ArtistImage] = (), *, artist: str = "default", profile: str | Path | None = None, max_pixels: int = MAX_PIXELS
    ) -> ProtectSettings:
        """The run's settings with its target style decided, once for a whole run: the settings' own style (a
        fixed-target method's label, or the style given, checked on construction), else the artist profile's,
        chosen from ``images`` the first time (:meth:`choose_target`). Every entry point (``protect()``, the CLI,
        the web app) decides here, then carries the answer in the settings (:meth:`with_settings`)."""
        if self.settings.target_style is not None:
            return self.settings
        chosen = self.choose_target(images, artist=artist, profile=profile, max_pixels=max_pixels)
        return replace(self.settings, target_style=chosen.target_style)

    def choose_target(
        self,
        images: Iterable[ArtistImage],
        *,
        artist: str = "default",
        profile: str | Path | None = None,
        exclude: str | Path | None = None,
        max_pixels: int = MAX_PIXELS,
    ) -> ArtistProfile:
        """The artist's target style: from the profile if one exists, else chosen (Glaze §5.3) from
        :func:`style_sample` of ``images`` and saved; :meth:`resolve_target` asks here when the settings name none."""
        path = Path(profile) if profile else find_profile(artist)
        existing = load_profile(path)
        if existing is not None:
            if existing.target_style not in self.styles:
                raise ConfigError(f"{path}: target style {existing.target_style!r} is unknown here; pass its --style-dir or delete the profile")
            return existing
        sample = style_sample(images, exclude=exclude, max_pixels=max_pixels)
        if not sample:
            raise ConfigError("cannot choose a target style without images of the artist")
        chosen = select_target(self.renderer, sample, self.styles, artist=artist, seed=self.settings.seed)
        save_profile(chosen, path)
        log.info("artist %r: target style %s chosen from %d image(s), saved in %s", artist, chosen.target_style, len(sample), path)
        return chosen

    def _scorer(self, work: Working, views: dict, latents: ViewLatents, s: CloakSettings) -> Callable[[torch.Tensor], dict[int, float]]:
        """Target progress at each view size (long side) on the first backbone, as mimics would see it, of an image at
        the working resolution (padded like ``work``), in fp32, toward the latents the cloak aimed at: the optimiser's
        ``latents`` where it encodes in fp32, else the same (:class:`ViewLatents`) encoded in fp32 once here."""
        encoder = self.backbones[0]
        if use_bf16(self.device, s.precision):  # the optimiser's latents are bf16 ones: measure against fp32 ones
            latents = ViewLatents.of(work.image, list(views.values()), [encoder], replace(s, precision="fp32"), work.size, self.multiple)
        anchors = {size: (zs[0], ts[0]) for size, zs, ts in zip(views, latents.originals, latents.targets)}

        def score(seen: torch.Tensor) -> dict[int, float]:
            return {
                max(size): target_progress(z0, encode_all([encoder], view_of(seen, work.size, size, self.multiple))[0], t) for size, (z0, t) in anchors.items()
            }

        return score

    def _measure(
        self, source: LoadedImage, score: Callable[[torch.Tensor], dict[int, float]], work: Working, delta: torch.Tensor, s: CloakSettings
    ) -> tuple[torch.Tensor, torch.Tensor, dict[int, float]]:
        """δ carried to full resolution and quantised like the saved file; that image at the working resolution;
        and its target progress at each view size (``score``)."""
        full_delta = work.to_full(delta).cpu()
        if s.max_linf is not None:
            full_delta = full_delta.clamp(-s.max_linf, s.max_linf)
        cloaked = _quantised(source.rgb, full_delta, s.min_psnr)
        seen = Working.of(cloaked.to(self.device), s.work_size, self.multiple).image
        return cloaked, seen, score(seen)

    def estimate(self, image: Source, target_style: str | None = None) -> Assessment:
        """Before protecting: how well ``image`` can be protected, from a quick trial cloak (:data:`~.protectability.PILOT`,
        about 2 s on a laptop CPU) whose TP predicts the full cloak's. Calibrated for glaze: other methods get texture only."""
        source = load_image(image)
        if not self.method.calibrated:
            return assess(source.rgb)
        trial = self.protect(source, target_style, settings=replace(self.settings, intensity="default", quality="fast", overrides=PILOT).cloak)
        return Assessment(texture=trial.texture or 0.0, pilot=round(trial.target_progress, 4), side=max(source.rgb.shape[-2:]))

    def protect(self, image: Source, target_style: str | None = None, progress: Progress | None = None, settings: CloakSettings | None = None) -> ProtectResult:
        """Cloak one image toward ``target_style`` (default: the settings' style, as :meth:`resolve_target` decided
        it; methods other than glaze have a fixed target and ignore it), with ``settings`` (default: the protector's)."""
        start = time.perf_counter()
        source = load_image(image)
        style_name = self.method.target_label(target_style or self.settings.target_style)
        if style_name is None:
            raise ConfigError(NO_TARGET)
        s = settings or self.cloak_settings

        # 1. working copy (on the device; δ lives at its resolution) and the mimic views with their targets Ω
        #    (glaze: the view style-transferred toward T; other methods: their fixed target image at the view's size)
        work = Working.of(source.rgb.to(self.device), s.work_size, self.multiple)
        aim = self.method.aim(self.renderer, style_name, self.styles, self.settings.style_strength, work)
        views = mimic_views(work, s, self.multiple, aim)

        # 2. optimise δ, carry it to full resolution, quantise like the saved file; 3. measure what was achieved as
        #    mimics would see it, at each view size on the first backbone; a second round where that is weak (for a
        #    calibrated method, see _retry; from scratch, with twice the steps: continuing the first δ measured worse)
        assessment = assess(source.rgb)
        rounds = [s, replace(s, steps=2 * s.steps)] if s.retry_below is not None and self.method.calibrated else [s]
        kept, before = None, 0
        latents = ViewLatents.of(work.image, list(views.values()), self.backbones, s, work.size)
        score = self._scorer(work, views, latents, s)
        for r in rounds:
            told = None if progress is None else (lambda step, total, info, before=before: progress(before + step, before + total, info))
            delta = optimise(work.image, list(views.values()), self.backbones, r, self.perceptual, told, valid=work.size, latents=latents)
            before += r.steps
            measured = self._measure(source, score, work, delta, s)
            if kept is None or min(measured[2].values()) > min(kept[2].values()):
                kept = measured
            if not _retry(s, source.rgb, *kept[::2], assessment.texture):
                break
        assert kept is not None  # rounds is never empty
        cloaked, seen, by_size = kept
        with torch.no_grad():
            dist = float(self.perceptual(work.crop(work.image), work.crop(seen)))
        omega = views[work.size].target if work.size in views else next(iter(views.values())).target
        release_memory()
        log.debug("%s: TP %s, perceptual %.3f, %.1f s", source.path or "image", by_size, dist, time.perf_counter() - start)
        return ProtectResult(
            source=source,
            cloaked=cloaked,
            target_style=style_name,
            target_progress=min(by_size.values()),
            by_size=by_size,
            perceptual_distance=dist,
            psnr_db=float(psnr(source.rgb, cloaked)),
            seconds=time.perf_counter() - start,
            settings=replace(self.settings, target_style=style_name),
            renderer=self.renderer,
            work=work,
            seen=seen,
            target_view=work.crop(omega),
            texture=assessment.texture,
            warnings=advice(assessment, min(by_size.values()), self.settings.intensity),
            score=lambda rgb: score(Working.of(rgb.to(self.device), s.work_size, self.multiple).image),
        )


def _retry(s: CloakSettings, x: torch.Tensor, cloaked: torch.Tensor, by_size: dict[int, float], texture: float) -> bool:
    """Whether a cloak deserves a second round: weak (worst-size TP below ``s.retry_below``) and either stopped by the
    perceptual budget before the energy cap (PSNR more than :data:`UNSPENT_DB` above the floor) or on art with little
    texture (below :data:`RETRY_TEXTURE`): there the optimiser had not yet found the changes the distance tolerates.
    The paintings measured have more texture and reach the floor, and never retry."""
    if s.retry_below is None or min(by_size.values()) >= s.retry_below:
        return False
    return texture < RETRY_TEXTURE or s.min_psnr is None or float(psnr(x, cloaked).min()) > s.min_psnr + UNSPENT_DB


def _quantised(x: torch.Tensor, delta: torch.Tensor, min_psnr: float | None) -> torch.Tensor:
    """x + δ rounded to 8 bits like the saved file; δ is scaled down until the rounded image meets ``min_psnr``
    (rounding a perturbation of a few grey levels adds more energy than the uniform q²/12)."""
    for _ in range(20):
        cloaked = ((x + delta).clamp(0, 1) * 255).round() / 255
        gap = -1.0 if min_psnr is None else min_psnr - float(psnr(x, cloaked).min())
        if gap <= 0:
            return cloaked
        delta = delta * 10 ** (-(gap + 0.002) / 20)
    return x.clone()  # unreachable in practice: no change at all always meets the floor


def style_sample(
    images: Iterable[ArtistImage],
    *,
    count: int = STYLE_SAMPLE,
    side: int = STYLE_SAMPLE_SIDE,
    max_pixels: int = MAX_PIXELS,
    exclude: str | Path | None = None,
) -> list[torch.Tensor]:
    """The bounded sample of an artist's images that target selection sees, the same in every entry point.

    The first ``count`` readable images of ``images`` (loaded images, (1,3,H,W) tensors, or files and
    folders, walked as a batch is, skipping ``exclude``), each brought to ``side`` px long side; files are
    loaded one at a time, so memory stays that of one full-size image however many there are. Unreadable
    files are skipped (the batch reports them).
    """
    sample: list[torch.Tensor] = []
    for image in _artist_images(images, exclude):
        if len(sample) >= count:
            break
        if isinstance(image, Path):
            try:
                image = load_image(image, max_pixels=max_pixels)
            except StylecloakError:
                continue
        rgb = image.rgb if isinstance(image, LoadedImage) else image
        sample.append(Working.of(rgb, side, 1).image)
    return sample


def _artist_images(images: Iterable[ArtistImage], exclude: str | Path | None) -> Iterator[LoadedImage | torch.Tensor | Path]:
    for image in images:
        if isinstance(image, (LoadedImage, torch.Tensor)):
            yield image
        else:
            yield from (path for path, _ in iter_images([image], exclude=exclude))


def protect(
    image: Source,
    settings: ProtectSettings | None = None,
    *,
    artist: str = "default",
    profile: str | Path | None = None,
    weights_dir: str | Path | None = None,
    progress: Progress | None = None,
    device: str | torch.device = "auto",
) -> ProtectResult:
    """Cloak one image. Without a target style in ``settings`` the artist profile decides (and is created if absent)."""
    source = load_image(image)
    protector = Protector(settings, weights_dir=weights_dir, device=device)
    protector = protector.with_settings(protector.resolve_target([source], artist=artist, profile=profile))
    return protector.protect(source, progress=progress)


def given_target(method: Method, style: str | None, styles: dict[str, Style]) -> str | None:
    """The target style that needs no choosing: a fixed-target method's label, or ``style`` checked against
    ``styles`` (a typo gets the nearest name); None where the artist profile decides (:meth:`Protector.resolve_target`)."""
    if method.needs_style and style is not None:
        get_style(style, styles)
    return method.target_label(style)
