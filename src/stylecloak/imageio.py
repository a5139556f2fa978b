"""Read artwork into tensors and write cloaked results back, keeping format, mode and metadata.

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
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import stat
import struct
import tempfile
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import torch
from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from stylecloak.errors import ConfigError, ImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "NS_STYLECLOAK",
    "LoadedImage",
    "check_output",
    "frames_warning",
    "iter_images",
    "load_image",
    "output_path",
    "output_suffix",
    "probe_image",
    "read_xmp",
    "save_image",
    "save_png",
    "to_pil",
    "xmp_optout_packet",
    "xmp_packet",
    "xmp_values",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
)
MIN_SIDE = 16

_READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
_FORMAT_ALIASES = {"JPG": "JPEG", "MPO": "JPEG", "TIF": "TIFF"}
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

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_KEYED_MODES = {"1", "L", "P", "RGB"}  # modes whose "transparency" key becomes alpha
_GRAY8_MODES = {"1", "L", "LA", "La", "F"}
_GRAY16_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}

_ORIENTATION = 0x0112
# TIFF layout tags that describe the old file's pixel storage, plus XMP and ICC which
# travel separately; they must not be copied into the EXIF of a new file.
_TIFF_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322}
    | {323, 324, 325, 330, 338, 339, 347, 513, 514, 530, 531, 532, 700, 34675}
)
_IJG_LUMA_SUM = 3688  # sum of the JPEG Annex K luminance quantisation table (quality 50)
_JPEG_MIN_QUALITY = 95
_APP1_XMP = b"http://ns.adobe.com/xap/1.0/\x00"

_NS_X = "adobe:ns:meta/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NS_XML = "http://www.w3.org/XML/1998/namespace"
_NS_PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
_NS_TDM = "http://www.w3.org/ns/tdmrep/"
_DMI_PROHIBITED = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"
_OPTOUT = {f"{{{_NS_PLUS}}}DataMining": _DMI_PROHIBITED, f"{{{_NS_TDM}}}reservation": "1"}
NS_STYLECLOAK = "urn:stylecloak:xmp:1.0#"
"""XMP namespace (prefix ``stylecloak``) of what protect did: targetStyle, method, backbones, settings."""
_XMP_MAX_DEPTH = 64  # deeper packets are treated as malformed (and would exhaust recursion)


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image plus everything needed to write a cloaked copy of it.

    ``rgb`` is (1,3,H,W) float32 in [0, 1], EXIF orientation applied; ``alpha`` the exact
    H×W alpha channel (uint8) or None; ``mode`` the original PIL mode; ``format`` one of
    PNG, JPEG, WEBP, TIFF, BMP, GIF; ``info`` the metadata :func:`save_image` writes back
    (icc_profile, exif, xmp, dpi, subsampling, quality, progressive, comment, PNG text,
    bits=16); ``frames`` the frame count of the file, of which only the first is used.
    """

    path: Path | None
    rgb: torch.Tensor
    alpha: np.ndarray | None
    mode: str
    format: str
    info: dict[str, Any]
    frames: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, after EXIF orientation."""
        return int(self.rgb.shape[-1]), int(self.rgb.shape[-2])


# --------------------------------------------------------------------------- reading


def load_image(
    source: str | Path | Image.Image, *, max_pixels: int = 100_000_000
) -> LoadedImage:
    """Decode the first frame of *source* into a (1,3,H,W) float tensor in [0, 1].

    EXIF orientation is applied and reset to 1 in ``info["exif"]``. The pixel count is
    checked against *max_pixels* from the header, before anything is decoded. Every
    failure raises :class:`ImageError` naming the file.
    """
    if isinstance(source, Image.Image):
        return _decode(source, None, str(getattr(source, "filename", "") or "in-memory image"), max_pixels)
    path = Path(source)
    with _open(path) as im:
        return _decode(im, path, str(path), max_pixels)


def probe_image(path: str | Path, *, max_pixels: int = 100_000_000) -> tuple[str, int, int]:
    """Check *path* from its header only (nothing is decoded): return (format, width, height).

    Raises :class:`ImageError`, with :func:`load_image`'s messages, for a file that is not a
    readable PNG/JPEG/WebP/TIFF/BMP/GIF or whose size is outside the limits.
    """
    path = Path(path)
    with _open(path) as im:
        try:
            _check_size(str(path), *im.size, max_pixels)
        except ImageError:
            raise
        except Exception as exc:  # any parser failure on untrusted bytes is the file's fault
            raise _decode_error(str(path), exc) from exc
        return _normalise_format(im.format or "PNG"), *im.size


def read_xmp(path: str | Path) -> bytes | None:
    """The XMP packet of an image file (header only, nothing decoded), or None."""
    path = Path(path)
    with _open(path) as im:
        try:
            return _xmp_bytes(im, im)
        except Exception:  # noqa: BLE001 -- unreadable metadata counts as none
            return None


def frames_warning(image: LoadedImage, name: str | None = None) -> str | None:
    """One line warning that only the first frame of an animated/multi-page file is used, else None."""
    if image.frames <= 1:
        return None
    return f"{name or _name(image)}: has {image.frames} frames (animated or multi-page); only the first frame is protected and saved"


def _open(path: Path) -> Image.Image:
    name = str(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found; check the path") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot be read ({_reason(exc)}); check the path and its permissions") from exc
    if stat.S_ISDIR(status.st_mode):
        raise ImageError(f"{name}: is a folder, not an image; pass the image files inside it")
    if not stat.S_ISREG(status.st_mode):
        raise ImageError(f"{name}: is not a regular file; pass an image file")
    if status.st_size == 0:
        raise ImageError(f"{name}: is empty (0 bytes); re-export or re-download the image")
    try:
        with warnings.catch_warnings():
            # max_pixels replaces Pillow's warning; its hard limit still raises below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path, formats=_READ_FORMATS)
    except PermissionError:
        raise ImageError(f"{name}: cannot be read (permission denied); check the file's permissions") from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{name}: not a PNG, JPEG, WebP, TIFF, BMP or GIF image, or corrupt; re-export it in one of these formats"
        ) from None
    except Exception as exc:  # any decoder failure on untrusted bytes is the file's fault
        raise _decode_error(name, exc) from exc


def _decode(im: Image.Image, path: Path | None, name: str, max_pixels: int) -> LoadedImage:
    try:
        _check_size(name, *im.size, max_pixels)
        frames = int(getattr(im, "n_frames", 1))
        if im.tell() != 0:
            im.seek(0)
        im.load()
        transposed = _orientation(im) in range(2, 9)
        final = ImageOps.exif_transpose(im) if transposed else im
        rgb, alpha, bits16 = _pixels(final)
        info = _metadata(im, final, transposed)
    except ImageError:
        raise
    except Exception as exc:  # any decoder failure on untrusted bytes is the file's fault
        raise _decode_error(name, exc) from exc
    if bits16:
        info["bits"] = 16
    return LoadedImage(
        path=path,
        rgb=rgb,
        alpha=alpha,
        mode=im.mode,
        format=_normalise_format(im.format or "PNG"),
        info=info,
        frames=frames,
    )


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}×{height} px exceeds the limit of {max_pixels:,} pixels; "
            "downscale the image or raise max_pixels"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name}: too small ({width}×{height} px): at least {MIN_SIDE}×{MIN_SIDE} px needed; use a larger image"
        )


def _decode_error(name: str, exc: BaseException) -> ImageError:
    if isinstance(exc, MemoryError):
        return ImageError(f"{name}: not enough memory to decode it; downscale the image or lower max_pixels")
    if isinstance(exc, Image.DecompressionBombError):
        return ImageError(
            f"{name}: dimensions exceed Pillow's decompression-bomb limit ({_reason(exc)}); "
            "downscale the image or raise PIL.Image.MAX_IMAGE_PIXELS"
        )
    return ImageError(f"{name}: cannot be decoded ({_reason(exc)}); the file is truncated or corrupt, re-export it")


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 -- Pillow raises many kinds on bad EXIF; unreadable EXIF: keep the pixels as stored
        return 1


def _pixels(im: Image.Image) -> tuple[torch.Tensor, np.ndarray | None, bool]:
    """Return the (1,3,H,W) tensor, the exact alpha channel, and whether it is 16-bit gray."""
    mode = im.mode
    keyed = mode in _KEYED_MODES and "transparency" in im.info
    has_alpha = mode in _ALPHA_MODES or keyed
    alpha = None
    if mode in _GRAY16_MODES:
        gray = np.clip(np.asarray(im).astype(np.float32), 0, 65535) / np.float32(65535)
        return _gray_tensor(gray), None, True
    if mode in _GRAY8_MODES:
        if has_alpha:
            la = np.asarray(im.convert("LA"))
            gray, alpha = la[..., 0], la[..., 1].copy()
        else:
            gray = np.asarray(im.convert("L"))
        return _gray_tensor(gray.astype(np.float32) / np.float32(255)), alpha, False
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"))
        colour, alpha = rgba[..., :3], rgba[..., 3].copy()
    else:
        colour = np.asarray(im.convert("RGB"))
    rgb = torch.from_numpy(colour.astype(np.float32) / np.float32(255))
    return rgb.permute(2, 0, 1).unsqueeze(0).contiguous(), alpha, False


def _gray_tensor(gray: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(gray)).expand(1, 3, *gray.shape).contiguous()


def _metadata(src: Image.Image, final: Image.Image, transposed: bool) -> dict[str, Any]:
    """Collect what saving needs from the source image's info."""
    info: dict[str, Any] = {}
    icc = src.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        info["icc_profile"] = icc
    exif = _exif_bytes(src, final, transposed)
    if exif:
        info["exif"] = exif
    xmp = _xmp_bytes(src, final)
    if xmp:
        info["xmp"] = xmp
    dpi = _dpi(src.info.get("dpi"))
    if dpi:
        info["dpi"] = dpi
    if src.format in ("JPEG", "MPO"):
        sampling = JpegImagePlugin.get_sampling(src)
        if sampling != -1:
            info["subsampling"] = sampling
        quality = _jpeg_quality(src)
        if quality:
            info["quality"] = quality
        info["progressive"] = bool(src.info.get("progressive"))
        comment = src.info.get("comment")
        if isinstance(comment, bytes) and comment:
            info["comment"] = comment
    if src.format == "PNG":
        text = {
            k: v
            for k, v in getattr(src, "text", {}).items()
            if k != "XML:com.adobe.xmp" and not k.startswith("Raw profile type")
        }
        if text:
            info["text"] = text
    return info


def _xmp_bytes(src: Image.Image, final: Image.Image) -> bytes | None:
    xmp = final.info.get("xmp") or final.info.get("XML:com.adobe.xmp")
    if xmp is None:  # Pillow < 11 leaves TIFF and JPEG XMP out of info
        xmp = getattr(src, "tag_v2", {}).get(700)
        for marker, data in getattr(src, "applist", []):
            if marker == "APP1" and data.startswith(_APP1_XMP):
                xmp = data[len(_APP1_XMP) :]
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return xmp if isinstance(xmp, bytes) and xmp.strip(b"\x00 \t\r\n") else None


def _exif_bytes(src: Image.Image, final: Image.Image, transposed: bool) -> bytes | None:
    raw = src.info.get("exif")
    if isinstance(raw, bytes) and raw:
        raw = raw if raw.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + raw
        if not transposed:
            return raw
        patched = _reset_orientation(raw)
        if patched is not None:
            return patched
    try:
        exif = final.getexif()  # TIFF tags, PNG raw profiles, or Pillow's transposed rewrite
        for tag in _TIFF_LAYOUT_TAGS | {_ORIENTATION}:
            exif.pop(tag, None)
        return exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001 -- malformed EXIF (any error Pillow raises) is dropped rather than failing the image
        return None


def _reset_orientation(exif: bytes) -> bytes | None:
    """Return *exif* with IFD0 Orientation set to 1 in place, or None when not found."""
    tiff = exif[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    offset = struct.unpack_from(order + "I", tiff, 4)[0]
    if offset + 2 > len(tiff):
        return None
    for i in range(struct.unpack_from(order + "H", tiff, offset)[0]):
        entry = offset + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        tag, kind, count = struct.unpack_from(order + "HHI", tiff, entry)
        if tag == _ORIENTATION and kind == 3 and count == 1:
            out = bytearray(exif)
            struct.pack_into(order + "H", out, 6 + entry + 8, 1)
            return bytes(out)
    return None


def _dpi(value: Any) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return (x, y) if all(math.isfinite(v) and v > 0 for v in (x, y)) else None


def _jpeg_quality(im: Image.Image) -> int | None:
    """Estimate the IJG quality the JPEG was saved with from its luminance table."""
    tables = getattr(im, "quantization", None)
    if not tables or 0 not in tables:
        return None
    scale = 100 * float(sum(tables[0])) / _IJG_LUMA_SUM
    quality = 5000 / scale if scale > 100 else (200 - scale) / 2
    return round(min(100.0, max(1.0, quality)))


def _normalise_format(name: str) -> str:
    name = name.upper().lstrip(".")
    return _FORMAT_ALIASES.get(name, name)


# --------------------------------------------------------------------------- writing


def to_pil(image: LoadedImage, rgb: torch.Tensor) -> Image.Image:
    """Return *rgb* as a PIL image in the input's mode semantics (alpha restored, no metadata)."""
    return _render(image, rgb, _semantic_mode(image), _name(image))


def save_image(
    image: LoadedImage,
    rgb: torch.Tensor,
    path: str | Path,
    *,
    optout: bool = True,
    format: str | None = None,
    provenance: dict[str, str] | None = None,
) -> Path:
    """Atomically write *rgb* as a copy of *image* to *path* and return the path written.

    The format is *format* or the input's (GIF is written as PNG). When the path's
    suffix names another image format it is replaced by the written format's, so a
    ``.gif`` path becomes ``.png``. JPEG uses quality ≥95 and the input's chroma
    subsampling; PNG, WebP and TIFF are lossless. ICC, EXIF, XMP, dpi (and PNG text,
    JPEG comment) are kept; with *optout* an XMP data-mining opt-out is added, and
    *provenance* (what protect did) is written as XMP properties in :data:`NS_STYLECLOAK`
    (BMP holds no metadata). The input file is never written to.
    """
    fmt = _output_format(format or image.format, path)
    dest = Path(path)
    if dest.suffix.lower() in IMAGE_EXTENSIONS and dest.suffix.lower() not in _SUFFIXES[fmt]:
        dest = dest.with_suffix(_SUFFIXES[fmt][0])
    if image.path is not None and _same_file(image.path, dest):
        raise ImageError(f"{dest}: would overwrite the input image; choose another output folder or name")
    mode = next(m for m in _FALLBACK[_semantic_mode(image)] if m in _WRITE_MODES[fmt])
    pil = _render(image, rgb, mode, str(dest))
    properties = (_OPTOUT if optout else {}) | {f"{{{NS_STYLECLOAK}}}{k}": v for k, v in (provenance or {}).items()}
    options = _save_options(image, fmt, mode, properties, dest)
    _atomic_save(pil, dest, fmt, options)
    return dest


def save_png(pil: Image.Image, path: str | Path) -> Path:
    """Atomically write a PIL image (a preview or view) as a fast-compressed PNG; nothing is left on failure."""
    dest = Path(path)
    _atomic_save(pil, dest, "PNG", {"compress_level": 1})
    return dest


def check_output(source: Path, dest: Path) -> None:
    """Raise :class:`ImageError` if writing *dest* cannot work: it is *source* itself, a folder,
    or a file stands where one of its folders should be. Cheap: call it before any work."""
    if dest.exists() and _same_file(source, dest):
        raise ImageError(f"{dest}: would overwrite the input image {source}; choose another output folder")
    if dest.is_dir():
        raise ImageError(f"{dest}: is a folder where the protected image should go; choose another output folder")
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ImageError(f"{parent}: is a file where an output folder should be; choose another output folder")
            break


def output_suffix(suffix: str) -> str:
    """Return the suffix a cloaked copy of a file with *suffix* gets (GIF is written as PNG)."""
    return ".png" if suffix.lower() == ".gif" else suffix


def output_path(source: Path, out_dir: Path, root: Path | None = None) -> Path:
    """Mirror *source*'s path relative to *root* (default: its folder) inside *out_dir*."""
    source, out_dir = Path(source), Path(out_dir)
    if root is None:
        relative = Path(source.name)
    else:
        try:
            relative = source.relative_to(root)
        except ValueError:
            try:
                relative = source.resolve().relative_to(Path(root).resolve())
            except ValueError:
                raise ImageError(f"{source}: is not inside {root}; pass the folder that contains it as root") from None
    return out_dir / relative.with_suffix(output_suffix(relative.suffix))


def iter_images(paths: Iterable[str | Path], *, exclude: str | Path | None = None) -> Iterator[tuple[Path, Path]]:
    """Yield (file, root) for each file given and each image found under each folder given.

    Folders are walked recursively in sorted order; only :data:`IMAGE_EXTENSIONS` are
    yielded and hidden files and folders are skipped, and so is the folder *exclude*
    (the output folder, when it lies inside an input folder). A file given directly is
    yielded whatever its extension, with its parent as root (missing paths too, so that
    :func:`load_image` reports them).
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    for item in paths:
        top = Path(item)
        if not top.is_dir():
            yield top, top.parent
            continue
        for folder, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (Path(folder) / d).resolve() != skip)
            for filename in sorted(filenames):
                if not filename.startswith(".") and Path(filename).suffix.lower() in IMAGE_EXTENSIONS:
                    yield Path(folder) / filename, top


def _name(image: LoadedImage) -> str:
    return str(image.path) if image.path is not None else "in-memory image"


def _semantic_mode(image: LoadedImage) -> str:
    if image.info.get("bits") == 16:
        return "I;16"
    if image.mode == "CMYK":
        return "CMYK"
    gray = image.mode in _GRAY8_MODES
    if image.alpha is not None:
        return "LA" if gray else "RGBA"
    return "L" if gray else "RGB"


def _output_format(name: str, path: str | Path) -> str:
    fmt = _normalise_format(name)
    if fmt == "GIF":
        return "PNG"
    if fmt not in _WRITE_MODES:
        raise ConfigError(f"{path}: cannot write format {name!r}; use one of PNG, JPEG, WEBP, TIFF, BMP")
    return fmt


def _same_file(source: Path, dest: Path) -> bool:
    if source.resolve() == dest.resolve():
        return True
    try:
        return os.path.samefile(source, dest)
    except OSError:
        return False


def _render(image: LoadedImage, rgb: torch.Tensor, mode: str, name: str) -> Image.Image:
    """Quantise *rgb* to a PIL image of *mode*, re-attaching the input's alpha."""
    if not isinstance(rgb, torch.Tensor) or not rgb.is_floating_point():
        raise ImageError(f"{name}: the cloaked image must be a float tensor; pass the tensor the cloak returned")
    t = rgb.detach().to("cpu", torch.float32)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    height, width = image.rgb.shape[-2:]
    if tuple(t.shape) != (3, height, width):
        raise ImageError(
            f"{name}: cloaked tensor has shape {tuple(rgb.shape)} but the image is 3×{height}×{width}; "
            "pass a tensor of the loaded image's size"
        )
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


def _save_options(image: LoadedImage, fmt: str, mode: str, properties: dict[str, str], dest: Path) -> dict[str, Any]:
    info = image.info
    options: dict[str, Any] = {}
    icc = info.get("icc_profile")
    if icc and icc[16:20] == _ICC_SPACE[mode]:
        options["icc_profile"] = icc
    exif = info.get("exif")
    if exif and fmt != "TIFF":
        options["exif"] = exif
    if info.get("dpi") and fmt != "WEBP":
        options["dpi"] = info["dpi"]
    xmp = xmp_packet(info.get("xmp"), properties) if properties else info.get("xmp")
    if fmt == "PNG":
        pnginfo = PngImagePlugin.PngInfo()
        for key, value in info.get("text", {}).items():
            pnginfo.add_text(key, value)
        if xmp:
            pnginfo.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"), zip=False)
        options["pnginfo"] = pnginfo
    elif fmt == "JPEG":
        options["quality"] = max(_JPEG_MIN_QUALITY, info.get("quality", 0))
        if mode == "RGB":
            options["subsampling"] = info.get("subsampling", 0)
        options["progressive"] = info.get("progressive", False)
        if info.get("comment"):
            options["comment"] = info["comment"]
        if xmp:
            if len(_APP1_XMP) + len(xmp) + 2 > 0xFFFF:
                raise ImageError(
                    f"{dest}: XMP metadata ({len(xmp):,} bytes) does not fit in a JPEG marker; "
                    "save as PNG/TIFF or with optout=False"
                )
            options["xmp"] = xmp
    elif fmt == "WEBP":
        options.update(lossless=True, exact=True)
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
            for tag in _TIFF_LAYOUT_TAGS:
                tags.pop(tag, None)
        if xmp:
            tags[700] = xmp
        if len(tags):
            options["tiffinfo"] = tags
    return options


def _atomic_save(pil: Image.Image, dest: Path, fmt: str, options: dict[str, Any]) -> None:
    """Write via a temporary file in *dest*'s folder, fsync, then rename over *dest*."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    except OSError as exc:
        raise ImageError(f"{dest}: cannot create the output ({_reason(exc)}); check the folder's permissions") from exc
    try:
        with os.fdopen(handle, "wb") as file:
            pil.save(file, format=fmt, **options)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, Exception):
            raise ImageError(
                f"{dest}: cannot write {fmt} ({_reason(exc)}); check disk space and permissions, or choose another format"
            ) from exc
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- XMP opt-out


def xmp_optout_packet(existing: bytes | None = None) -> bytes:
    """Return an XMP packet that prohibits text-and-data mining and AI training.

    Sets IPTC PLUS ``plus:DataMining`` to DMI-PROHIBITED and the W3C TDMRep
    ``tdm:reservation`` to 1. Properties of *existing* (an XMP packet) are kept, with
    its own values of these two replaced; an unparseable *existing* is replaced.
    """
    return xmp_packet(existing, _OPTOUT)


def xmp_values(data: bytes | None, namespace: str = NS_STYLECLOAK) -> dict[str, str]:
    """The simple properties of *namespace* in an XMP packet (elements or attributes), by local name."""
    parsed = _parse_xmp(data) if data else None
    found: dict[str, str] = {}
    for description in parsed[1].findall(f"{{{_NS_RDF}}}Description") if parsed else []:
        pairs = [*description.attrib.items(), *((child.tag, child.text or "") for child in description)]
        for key, value in pairs:
            if key.startswith(f"{{{namespace}}}"):
                found[key.split("}", 1)[1]] = value
    return found


def xmp_packet(existing: bytes | None, properties: dict[str, str]) -> bytes:
    """Return an XMP packet with *properties* ({"{namespace}name": value}) set on top of *existing*'s.

    Properties of *existing* are kept, with its own values of these replaced; an unparseable
    *existing* is replaced.
    """
    parsed = _parse_xmp(existing) if existing else None
    if parsed is None:
        root = ET.Element(f"{{{_NS_X}}}xmpmeta")
        rdf = ET.SubElement(root, f"{{{_NS_RDF}}}RDF")
        prefixes: dict[str, str] = {}
    else:
        root, rdf, prefixes = parsed
    descriptions = rdf.findall(f"{{{_NS_RDF}}}Description")
    for description in descriptions:
        for key in properties:
            description.attrib.pop(key, None)
            for old in description.findall(key):
                description.remove(old)
    if descriptions:
        target = descriptions[0]
    else:
        target = ET.SubElement(rdf, f"{{{_NS_RDF}}}Description", {f"{{{_NS_RDF}}}about": ""})
    for key, value in properties.items():
        ET.SubElement(target, key).text = value
    body = _serialise(root, prefixes)
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>'.encode()


def _parse_xmp(data: bytes) -> tuple[ET.Element, ET.Element, dict[str, str]] | None:
    """Parse an XMP packet into (root, rdf:RDF, namespace prefixes), or None if unusable."""
    data = data.strip(b"\x00 \t\r\n")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    prefixes: dict[str, str] = {}
    depth = 0
    try:
        events = ET.iterparse(io.BytesIO(data), events=("start-ns", "start", "end"))
        for event, item in events:
            if event == "start-ns":
                prefixes.setdefault(item[1], item[0])
            depth += {"start": 1, "end": -1}.get(event, 0)
            if depth > _XMP_MAX_DEPTH:
                return None
        root = events.root  # type: ignore[attr-defined]
    except (ET.ParseError, ValueError, LookupError):
        return None
    rdf = root if root.tag == f"{{{_NS_RDF}}}RDF" else root.find(f".//{{{_NS_RDF}}}RDF")
    return None if rdf is None else (root, rdf, prefixes)


def _serialise(root: ET.Element, known: dict[str, str]) -> str:
    """Serialise *root*, declaring every namespace on it and reusing the original prefixes."""
    wanted = {_NS_X: "x", _NS_RDF: "rdf", _NS_PLUS: "plus", _NS_TDM: "tdm", NS_STYLECLOAK: "stylecloak"} | known
    prefixes = {_NS_XML: "xml"}
    for element in root.iter():
        for name in (element.tag, *element.attrib):
            uri = name[1:].split("}", 1)[0] if name.startswith("{") else None
            if uri is None or uri in prefixes:
                continue
            prefix, taken = wanted.get(uri, ""), set(prefixes.values())
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", prefix) or prefix in taken or prefix.lower().startswith("xml"):
                prefix = next(f"ns{i}" for i in range(len(taken) + 1) if f"ns{i}" not in taken)
            prefixes[uri] = prefix

    def qname(name: str) -> str:
        if not name.startswith("{"):
            return name
        uri, local = name[1:].split("}", 1)
        return f"{prefixes[uri]}:{local}"

    def emit(element: ET.Element, declarations: str = "") -> str:
        tag = qname(element.tag)
        attrs = declarations + "".join(f" {qname(k)}={quoteattr(v)}" for k, v in element.attrib.items())
        inner = escape(element.text or "") + "".join(emit(child) for child in element)
        tail = escape(element.tail or "")
        return f"<{tag}{attrs}>{inner}</{tag}>{tail}" if inner else f"<{tag}{attrs}/>{tail}"

    return emit(root, "".join(f" xmlns:{p}={quoteattr(uri)}" for uri, p in prefixes.items() if uri != _NS_XML))
