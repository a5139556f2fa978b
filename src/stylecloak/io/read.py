"""Read artwork into (1,3,H,W) float tensors in [0, 1], with what writing a copy back needs."""

from __future__ import annotations

import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from stylecloak.errors import ImageError

from .encoding import webp_lossless
from .metadata import ORIENTATION, collect_metadata, xmp_bytes
from .pngdata import check_png_complete

MIN_SIDE = 16
MAX_PIXELS = 100_000_000
"""Default cap on an image's pixel count, checked from the header before decoding."""
WEB_MAX_PIXELS = 16_000_000
"""The web app's default cap (``stylecloak serve --max-pixels``), sized for memory.

Rule: a protect run needs about 6 GB for the models and the training-size views, plus up to about
120 bytes per pixel of the full-size image (peak RSS of ``stylecloak protect --quality fast --steps 1
--preview --threads 1`` at OMP_NUM_THREADS=1 grew by 112 B/px from 1 to 4 MP and by 59 B/px from 4
to 9 MP); the cap lets the full-size part add at most about 2 GB: 2 GB / 120 B ≈ 16 M px.
"""

_READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
_FORMAT_ALIASES = {"JPG": "JPEG", "MPO": "JPEG", "TIF": "TIFF"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_KEYED_MODES = {"1", "L", "P", "RGB"}  # modes whose "transparency" key becomes alpha
GRAY8_MODES = {"1", "L", "LA", "La", "F"}
_GRAY16_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image plus everything needed to write a cloaked copy of it.

    ``rgb`` is (1,3,H,W) float32 in [0, 1], EXIF orientation applied; ``alpha`` the exact
    H×W alpha channel (uint8) or None; ``mode`` the original PIL mode; ``format`` one of
    PNG, JPEG, WEBP, TIFF, BMP, GIF; ``info`` the metadata :func:`save_image` writes back
    (icc_profile, exif, xmp, dpi, subsampling, quality, progressive, comment, PNG text,
    bits=16, lossless for WebP); ``frames`` the frame count of the file, of which only the first is used.
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


def load_image(source: str | Path | Image.Image | torch.Tensor | LoadedImage, *, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Decode the first frame of *source* (a file, a PIL image, or an RGB float tensor (3,H,W) or (1,3,H,W) in
    [0, 1]) into a (1,3,H,W) float tensor in [0, 1]; a :class:`LoadedImage` is returned as it is.

    EXIF orientation is applied and reset to 1 in ``info["exif"]``. The pixel count is
    checked against *max_pixels* from the header, before anything is decoded. Every
    failure raises :class:`ImageError` naming the file.
    """
    if isinstance(source, LoadedImage):
        return source
    if isinstance(source, torch.Tensor):
        return _from_tensor(source, max_pixels)
    if not isinstance(source, (str, Path, Image.Image)):
        raise ImageError(f"cannot read an image from a {type(source).__name__}; pass a file path, a PIL image or a (1,3,H,W) tensor in [0, 1]")
    if isinstance(source, Image.Image):
        return _decode(source, None, str(getattr(source, "filename", "") or "in-memory image"), max_pixels)
    path = Path(source)
    with _open(path) as im:
        return _decode(im, path, str(path), max_pixels)


def probe_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """Check *path* from its header only (nothing is decoded): return (format, width, height).

    Raises :class:`ImageError`, with :func:`load_image`'s messages, for a file that is not a
    readable PNG/JPEG/WebP/TIFF/BMP/GIF or whose size is outside the limits.
    """
    return _inspect(Path(path), max_pixels, decode=False)


def verify_image(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """:func:`probe_image`, then decode the first frame and drop it: return (format, width, height).

    A truncated or corrupt file raises :class:`ImageError` here, not when it is protected. The size
    is checked from the header first, so at most one frame of ``max_pixels`` is ever decoded.
    """
    return _inspect(Path(path), max_pixels, decode=True)


def _inspect(path: Path, max_pixels: int, decode: bool) -> tuple[str, int, int]:
    with _open(path) as im:
        try:
            _check_size(str(path), im.width, im.height, max_pixels)
            if decode:
                _load_whole(im, path)
        except ImageError:
            raise
        except Exception as exc:  # any parser failure on untrusted bytes is the file's fault
            raise _decode_error(str(path), exc) from exc
        return normalise_format(im.format or "PNG"), *im.size


def read_xmp(path: str | Path) -> bytes | None:
    """The XMP packet of an image file (header only, nothing decoded), or None."""
    path = Path(path)
    with _open(path) as im:
        try:
            return xmp_bytes(im, im)
        except Exception:  # noqa: BLE001 -- unreadable metadata counts as none
            return None


def frames_warning(image: LoadedImage, name: str | None = None) -> str | None:
    """One line warning that only the first frame of an animated/multi-page file is used, else None."""
    if image.frames <= 1:
        return None
    return f"{name or name_of(image)}: has {image.frames} frames (animated or multi-page); only the first frame is protected and saved"


def _open(path: Path) -> Image.Image:
    name = str(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found; check the path") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot be read ({reason(exc)}); check the path and its permissions") from exc
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
        raise ImageError(f"{name}: not a PNG, JPEG, WebP, TIFF, BMP or GIF image, or corrupt; re-export it in one of these formats") from None
    except Exception as exc:  # any decoder failure on untrusted bytes is the file's fault
        raise _decode_error(name, exc) from exc


def _decode(im: Image.Image, path: Path | None, name: str, max_pixels: int) -> LoadedImage:
    try:
        _check_size(name, *im.size, max_pixels)
        frames = int(getattr(im, "n_frames", 1))
        if im.tell() != 0:
            im.seek(0)
        _load_whole(im, path)
        transposed = _orientation(im) in range(2, 9)
        final = ImageOps.exif_transpose(im) if transposed else im
        rgb, alpha, bits16 = _pixels(final)
        info = collect_metadata(im, final, transposed)
    except ImageError:
        raise
    except Exception as exc:  # any decoder failure on untrusted bytes is the file's fault
        raise _decode_error(name, exc) from exc
    if bits16:
        info["bits"] = 16
    if im.format == "WEBP" and path is not None:
        info["lossless"] = webp_lossless(path)
    return LoadedImage(
        path=path,
        rgb=rgb,
        alpha=alpha,
        mode=im.mode,
        format=normalise_format(im.format or "PNG"),
        info=info,
        frames=frames,
    )


def _from_tensor(rgb: torch.Tensor, max_pixels: int) -> LoadedImage:
    """An in-memory RGB tensor as a :class:`LoadedImage` (saved as PNG unless another format is asked for)."""
    x = rgb[None] if rgb.dim() == 3 else rgb
    if x.dim() != 4 or x.shape[:2] != (1, 3) or not x.is_floating_point():
        raise ImageError(
            f"in-memory tensor of shape {tuple(rgb.shape)} and type {rgb.dtype}: pass one RGB image as a float tensor (1,3,H,W) or (3,H,W) in [0, 1]"
        )
    _check_size("in-memory tensor", int(x.shape[-1]), int(x.shape[-2]), max_pixels)
    x = x.detach().to("cpu", torch.float32)
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ImageError("in-memory tensor: values must be finite and in [0, 1]; divide 8-bit pixels by 255")
    return LoadedImage(path=None, rgb=x.contiguous(), alpha=None, mode="RGB", format="PNG", info={}, frames=1)


def _load_whole(im: Image.Image, path: Path | None) -> None:
    """Decode the frame; a PNG from a file must hold every row (Pillow fills missing ones with zeros)."""
    im.load()
    if path is not None and im.format == "PNG":
        check_png_complete(path)


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(f"{name}: {width}×{height} px exceeds the limit of {max_pixels:,} pixels; downscale the image or raise max_pixels")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{name}: too small ({width}×{height} px): at least {MIN_SIDE}×{MIN_SIDE} px needed; use a larger image")


def _decode_error(name: str, exc: BaseException) -> ImageError:
    if isinstance(exc, MemoryError):
        return ImageError(f"{name}: not enough memory to decode it; downscale the image or lower max_pixels")
    if isinstance(exc, Image.DecompressionBombError):
        return ImageError(
            f"{name}: dimensions exceed Pillow's decompression-bomb limit ({reason(exc)}); downscale the image or raise PIL.Image.MAX_IMAGE_PIXELS"
        )
    return ImageError(f"{name}: cannot be decoded ({reason(exc)}); the file is truncated or corrupt, re-export it")


def reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(ORIENTATION, 1))
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
    if mode in GRAY8_MODES:
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


def normalise_format(name: str) -> str:
    name = name.upper().lstrip(".")
    return _FORMAT_ALIASES.get(name, name)


def name_of(image: LoadedImage) -> str:
    return str(image.path) if image.path is not None else "in-memory image"
