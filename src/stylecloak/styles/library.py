"""The style library: the built-in painters and user style folders, by name.

A style is summarised, per backbone, by the channel mean and standard deviation of its latents
(:mod:`.transfer`); Ω(x, T) moves the latents of x to those statistics (AdaIN) and decodes them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError
from .painters import BUILTIN, Painter


@dataclass(frozen=True)
class Style:
    """A candidate target style: a name and the images that exemplify it."""

    name: str
    description: str
    painter: Painter | None = None
    folder: Path | None = None
    files: tuple[Path, ...] = field(default=())

    def images(self, size: int = 256, count: int = 3) -> torch.Tensor:
        """Exemplar images (N,3,size,size) in [0, 1]: seeds 0..count-1, or the folder's files centre-cropped."""
        if self.painter is not None:
            ims = [self.painter(np.random.default_rng(1000 + i), size) for i in range(count)]
        else:
            ims = [_square(Image.open(f).convert("RGB"), size) for f in self.files]
        return torch.from_numpy(np.stack([np.asarray(im, np.float32) / 255 for im in ims])).permute(0, 3, 1, 2).contiguous()


def _square(im: Image.Image, size: int) -> Image.Image:
    s = min(im.size)
    left, top = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((left, top, left + s, top + s)).resize((size, size), Image.Resampling.LANCZOS)


def builtin_styles() -> dict[str, Style]:
    """The procedural style library, by name."""
    return {name: Style(name, (f.__doc__ or "").strip(), painter=f) for name, f in BUILTIN.items()}


def folder_style(name: str, folder: str | Path) -> Style:
    """A user style from a folder of example images (PNG/JPEG/WebP/TIFF/BMP)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"style folder {folder} does not exist; pass --style-dir NAME=DIR with a folder of images")
    files = tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}))
    if not files:
        raise ConfigError(f"style folder {folder} holds no images; add a few PNG or JPEG examples of style {name!r}")
    return Style(name, f"user style from {folder}", folder=folder, files=files)


def parse_style_dirs(specs: list[str] | tuple[str, ...]) -> dict[str, Style]:
    """Parse ``NAME=DIR`` specs into user styles."""
    styles = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise ConfigError(f"bad --style-dir {spec!r}; write it as NAME=DIR")
        styles[name] = folder_style(name, folder)
    return styles


def all_styles(extra: dict[str, Style] | None = None) -> dict[str, Style]:
    """Built-in styles plus user styles (user styles win on a name clash)."""
    return {**builtin_styles(), **(extra or {})}


def get_style(name: str, extra: dict[str, Style] | None = None) -> Style:
    styles = all_styles(extra)
    if name not in styles:
        close = difflib.get_close_matches(name, list(styles), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown target style {name!r}; {hint}run `stylecloak styles` to list them")
    return styles[name]
