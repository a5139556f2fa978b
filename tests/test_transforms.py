"""Tests for stylecloak.transforms: countermeasures and differentiable EOT transforms."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from stylecloak.errors import ConfigError, ImageError
from stylecloak.transforms import (
    COUNTERMEASURES,
    EOTSettings,
    RandomEOT,
    adverse_cleaner,
    diff_jpeg,
    diff_resize,
    downscale,
    gaussian_blur,
    gaussian_noise,
    jpeg,
    noisy_upscale,
    resize_long_side,
)
from stylecloak.transforms.countermeasures import _box, _guided_filter


def natural(h: int = 64, w: int = 64, seed: int = 0, batch: int = 1) -> Tensor:
    """Smooth colour gradients plus oriented texture and blotches, in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([0.5 + 0.3 * torch.sin(3 * xx + 1), 0.4 + 0.3 * yy, 0.5 + 0.2 * torch.cos(4 * xx * yy)])
    texture = 0.08 * torch.sin(2 * math.pi * (9 * xx + 5 * yy))
    texture += 0.05 * torch.sin(2 * math.pi * (3 * xx - 17 * yy))
    blotches = torch.rand(batch, 3, max(1, h // 8), max(1, w // 8), generator=gen)
    blotches = F.interpolate(blotches, size=(h, w), mode="bicubic", align_corners=False)
    return (base + texture + 0.2 * (blotches - 0.5)).clamp(0, 1)


def checkerboard(size: int = 64) -> Tensor:
    idx = torch.arange(size)
    board = ((idx[:, None] + idx[None, :]) % 2).float()
    return board.expand(1, 3, size, size).contiguous()


def psnr(a: Tensor, b: Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def laplacian_var(x: Tensor) -> float:
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(3, 1, 3, 3)
    return float(F.conv2d(x, kernel, groups=3).var())


# --------------------------------------------------------------------------- countermeasures


def test_each_countermeasure_family_grows_stronger_as_its_names_say() -> None:
    x = natural(64, 64)
    change = {name: float((fn(x, 0) - x).abs().mean()) for name, fn in COUNTERMEASURES.items()}
    assert change["jpeg90"] < change["jpeg75"] < change["jpeg50"]
    assert change["noise_0.02"] < change["noise_0.05"]
    assert change["noise_0.05"] == pytest.approx(0.05 * math.sqrt(2 / math.pi), rel=0.2)  # mean |N(0, 0.05²)|, less clipping


@pytest.mark.parametrize("name", list(COUNTERMEASURES))
def test_countermeasure_shape_range_and_determinism(name: str) -> None:
    x = natural(40, 52, batch=2)
    fn = COUNTERMEASURES[name]
    out = fn(x, 3)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, fn(x, 3))
    assert not torch.equal(out, x)


@pytest.mark.parametrize("name", ["noise_0.02", "noise_0.05", "noisy_upscale"])
def test_random_countermeasures_depend_on_seed(name: str) -> None:
    x = natural(32, 32)
    assert not torch.equal(COUNTERMEASURES[name](x, 0), COUNTERMEASURES[name](x, 1))


def test_countermeasures_keep_dtype() -> None:
    x = natural(32, 32).double()
    assert jpeg(x, 75).dtype == torch.float64
    assert adverse_cleaner(x, passes=2).dtype == torch.float64


def test_jpeg_lower_quality_changes_more() -> None:
    x = natural(64, 64)
    errs = {q: float((jpeg(x, q) - x).abs().mean()) for q in (50, 90)}
    assert errs[50] > errs[90] > 0


@pytest.mark.parametrize("sigma", [0.02, 0.05])
def test_noise_std_matches_sigma(sigma: float) -> None:
    grey = torch.full((1, 3, 64, 64), 0.5)
    std = float((gaussian_noise(grey, sigma, seed=0) - grey).std())
    assert std == pytest.approx(sigma, rel=0.05)


def test_downscale_removes_checkerboard() -> None:
    board = checkerboard()
    assert float(downscale(board, 0.5).std()) < 0.01 * float(board.std())
    assert float(resize_long_side(board, 32).std()) < 0.01 * float(board.std())


def test_downscale_keeps_smooth_content() -> None:
    x = natural(64, 64)
    assert psnr(downscale(x, 0.5), x) > 25
    assert psnr(resize_long_side(x, 128), x) > 35


def test_blur_lowers_laplacian_variance() -> None:
    x = natural(64, 64)
    assert laplacian_var(gaussian_blur(x, 1.0)) < 0.2 * laplacian_var(x)


def test_adverse_cleaner_removes_noise_more_than_content() -> None:
    clean = natural(64, 64)
    gen = torch.Generator().manual_seed(1)
    noisy = (clean + 0.03 * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
    noise_err = float((noisy - clean).norm())
    assert float((adverse_cleaner(noisy) - clean).norm()) < 0.9 * noise_err
    assert float((adverse_cleaner(clean) - clean).norm()) < 0.5 * noise_err


def test_guided_filter_properties() -> None:
    gen = np.random.default_rng(0)
    guide, src = gen.random((20, 18, 3)), gen.random((20, 18, 3))
    # an image guiding itself with a tiny regulariser is preserved
    assert np.allclose(_guided_filter(guide, guide, 2, 1e-8), guide, atol=1e-4)
    # a flat guide carries no edges: the output is the box mean of the box mean
    flat = np.full_like(guide, 0.5)
    assert np.allclose(_guided_filter(flat, src, 2, 1e-3), _box(_box(src, 2), 2))


def test_noisy_upscale_smooths_its_noise() -> None:
    grey = torch.full((1, 3, 64, 64), 0.5)
    residual = float((noisy_upscale(grey, sigma=0.05, seed=0) - grey).std())
    assert 0 < residual < 0.5 * 0.05


BAD_PARAMS: list[tuple[Callable[[Tensor], Tensor], str]] = [
    (lambda x: jpeg(x, 0), "quality"),
    (lambda x: jpeg(x, 101), "quality"),
    (lambda x: jpeg(x, 75.5), "quality"),  # type: ignore[arg-type]
    (lambda x: downscale(x, 0.0), "factor"),
    (lambda x: downscale(x, 1.5), "factor"),
    (lambda x: resize_long_side(x, 0), "size"),
    (lambda x: gaussian_noise(x, -0.1, 0), "sigma"),
    (lambda x: gaussian_blur(x, 0.0), "sigma"),
    (lambda x: adverse_cleaner(x, passes=0), "passes"),
    (lambda x: adverse_cleaner(x, eps=0.0), "eps"),
    (lambda x: noisy_upscale(x, factor=0.5), "factor"),
    (lambda x: diff_jpeg(x, 0.0), "quality"),
    (lambda x: diff_resize(x, (0, 4)), "size"),
]


@pytest.mark.parametrize(("call", "word"), BAD_PARAMS)
def test_invalid_params_raise_config_error(call: Callable[[Tensor], Tensor], word: str) -> None:
    with pytest.raises(ConfigError, match=word):
        call(natural(16, 16))


@pytest.mark.parametrize(
    "bad",
    [torch.rand(3, 16, 16), torch.rand(1, 1, 16, 16), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)],
)
def test_bad_images_raise_image_error(bad: Tensor) -> None:
    with pytest.raises(ImageError):
        jpeg(bad, 75)


# --------------------------------------------------------------------------- differentiable


def test_diff_resize_gradcheck() -> None:
    x = torch.rand(1, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: diff_resize(t, (4, 3)), (x,))
    assert torch.autograd.gradcheck(lambda t: diff_resize(t, (9, 8)), (x,))


def test_gaussian_blur_gradcheck() -> None:
    x = torch.rand(1, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: gaussian_blur(t, 0.6), (x,), fast_mode=True)


@pytest.mark.parametrize(("quality", "min_psnr"), [(50, 38.0), (75, 40.0), (95, 44.0)])
@pytest.mark.parametrize("size", [(64, 64), (50, 37)])
def test_diff_jpeg_matches_pillow(quality: int, min_psnr: float, size: tuple[int, int]) -> None:
    # measured on these images: 39.7 / 41.2 / 46.8 dB (50x37) and 43.2 / 45.1 / 46.3 dB (64x64)
    # at q 50 / 75 / 95; 44.7 / 45.6 / 48.2 dB at 128x128
    x = natural(*size)
    assert psnr(diff_jpeg(x, quality), jpeg(x, quality)) > min_psnr


def test_diff_jpeg_gradient_flows() -> None:
    x = natural(24, 20).requires_grad_(True)
    weights = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    (diff_jpeg(x, 60) * weights).sum().backward()
    assert x.grad is not None
    assert bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


def test_diff_jpeg_quality_orders_error() -> None:
    x = natural(64, 64)
    assert psnr(diff_jpeg(x, 30), x) < psnr(diff_jpeg(x, 90), x)


# --------------------------------------------------------------------------- RandomEOT

ALWAYS = EOTSettings(jpeg_prob=1, rescale_prob=1, noise_prob=1, blur_prob=1, shift_prob=1)
NEVER = EOTSettings(jpeg_prob=0, rescale_prob=0, noise_prob=0, blur_prob=0, shift_prob=0)


def test_eot_deterministic_under_same_seed() -> None:
    eot = RandomEOT()
    x = natural(48, 40)
    for seed in range(8):
        out_a, rec_a = eot(x, torch.Generator().manual_seed(seed))
        out_b, rec_b = eot(x, torch.Generator().manual_seed(seed))
        assert rec_a == rec_b and torch.equal(out_a, out_b)


def test_eot_samples_vary_and_name_what_was_applied() -> None:
    eot = RandomEOT()
    gen = torch.Generator().manual_seed(0)
    records = [eot(natural(32, 32), gen)[1] for _ in range(30)]
    assert len({repr(r) for r in records}) > 10
    known = {"shift", "rescale", "blur", "noise", "jpeg"}
    assert all(set(r) <= known for r in records)
    assert set().union(*records) == known


def test_eot_record_lists_all_applied_in_order() -> None:
    _, record = RandomEOT(ALWAYS)(natural(32, 32), torch.Generator().manual_seed(0))
    assert list(record) == ["shift", "rescale", "blur", "noise", "jpeg"]
    assert 50 <= record["jpeg"]["quality"] <= 95
    assert 0.5 <= record["rescale"]["scale"] <= 1.0
    assert max(abs(record["shift"]["dy"]), abs(record["shift"]["dx"])) <= 8


def test_eot_never_is_identity() -> None:
    x = natural(32, 32)
    out, record = RandomEOT(NEVER)(x, torch.Generator().manual_seed(0))
    assert record == {} and torch.equal(out, x)


def test_eot_replay_reproduces_output_and_transfers() -> None:
    eot = RandomEOT(ALWAYS)
    x, target = natural(40, 36, seed=0), natural(40, 36, seed=1)
    out, record = eot(x, torch.Generator().manual_seed(5))
    assert torch.equal(eot.replay(x, record), out)
    assert torch.equal(RandomEOT(NEVER).replay(x, record), out)  # record alone suffices
    assert eot.replay(target, record).shape == target.shape


def test_eot_shift_translates_content() -> None:
    settings = dataclasses.replace(NEVER, shift_prob=1.0)
    x = natural(32, 32)
    out, record = RandomEOT(settings)(x, torch.Generator().manual_seed(2))
    dy, dx = int(record["shift"]["dy"]), int(record["shift"]["dx"])
    assert torch.equal(torch.roll(x, (dy, dx), dims=(2, 3))[..., 8:-8, 8:-8], out[..., 8:-8, 8:-8])


def test_eot_gradients_reach_input() -> None:
    x = natural(32, 32).requires_grad_(True)
    out, _ = RandomEOT(ALWAYS)(x, torch.Generator().manual_seed(0))
    out.square().sum().backward()
    assert x.grad is not None
    assert bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("jpeg_prob", 1.5),
        ("jpeg_quality", (95, 50)),
        ("jpeg_quality", (0, 50)),
        ("rescale", (0.0, 1.0)),
        ("rescale", (0.5, 1.2)),
        ("noise_sigma", -0.01),
        ("blur_sigma", (0.0, 1.0)),
        ("max_shift", -1),
    ],
)
def test_eot_settings_validate(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        EOTSettings(**{field: value})  # type: ignore[arg-type]


def test_eot_replay_rejects_unknown_record() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        RandomEOT().replay(natural(16, 16), {"rotate": {"angle": 3.0}})
