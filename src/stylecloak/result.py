"""What a protect run returns: the cloaked image, what it achieved, and what its saved file holds.

:class:`ProtectResult` measures lazily (the model's view, the visibility referee) and writes its file with the
:func:`provenance` that the report, the journal and ``audit`` share.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import referee
from .backbones import Backbone
from .config import ProtectSettings
from .geometry import Working
from .io import LoadedImage, load_image, save_image
from .perceptual import psnr

PREVIEW_TEXT_PX = 16
"""Smallest label size on the "what the model sees" strip (px), where the panels leave room for it."""


@dataclass(frozen=True)
class SavedFile:
    """A protected file as written: its size beside the input's, and what it achieves read back from disk."""

    input_bytes: int | None
    """None for an image that did not come from a file."""
    output_bytes: int
    target_progress: float | None
    """TP of the file read back, the worst over the mimic sizes (``by_size``), as :attr:`ProtectResult.target_progress`."""
    by_size: dict[int, float]
    psnr_db: float
    """PSNR of the file read back against the original."""

    def summary(self) -> dict:
        """The numbers, JSON-ready."""
        tp = self.target_progress
        return {
            "input_bytes": self.input_bytes,
            "output_bytes": self.output_bytes,
            "target_progress": None if tp is None else round(tp, 4),
            "target_progress_by_size": {str(k): round(v, 4) for k, v in self.by_size.items()},
            "psnr_db": round(self.psnr_db, 2),
        }


@dataclass
class ProtectResult:
    """A cloaked image and what it achieved."""

    source: LoadedImage
    cloaked: torch.Tensor
    """(1,3,H,W) in [0, 1], quantised to 8 bits."""
    target_style: str
    target_progress: float
    """TP = 1 − ‖Φ(x′)−t‖ / ‖Φ(x)−t‖ on the first backbone: the worst over the mimic sizes (``by_size``), of the
    cloak rounded to 8 bits before the file is written (:attr:`saved` has the written file's)."""
    by_size: dict[int, float]
    """TP at each mimic view size (long side in px; sizes above the image's are measured once, at its own)."""
    perceptual_distance: float
    psnr_db: float
    """PSNR of the 8-bit cloak against the original, before the file is written (:attr:`saved` has the written file's)."""
    seconds: float
    settings: ProtectSettings
    renderer: Backbone = field(repr=False)
    work: Working = field(repr=False)
    """The original at the working resolution."""
    seen: torch.Tensor = field(repr=False)
    """The cloaked image at the working resolution (padded like ``work``)."""
    target_view: torch.Tensor = field(repr=False)
    """Ω(x, T), the target image, working resolution."""
    texture: float | None = None
    """Share of the image with edges or texture to hide the cloak in (:func:`~stylecloak.protectability.assess`)."""
    warnings: list[str] = field(default_factory=list)
    """Plain-words warnings about the protection reached (weak protection and what may help)."""
    score: Callable[[torch.Tensor], dict[int, float]] | None = field(default=None, repr=False)
    """TP at each mimic size (as ``by_size``) of a full-resolution image (1,3,H,W) in [0, 1]."""
    saved: SavedFile | None = None
    """What the file :meth:`save` wrote last holds (None before saving)."""

    @cached_property
    def original_view(self) -> torch.Tensor:
        """What the model sees: decoder(encoder(original)), working resolution (computed on first use)."""
        return self._view(self.work.image)

    @cached_property
    def cloaked_view(self) -> torch.Tensor:
        """decoder(encoder(cloaked)), working resolution (computed on first use)."""
        return self._view(self.seen)

    def _view(self, image: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.work.crop(self.renderer.decode(self.renderer.encode(image)))

    def save(self, path: str | Path, *, warn: Callable[[str], None] | None = None) -> Path:
        """Write the cloaked image in the source's format and size (atomically), with the metadata the settings choose
        (:meth:`~stylecloak.config.ProtectSettings.output_metadata`); a warning (XMP left out) goes to ``warn``."""
        metadata = self.settings.output_metadata(provenance(self.settings))
        dest = save_image(self.source, self.cloaked, path, metadata=metadata, warn=warn)
        self.saved = self._measure_saved(dest)
        return dest

    def _measure_saved(self, path: Path) -> SavedFile:
        """The file at ``path`` read back: its bytes, and its TP and PSNR against the original (a JPEG or lossy WebP
        loses some of the cloak in saving)."""
        written = load_image(path).rgb
        by_size = self.score(written) if self.score is not None else {}
        return SavedFile(
            input_bytes=self.source.path.stat().st_size if self.source.path is not None else None,
            output_bytes=path.stat().st_size,
            target_progress=min(by_size.values()) if by_size else None,
            by_size=by_size,
            psnr_db=float(psnr(self.source.rgb, written)),
        )

    def preview(self) -> Image.Image:
        """Side by side: what the model sees in the original, in the cloaked image, and the target."""
        panels = [self.original_view, self.cloaked_view, self.target_view]
        arrays = [(p[0].permute(1, 2, 0).clamp(0, 1).float().cpu().numpy() * 255).round().astype(np.uint8) for p in panels]
        h, w = arrays[0].shape[:2]
        labels = ["model sees: original", "model sees: cloaked", f"target: {self.target_style}"]
        size = max(PREVIEW_TEXT_PX, w // 18)  # readable at any panel size; shrunk below to fit the panel's width
        font = ImageFont.load_default(size=size)
        while size > 8 and max(font.getlength(label) for label in labels) > w - 8:
            size -= 1
            font = ImageFont.load_default(size=size)
        top = size + 14
        canvas = Image.new("RGB", (3 * w + 20, h + top), (255, 255, 255))
        draw = ImageDraw.Draw(canvas)
        for i, (a, label) in enumerate(zip(arrays, labels)):
            canvas.paste(Image.fromarray(a), (i * (w + 10), top))
            draw.text((i * (w + 10) + 4, 6), label, fill=(0, 0, 0), font=font)
        return canvas

    @cached_property
    def visibility(self) -> dict[str, float | None]:
        """The visibility referee's numbers for the saved image (:mod:`stylecloak.referee`; computed on first use)."""
        return referee.visibility(self.source.rgb, self.cloaked)

    @property
    def worst_size(self) -> int:
        """The mimic size (px) where the cloak is weakest."""
        return min(self.by_size, key=self.by_size.__getitem__)

    def summary(self) -> dict:
        """The numbers, JSON-ready."""
        return {
            "input": str(self.source.path) if self.source.path else None,
            "method": self.settings.method,
            "target_style": self.target_style,
            "target_progress": round(self.target_progress, 4),
            "worst_size": self.worst_size,
            "target_progress_by_size": {str(k): round(v, 4) for k, v in self.by_size.items()},
            "perceptual_distance": round(self.perceptual_distance, 4),
            "perceptual": self.settings.perceptual,
            "budget": self.settings.cloak.budget,
            "psnr_db": round(self.psnr_db, 2),
            "visibility": self.visibility,
            "seconds": round(self.seconds, 2),
            "width": self.source.rgb.shape[-1],
            "height": self.source.rgb.shape[-2],
            "texture": self.texture,
            "warnings": list(self.warnings),
        } | ({"saved": self.saved.summary()} if self.saved is not None else {})


def provenance(settings: ProtectSettings) -> dict[str, str]:
    """What protect did with ``settings`` (their target style decided), recorded in the report and the batch journal
    so ``audit`` finds it (and in each output's XMP only with ``record_settings``): target style, method, backbones,
    the intensity and quality presets and a hash of every setting. The hash holds the target style once, as decided: a style chosen by the artist
    profile and the same style given by name make the same pixels and the same hash."""
    style = settings.decided_style
    data = settings_dict(replace(settings, target_style=None)) | {"resolved_style": style}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
    names = {"intensity": settings.intensity, "quality": settings.quality}
    return {"targetStyle": style, "method": settings.method, "backbones": ",".join(settings.backbones), **names, "settings": digest}


def settings_dict(settings: ProtectSettings) -> dict:
    """Settings plus the resolved cloak parameters, JSON-ready."""
    data = asdict(settings)
    data["cloak"] = {k: v for k, v in asdict(settings.cloak).items() if k != "eot"}
    data["cloak"]["eot"] = asdict(settings.cloak.eot) if settings.cloak.eot is not None else None
    return data
