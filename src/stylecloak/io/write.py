"""Write cloaked results back, keeping the input's format, mode and metadata.

Mode handling (what :func:`save_image` writes for each input mode):

* RGB, RGBA, L, LA keep their mode; alpha is copied byte for byte from the input.
* P (palette) becomes RGB, or RGBA when it has transparency: re-quantising to a palette
  would destroy the cloak. L, 1 and RGB with a transparent colour key get an alpha
  channel (LA / RGBA) instead of the key. 1-bit becomes 8-bit L.
* CMYK is cloaked in RGB (Pillow's naive conversion) and converted back with Pillow's
  RGB→CMYK conversion for JPEG and TIFF output; other formats get RGB.
* 16-bit grayscale (I;16, and I clipped to 0–65535) stays 16-bit for PNG and TIFF.
  Pillow reads 16-bit colour and gray+alpha PNG/TIFF as 8-bit RGB(A), so those are
  written as 8-bit; a colour key on 16-bit grayscale is dropped.
* Animated GIF, animated WebP/PNG and multi-page TIFF: only the first frame is read and
  a single frame is written. GIF output is PNG with the same stem (GIF's 256-colour
  palette would destroy the cloak), see :func:`output_suffix`.
* A format that cannot hold the mode falls back: 16-bit→L, LA→RGBA or L, L→RGB,
  alpha is dropped for JPEG and BMP, CMYK→RGB. An ICC profile is written only when its
  colour space (RGB, GRAY, CMYK) matches the written mode.

What metadata the copy carries is :class:`~.metadata.OutputMetadata`'s choice (docs/privacy.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from stylecloak.errors import ConfigError, ImageError

from . import credentials
from .atomic import atomic_file
from .encoding import PNG_OPTIONS, jpeg_quality, webp_options
from .metadata import TIFF_LAYOUT_TAGS, OutputMetadata, output_info, output_xmp
from .paths import IMAGE_EXTENSIONS, same_file
from .read import GRAY8_MODES, LoadedImage, name_of, normalise_format, reason
from .xmp import JPEG_XMP_MAX

log = logging.getLogger(__name__)

_SUFFIXES = {
    "PNG": (".png",),
    "JPEG": (".jpg", ".jpeg"),
    "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"),
    "BMP": (".bmp",),
}
# Output modes each writable format holds, and what a mode falls back to otherwise.
_WRITE_MODES = {
    "PNG": {"RGB", "RGBA", "L", "LA", "I;16"},
    "JPEG": {"RGB", "L", "CMYK"},
    "WEBP": {"RGB", "RGBA"},
    "TIFF": {"RGB", "RGBA", "L", "LA", "I;16", "CMYK"},
    "BMP": {"RGB", "L"},
}
_FALLBACK = {
    "RGB": ("RGB",),
    "RGBA": ("RGBA", "RGB"),
    "L": ("L", "RGB"),
    "LA": ("LA", "RGBA", "L", "RGB"),
    "I;16": ("I;16", "L", "RGB"),
    "CMYK": ("CMYK", "RGB"),
}
_ICC_SPACE = {
    "RGB": b"RGB ",
    "RGBA": b"RGB ",
    "L": b"GRAY",
    "LA": b"GRAY",
    "I;16": b"GRAY",
    "CMYK": b"CMYK",
}


def to_pil(image: LoadedImage, rgb: torch.Tensor) -> Image.Image:
    """Return *rgb* as a PIL image in the input's mode semantics (alpha restored, no metadata)."""
    return _render(image, rgb, _semantic_mode(image), name_of(image))


def save_image(
    image: LoadedImage,
    rgb: torch.Tensor,
    path: str | Path,
    *,
    metadata: OutputMetadata | None = None,
    format: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Atomically write *rgb* as a copy of *image* to *path* and return the path written.

    The format is *format* or the input's (GIF is written as PNG). When the path's
    suffix names another image format it is replaced by the written format's, so a
    ``.gif`` path becomes ``.png``. JPEG keeps the input's chroma subsampling at the quality
    :func:`~.encoding.jpeg_quality` chooses; WebP stays lossy or lossless as the input was (:mod:`.encoding`); PNG
    and TIFF are lossless. *metadata* (default: ``minimal`` with the
    ``genai`` opt-out) decides what of the input's metadata is kept and which XMP is added
    (BMP holds dpi only). XMP too large for the format is left out and reported to *warn*
    (default: the log), never an error. With ``metadata.credentials`` the finished file is then signed
    (:func:`~.credentials.sign`). The input file is never written to.
    """
    fmt = _output_format(format or image.format, path)
    dest = Path(path)
    if dest.suffix.lower() in IMAGE_EXTENSIONS and dest.suffix.lower() not in _SUFFIXES[fmt]:
        dest = dest.with_suffix(_SUFFIXES[fmt][0])
    if image.path is not None and same_file(image.path, dest):
        raise ImageError(f"{dest}: would overwrite the input image; choose another output folder or name")
    mode = next(m for m in _FALLBACK[_semantic_mode(image)] if m in _WRITE_MODES[fmt])
    pil = _render(image, rgb, mode, str(dest))
    choice = metadata or OutputMetadata()
    xmp = _fitting_xmp(output_xmp(image.info.get("xmp"), choice), fmt, name_of(image), warn or log.warning)
    options = _save_options(output_info(image.info, choice.mode), fmt, mode, xmp)
    _atomic_save(pil, dest, fmt, options)
    if choice.credentials is not None:
        try:
            credentials.sign(dest, image.path, choice.credentials)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
    return dest


def save_png(pil: Image.Image, path: str | Path) -> Path:
    """Atomically write a PIL image (a preview or view) as a fast-compressed PNG; nothing is left on failure."""
    dest = Path(path)
    _atomic_save(pil, dest, "PNG", {"compress_level": 1})
    return dest


def _semantic_mode(image: LoadedImage) -> str:
    if image.info.get("bits") == 16:
        return "I;16"
    if image.mode == "CMYK":
        return "CMYK"
    gray = image.mode in GRAY8_MODES
    if image.alpha is not None:
        return "LA" if gray else "RGBA"
    return "L" if gray else "RGB"


def _output_format(name: str, path: str | Path) -> str:
    fmt = normalise_format(name)
    if fmt == "GIF":
        return "PNG"
    if fmt not in _WRITE_MODES:
        raise ConfigError(f"{path}: cannot write format {name!r}; use one of PNG, JPEG, WEBP, TIFF, BMP")
    return fmt


def _render(image: LoadedImage, rgb: torch.Tensor, mode: str, name: str) -> Image.Image:
    """Quantise *rgb* to a PIL image of *mode*, re-attaching the input's alpha."""
    if not isinstance(rgb, torch.Tensor) or not rgb.is_floating_point():
        raise ImageError(f"{name}: the cloaked image must be a float tensor; pass the tensor the cloak returned")
    t = rgb.detach().to("cpu", torch.float32)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    height, width = image.rgb.shape[-2:]
    if tuple(t.shape) != (3, height, width):
        raise ImageError(f"{name}: cloaked tensor has shape {tuple(rgb.shape)} but the image is 3×{height}×{width}; pass a tensor of the loaded image's size")
    if not bool(torch.isfinite(t).all()):
        raise ImageError(f"{name}: the cloaked tensor contains NaN or infinity; rerun the cloak")
    t = t.clamp(0, 1)
    if mode in ("L", "LA", "I;16"):
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        gray = (t * weights).sum(0)
        if mode == "I;16":
            return Image.fromarray((gray * 65535).round().to(torch.int32).numpy().astype(np.uint16))
        channels = [(gray * 255).round().to(torch.uint8).numpy()]
    else:
        channels = list((t * 255).round().to(torch.uint8).numpy())
    if mode in ("LA", "RGBA") and image.alpha is not None:  # the semantic mode has alpha only then
        channels.append(np.asarray(image.alpha, dtype=np.uint8))
    pixels = np.stack(channels, axis=-1) if len(channels) > 1 else channels[0]
    pil = Image.fromarray(np.ascontiguousarray(pixels))
    return pil.convert("CMYK") if mode == "CMYK" else pil


def _fitting_xmp(candidates: list[bytes], fmt: str, name: str, warn: Callable[[str], None]) -> bytes | None:
    """The first of the XMP *candidates* (best first, :func:`~.metadata.output_xmp`) that *fmt* can hold; a
    warning naming the file when that is not the first."""
    fits = [c for c in candidates if fmt != "JPEG" or len(c) <= JPEG_XMP_MAX]
    if candidates and (not fits or fits[0] is not candidates[0]):
        kept = "only stylecloak's own XMP (opt-out, creator, rights) was written" if fits else "no XMP was written"
        warn(f"{name}: its XMP metadata ({len(candidates[0]):,} bytes) is too large for a JPEG file and was left out; {kept} (PNG, WebP and TIFF keep it)")
    return fits[0] if fits else None


def _save_options(info: dict[str, Any], fmt: str, mode: str, xmp: bytes | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    icc = info.get("icc_profile")
    if icc and icc[16:20] == _ICC_SPACE[mode]:
        options["icc_profile"] = icc
    exif = info.get("exif")
    if exif and fmt != "TIFF":
        options["exif"] = exif
    if info.get("dpi") and fmt != "WEBP":
        options["dpi"] = info["dpi"]
    if fmt == "PNG":
        pnginfo = PngImagePlugin.PngInfo()
        for key, value in info.get("text", {}).items():
            pnginfo.add_text(key, value)
        if xmp:
            pnginfo.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"), zip=False)
        options["pnginfo"] = pnginfo
        options.update(PNG_OPTIONS)
    elif fmt == "JPEG":
        options["quality"] = jpeg_quality(info.get("quality"))
        if mode == "RGB":
            options["subsampling"] = info.get("subsampling", 0)
        options["progressive"] = info.get("progressive", False)
        if info.get("comment"):
            options["comment"] = info["comment"]
        if xmp:
            options["xmp"] = xmp
    elif fmt == "WEBP":
        options.update(webp_options(info.get("lossless")))
        if xmp:
            options["xmp"] = xmp
    elif fmt == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
        tags = Image.Exif()
        if exif:
            try:
                tags.load(exif)
            except Exception:  # noqa: BLE001 -- TIFF needs parsed tags; EXIF that does not parse is left out
                tags = Image.Exif()
            for tag in TIFF_LAYOUT_TAGS:
                tags.pop(tag, None)
        if xmp:
            tags[700] = xmp
        if len(tags):
            options["tiffinfo"] = tags
    return options


def _atomic_save(pil: Image.Image, dest: Path, fmt: str, options: dict[str, Any]) -> None:
    """Write *pil* to *dest* atomically (:func:`~stylecloak.io.atomic.atomic_file`): all or nothing."""
    created = False
    try:
        with atomic_file(dest) as file:
            created = True
            pil.save(file, format=fmt, **options)
    except Exception as exc:
        if not created:
            raise ImageError(f"{dest}: cannot create the output ({reason(exc)}); check the folder's permissions") from exc
        raise ImageError(f"{dest}: cannot write {fmt} ({reason(exc)}); check disk space and permissions, or choose another format") from exc
