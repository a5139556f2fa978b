"""Image transformations: a mimic's countermeasures and differentiable EOT transforms.

Every function takes and returns float tensors of shape (B, 3, H, W) with values
in [0, 1]; outputs keep the input's shape, dtype and device.

Family A (countermeasures a mimic may apply before training, used by the audit)
is deterministic for a given seed and need not be differentiable. Family B
(``diff_jpeg``, ``diff_resize``, ``gaussian_blur`` and :class:`RandomEOT`) lets
gradients flow back to the input, for Expectation over Transformation during
cloak optimisation.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from stylecloak.errors import ConfigError, ImageError

__all__ = [
    "COUNTERMEASURES",
    "EOTSettings",
    "RandomEOT",
    "adverse_cleaner",
    "diff_jpeg",
    "diff_resize",
    "downscale",
    "gaussian_blur",
    "gaussian_noise",
    "jpeg",
    "noisy_upscale",
    "resize_long_side",
]

EOTRecord = dict[str, dict[str, float | int]]
"""What :class:`RandomEOT` applied: transform name → its sampled parameters, in order."""


# --------------------------------------------------------------------------- helpers


def _check_int(name: str, value: object, minimum: int, maximum: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        bound = f">= {minimum}" if maximum == math.inf else f"in [{minimum}, {maximum:g}]"
        raise ConfigError(f"{name} must be an int {bound}, got {value!r}")


def _check_image(x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ImageError(f"expected a float tensor of shape (B, 3, H, W), got {shape}")
    if not x.is_floating_point():
        raise ImageError(f"expected a float tensor with values in [0, 1], got dtype {x.dtype}")


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


# --------------------------------------------------------------------------- family A


def jpeg(x: Tensor, quality: int) -> Tensor:
    """Real JPEG round trip through Pillow with 4:2:0 chroma subsampling.

    ``quality`` is the libjpeg quality, an int in [1, 100].
    """
    _check_image(x)
    _check_int("JPEG quality", quality, 1, 100)
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
    _check_image(x)
    if not 0 < factor <= 1:
        raise ConfigError(f"downscale factor must be in (0, 1], got {factor!r}")
    h, w = x.shape[-2:]
    return _pil_down_up(x, (max(1, round(h * factor)), max(1, round(w * factor))))


def resize_long_side(x: Tensor, size: int) -> Tensor:
    """Resize so the long side is ``size`` px (int ≥ 1), then back to the original size."""
    _check_image(x)
    _check_int("long-side size", size, 1)
    h, w = x.shape[-2:]
    scale = size / max(h, w)
    return _pil_down_up(x, (max(1, round(h * scale)), max(1, round(w * scale))))


def gaussian_noise(x: Tensor, sigma: float, seed: int) -> Tensor:
    """Add N(0, sigma²) noise (sigma ≥ 0, in [0,1] units) drawn from ``seed``; clamp to [0, 1].

    Differentiable with respect to ``x`` (where not clamped).
    """
    _check_image(x)
    if not sigma >= 0:
        raise ConfigError(f"noise sigma must be >= 0, got {sigma!r}")
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float32)
    return (x + sigma * noise.to(device=x.device, dtype=x.dtype)).clamp(0, 1)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur with std ``sigma`` > 0 px (radius ceil(3·sigma), edge replicated).

    Differentiable with respect to ``x``.
    """
    _check_image(x)
    if not sigma > 0:
        raise ConfigError(f"blur sigma must be > 0, got {sigma!r}")
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    horiz = kernel.view(1, 1, 1, -1).expand(3, 1, 1, -1)
    vert = kernel.view(1, 1, -1, 1).expand(3, 1, -1, 1)
    return F.conv2d(F.conv2d(padded, horiz, groups=3), vert, groups=3)


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
    64 bilateral passes, radius 4, eps 16, by a scratch script not in the repository): at most
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
    _check_image(x)
    _check_int("adverse_cleaner passes", passes, 1)
    _check_int("adverse_cleaner diameter", diameter, 1)
    _check_int("adverse_cleaner radius", radius, 1)
    if not (sigma_color > 0 and sigma_space > 0 and eps > 0):
        raise ConfigError(
            "adverse_cleaner sigma_color, sigma_space and eps must be > 0, "
            f"got {sigma_color!r}, {sigma_space!r}, {eps!r}"
        )
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
}
"""Countermeasure name → ``fn(x, seed)``; a plain dict, so callers may add entries."""


# --------------------------------------------------------------------------- family B

_LUMA_TABLE = torch.tensor(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=torch.float64,
)
_CHROMA_TABLE = torch.full((8, 8), 99.0, dtype=torch.float64)
_CHROMA_TABLE[:4, :4] = torch.tensor(
    [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]],
    dtype=torch.float64,
)
_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ],
    dtype=torch.float64,
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_DCT = torch.tensor(
    [
        [
            math.sqrt((1 if k == 0 else 2) / 8) * math.cos((2 * n + 1) * k * math.pi / 16)
            for n in range(8)
        ]
        for k in range(8)
    ],
    dtype=torch.float64,
)


def _quant_table(base: Tensor, quality: float) -> Tensor:
    """IJG table ``base`` scaled for ``quality`` in [1, 100] as libjpeg does (baseline, ≤ 255)."""
    scale = math.floor(5000 / quality) if quality < 50 else 200 - 2 * quality
    return torch.floor((base * scale + 50) / 100).clamp(1, 255)


def _color(x: Tensor, matrix: Tensor) -> Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(x), x)


def _quantise_blocks(plane: Tensor, table: Tensor) -> Tensor:
    """DCT-quantise-dequantise-IDCT each 8x8 block of (B,C,H,W) ``plane`` (H, W multiples of 8)."""
    b, c, h, w = plane.shape
    blocks = plane.reshape(b, c, h // 8, 8, w // 8, 8).transpose(3, 4)
    dct = _DCT.to(plane)
    coef = dct @ blocks @ dct.T / table.to(plane)
    coef = coef + (torch.round(coef) - coef).detach()  # straight-through rounding
    blocks = dct.T @ (coef * table.to(plane)) @ dct
    return blocks.transpose(3, 4).reshape(b, c, h, w)


def diff_jpeg(x: Tensor, quality: float) -> Tensor:
    """Differentiable approximation of a 4:2:0 baseline JPEG round trip at ``quality`` in [1, 100].

    Forward pass: YCbCr, 2x2 chroma averaging, 8x8 DCT, quantisation with the IJG
    tables scaled as libjpeg does, exact rounding, then the inverse chain with
    bilinear chroma upsampling. Rounding uses a straight-through gradient.
    """
    _check_image(x)
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in [1, 100], got {quality!r}")
    h, w = x.shape[-2:]
    padded = F.pad(x, (0, -w % 16, 0, -h % 16), mode="replicate")
    ycc = _color(padded * 255, _RGB_TO_YCBCR)
    luma = _quantise_blocks(ycc[:, :1] - 128, _quant_table(_LUMA_TABLE, quality))
    chroma = F.avg_pool2d(ycc[:, 1:], 2)  # already centred on 0: the JPEG level shift
    chroma = _quantise_blocks(chroma, _quant_table(_CHROMA_TABLE, quality))
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    rgb = _color(torch.cat([luma, chroma], dim=1), _YCBCR_TO_RGB) + 128
    return (rgb[..., :h, :w] / 255).clamp(0, 1)


def diff_resize(
    x: Tensor, size: tuple[int, int], mode: Literal["bilinear", "bicubic"] = "bilinear"
) -> Tensor:
    """Antialiased differentiable resize to ``size`` = (H, W) px; bicubic output is clamped."""
    _check_image(x)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"resize size must be two positive ints (H, W), got {size!r}")
    if mode not in ("bilinear", "bicubic"):
        raise ConfigError(f"resize mode must be 'bilinear' or 'bicubic', got {mode!r}")
    out = F.interpolate(x, size=tuple(size), mode=mode, align_corners=False, antialias=True)
    return out.clamp(0, 1) if mode == "bicubic" else out


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise ConfigError(
            f"{name} must be (lo, hi) with {low} <= lo <= hi <= {high}, got {value!r}"
        )


@dataclass(frozen=True)
class EOTSettings:
    """Probabilities and parameter ranges of the transformations :class:`RandomEOT` samples.

    Probabilities are in [0, 1]; ``jpeg_quality`` is an inclusive int range in [1, 100];
    ``rescale`` is a range of relative scales in (0, 1] (down, then back up);
    ``noise_sigma`` ≥ 0 is in [0,1] units; ``blur_sigma`` in px; ``max_shift`` ≥ 0 in px.
    """

    jpeg_quality: tuple[int, int] = (50, 95)
    jpeg_prob: float = 0.5
    rescale: tuple[float, float] = (0.5, 1.0)
    rescale_prob: float = 0.5
    noise_sigma: float = 0.02
    noise_prob: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.0)
    blur_prob: float = 0.2
    max_shift: int = 8
    shift_prob: float = 0.3

    def __post_init__(self) -> None:
        for name in ("jpeg_prob", "rescale_prob", "noise_prob", "blur_prob", "shift_prob"):
            p = getattr(self, name)
            if not 0 <= p <= 1:
                raise ConfigError(f"EOT {name} must be in [0, 1], got {p!r}")
        _check_range("EOT jpeg_quality", self.jpeg_quality, 1, 100)
        for q in self.jpeg_quality:
            _check_int("EOT jpeg_quality", q, 1, 100)
        _check_range("EOT rescale", self.rescale, 0, 1)
        if self.rescale[0] <= 0:
            raise ConfigError(f"EOT rescale must be > 0, got {self.rescale!r}")
        _check_range("EOT blur_sigma", self.blur_sigma, 0, math.inf)
        if self.blur_sigma[0] <= 0:
            raise ConfigError(f"EOT blur_sigma must be > 0, got {self.blur_sigma!r}")
        if not self.noise_sigma >= 0:
            raise ConfigError(f"EOT noise_sigma must be >= 0, got {self.noise_sigma!r}")
        _check_int("EOT max_shift", self.max_shift, 0)


def _shift(x: Tensor, dy: int, dx: int) -> Tensor:
    """Translate content by (dy, dx) px with reflect padding; same size output."""
    pad = max(abs(dy), abs(dx))
    if pad == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    return padded[..., pad - dy : pad - dy + h, pad - dx : pad - dx + w]


class RandomEOT(nn.Module):
    """Randomly sampled, differentiable chain: shift → rescale → blur → noise → JPEG.

    ``forward(x, generator)`` returns the transformed image and a record of what was
    applied (name → sampled parameters, in application order; skipped ones absent).
    The same generator state gives the same chain; :meth:`replay` applies a record to
    another image of the same size.
    """

    def __init__(self, settings: EOTSettings | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else EOTSettings()

    def sample(self, height: int, width: int, generator: torch.Generator) -> EOTRecord:
        """Draw a record for an image of ``height`` x ``width`` px from ``generator``."""
        s = self.settings

        def chance(p: float) -> bool:
            return bool(torch.rand((), generator=generator) < p)

        def uniform(lo: float, hi: float) -> float:
            return lo + (hi - lo) * float(torch.rand((), generator=generator))

        def integer(lo: int, hi: int) -> int:
            return int(torch.randint(lo, hi + 1, (), generator=generator))

        record: EOTRecord = {}
        max_shift = min(s.max_shift, height - 1, width - 1)
        if chance(s.shift_prob) and max_shift > 0:
            record["shift"] = {
                "dy": integer(-max_shift, max_shift),
                "dx": integer(-max_shift, max_shift),
            }
        if chance(s.rescale_prob):
            record["rescale"] = {"scale": uniform(*s.rescale)}
        if chance(s.blur_prob):
            record["blur"] = {"sigma": uniform(*s.blur_sigma)}
        if chance(s.noise_prob):
            record["noise"] = {"sigma": s.noise_sigma, "seed": integer(0, 2**31 - 1)}
        if chance(s.jpeg_prob):
            record["jpeg"] = {"quality": integer(*s.jpeg_quality)}
        return record

    def forward(self, x: Tensor, generator: torch.Generator) -> tuple[Tensor, EOTRecord]:
        """Sample a chain from ``generator``, apply it to ``x``; return (image, record)."""
        _check_image(x)
        record = self.sample(x.shape[-2], x.shape[-1], generator)
        return self.replay(x, record), record

    def replay(self, x: Tensor, record: EOTRecord) -> Tensor:
        """Apply exactly the transformations in ``record`` to ``x`` (differentiable)."""
        _check_image(x)
        unknown = set(record) - {"shift", "rescale", "blur", "noise", "jpeg"}
        if unknown:
            raise ConfigError(f"unknown EOT transformations in record: {sorted(unknown)}")
        h, w = x.shape[-2:]
        if "shift" in record:
            x = _shift(x, int(record["shift"]["dy"]), int(record["shift"]["dx"]))
        if "rescale" in record:
            scale = float(record["rescale"]["scale"])
            small = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = diff_resize(diff_resize(x, small, "bicubic"), (h, w), "bicubic")
        if "blur" in record:
            x = gaussian_blur(x, float(record["blur"]["sigma"]))
        if "noise" in record:
            x = gaussian_noise(x, float(record["noise"]["sigma"]), int(record["noise"]["seed"]))
        if "jpeg" in record:
            x = diff_jpeg(x, float(record["jpeg"]["quality"]))
        return x
