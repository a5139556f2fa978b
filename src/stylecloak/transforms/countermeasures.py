"""A mimic's countermeasures: what a mimic may apply to scraped images before training, used by the audit.

Deterministic for a given seed; not differentiable (they go through Pillow and OpenCV). Every function takes
and returns float tensors (B, 3, H, W) in [0, 1], keeping dtype and device. Most keep the shape too; a
countermeasure may change it, as :func:`repost` does (a platform serves a smaller file), and the audit then
brings what it returns to each mimic size like any other image.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from stylecloak.errors import ConfigError

from .ops import check_image, check_int, gaussian_blur, gaussian_noise


def _to_uint8(x: Tensor) -> list[np.ndarray]:
    """(B,3,H,W) in [0,1] → list of B contiguous HxWx3 uint8 arrays."""
    arr = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return [np.ascontiguousarray(a) for a in arr.permute(0, 2, 3, 1).cpu().numpy()]


def _from_arrays(arrays: list[np.ndarray], like: Tensor) -> Tensor:
    """List of HxWx3 arrays (uint8 in [0,255] or float in [0,1]) → tensor shaped like ``like``."""
    stacked = np.stack(arrays)
    t = torch.from_numpy(stacked).permute(0, 3, 1, 2)
    t = t.float() / 255 if stacked.dtype == np.uint8 else t.float()
    return t.clamp(0, 1).to(device=like.device, dtype=like.dtype).contiguous()


def _pil_down_up(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize to ``size`` (H, W) with Lanczos, then back to the input size with bicubic."""
    h, w = x.shape[-2:]
    out = []
    for a in _to_uint8(x):
        img = Image.fromarray(a).resize((size[1], size[0]), Image.Resampling.LANCZOS)
        out.append(np.asarray(img.resize((w, h), Image.Resampling.BICUBIC)))
    return _from_arrays(out, x)


def _pil_resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize to ``size`` (H, W) with Lanczos in 8 bits, as an image server does."""
    return _from_arrays([np.asarray(Image.fromarray(a).resize((size[1], size[0]), Image.Resampling.LANCZOS)) for a in _to_uint8(x)], x)


def jpeg(x: Tensor, quality: int) -> Tensor:
    """Real JPEG round trip through Pillow with 4:2:0 chroma subsampling.

    ``quality`` is the libjpeg quality, an int in [1, 100].
    """
    check_image(x)
    check_int("JPEG quality", quality, 1, 100)
    out = []
    for a in _to_uint8(x):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=quality, subsampling=2)
        buf.seek(0)
        with Image.open(buf) as img:
            out.append(np.asarray(img.convert("RGB")))
    return _from_arrays(out, x)


def downscale(x: Tensor, factor: float) -> Tensor:
    """Downscale by ``factor`` in (0, 1] with antialiased Lanczos, then upscale back (bicubic)."""
    check_image(x)
    if not 0 < factor <= 1:
        raise ConfigError(f"downscale factor must be in (0, 1], got {factor!r}")
    h, w = x.shape[-2:]
    return _pil_down_up(x, (max(1, round(h * factor)), max(1, round(w * factor))))


def resize_long_side(x: Tensor, size: int) -> Tensor:
    """Resize so the long side is ``size`` px (int ≥ 1), then back to the original size."""
    check_image(x)
    check_int("long-side size", size, 1)
    h, w = x.shape[-2:]
    scale = size / max(h, w)
    return _pil_down_up(x, (max(1, round(h * scale)), max(1, round(w * scale))))


def repost(x: Tensor, long_side: int, quality: int) -> Tensor:
    """What a platform serves of an uploaded file: resized with Lanczos so its long side is ``long_side`` px
    (int ≥ 1; never enlarged: a smaller image is only re-encoded), then saved as JPEG at ``quality`` with 4:2:0
    chroma subsampling. Returns the served image, smaller than ``x`` when ``x`` was larger than ``long_side``."""
    check_image(x)
    check_int("repost long side", long_side, 1)
    h, w = x.shape[-2:]
    if max(h, w) > long_side:
        scale = long_side / max(h, w)
        x = _pil_resize(x, (max(1, round(h * scale)), max(1, round(w * scale))))
    return jpeg(x, quality)


def _box(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window of each channel of an HxW[xC] float array (reflected edges)."""
    k = 2 * radius + 1
    if a.ndim == 2 or a.shape[2] <= 4:
        return np.asarray(cv2.boxFilter(a, -1, (k, k), borderType=cv2.BORDER_REFLECT))
    return np.stack([_box(a[..., i], radius) for i in range(a.shape[2])], axis=-1)


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Colour guided filter (He et al.) of HxWx3 ``src`` by HxWx3 ``guide``, both float64.

    AdverseCleaner calls ``cv2.ximgproc.guidedFilter`` from opencv-contrib; this is kept instead
    because that wheel ships its own ``cv2`` package, which replaces (and is replaced by) the
    opencv-python-headless that other installed packages commonly require: whichever was installed
    last wins, so ``ximgproc`` would come and go with unrelated installs. Measured against
    opencv-contrib-python-headless 5.0.0.93 (float32 in and out, a 512 px Monet after AdverseCleaner's
    64 bilateral passes, radius 4, eps 16, measured once, outside the test suite): at most
    0.003 grey levels apart, and 0.001 % of the pixels round to a different 8-bit value.
    """
    mean_i = _box(guide, radius)
    prod = np.einsum("hwi,hwj->hwij", guide, guide).reshape(*guide.shape[:2], 9)
    cov_ii = _box(prod, radius).reshape(*guide.shape, 3)
    cov_ii -= np.einsum("hwi,hwj->hwij", mean_i, mean_i)
    cov_ii += eps * np.eye(3)
    inv = np.linalg.inv(cov_ii)
    mean_p = _box(src, radius)
    cross = np.einsum("hwi,hwc->hwci", guide, src).reshape(*guide.shape[:2], 9)
    cov_ip = _box(cross, radius).reshape(*guide.shape, 3)
    cov_ip -= np.einsum("hwc,hwi->hwci", mean_p, mean_i)
    a = np.einsum("hwci,hwij->hwcj", cov_ip, inv)
    b = mean_p - np.einsum("hwcj,hwj->hwc", a, mean_i)
    mean_a = _box(a.reshape(*guide.shape[:2], 9), radius).reshape(a.shape)
    out: np.ndarray = np.einsum("hwcj,hwj->hwc", mean_a, guide) + _box(b, radius)
    return out


def adverse_cleaner(
    x: Tensor,
    passes: int = 64,
    diameter: int = 5,
    sigma_color: float = 8.0,
    sigma_space: float = 8.0,
    radius: int = 4,
    eps: float = 16.0,
) -> Tensor:
    """AdverseCleaner-style purification: repeated bilateral filtering, then a guided filter.

    The image is bilateral-filtered ``passes`` times (OpenCV, ``diameter`` px window,
    ``sigma_color`` in 8-bit grey levels 0-255, ``sigma_space`` in px); the result is
    then guided-filtered (window radius ``radius`` px, regulariser ``eps`` in squared
    8-bit grey levels) with the original input as guide, restoring its edges.
    """
    check_image(x)
    check_int("adverse_cleaner passes", passes, 1)
    check_int("adverse_cleaner diameter", diameter, 1)
    check_int("adverse_cleaner radius", radius, 1)
    if not (sigma_color > 0 and sigma_space > 0 and eps > 0):
        raise ConfigError(f"adverse_cleaner sigma_color, sigma_space and eps must be > 0, got {sigma_color!r}, {sigma_space!r}, {eps!r}")
    guides = x.detach().permute(0, 2, 3, 1).double().clamp(0, 1).cpu().numpy()
    out = []
    for guide, smooth in zip(guides, _to_uint8(x), strict=True):
        for _ in range(passes):
            smooth = cv2.bilateralFilter(smooth, diameter, sigma_color, sigma_space)
        src = smooth.astype(np.float64) / 255
        out.append(_guided_filter(np.ascontiguousarray(guide), src, radius, eps / 255**2))
    return _from_arrays(out, x)


def noisy_upscale(x: Tensor, sigma: float = 0.05, factor: float = 2.0, seed: int = 0) -> Tensor:
    """Add N(0, sigma²) noise, downscale by ``factor`` ≥ 1, then upscale back classically.

    Hönig et al. upscale the noised image with a learned diffusion upscaler, which is
    not available offline; this is the classical stand-in (Lanczos down, bicubic up).
    """
    if not factor >= 1:
        raise ConfigError(f"noisy_upscale factor must be >= 1, got {factor!r}")
    return downscale(gaussian_noise(x, sigma, seed), 1 / factor)


COUNTERMEASURES: dict[str, Callable[[Tensor, int], Tensor]] = {
    "jpeg90": lambda x, seed: jpeg(x, 90),
    "jpeg75": lambda x, seed: jpeg(x, 75),
    "jpeg50": lambda x, seed: jpeg(x, 50),
    "downscale_half": lambda x, seed: downscale(x, 0.5),
    "resize_512": lambda x, seed: resize_long_side(x, 512),
    "noise_0.02": lambda x, seed: gaussian_noise(x, 0.02, seed),
    "noise_0.05": lambda x, seed: gaussian_noise(x, 0.05, seed),
    "blur_1": lambda x, seed: gaussian_blur(x, 1.0),
    "adverse_cleaner": lambda x, seed: adverse_cleaner(x),
    "noisy_upscale": lambda x, seed: noisy_upscale(x, seed=seed),
    "repost_1080": lambda x, seed: repost(x, 1080, 75),
    "repost_2048": lambda x, seed: repost(x, 2048, 85),
}
"""Countermeasure name → ``fn(x, seed)``; a plain dict, so callers may add entries."""
REPOSTS: tuple[str, ...] = ("repost_1080", "repost_2048")
"""The trip every posted file takes: what Instagram-like sites (1080 px, q75) and larger-image sites (2048 px,
q85) serve, so what a mimic scraping them gets."""
