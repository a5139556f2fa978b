"""The optimiser: it moves latents toward the target, keeps the budget, and is deterministic."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from stylecloak.backbones import encode_all, load_backbone
from stylecloak.cloak import CloakSettings, View, optimise, optimiser
from stylecloak.config import INTENSITY, QUALITY, cloak_settings
from stylecloak.errors import ConfigError
from stylecloak.geometry import fit
from stylecloak.perceptual import PerceptualDistance, psnr
from stylecloak.styles import builtin_styles, style_stats, style_transfer


@pytest.fixture(scope="module")
def setup(tiny_weights, small_art):
    bb = load_backbone("taef2", weights_dir=tiny_weights)
    omega = style_transfer(bb, small_art, style_stats(bb, builtin_styles()["cubist-facets"]))
    return bb, small_art, omega, PerceptualDistance()


def progress_of(bb, x, x_adv, omega) -> float:
    z0, z1, t = encode_all([bb], x)[0], encode_all([bb], x_adv)[0], encode_all([bb], omega)[0]
    return 1 - float((z1 - t).norm() / (z0 - t).norm())


@pytest.mark.parametrize("method, lr", [("l2", 0.5 / 255), ("adam", 1.5 / 255)])
def test_cloak_moves_latents_toward_target_within_budget(setup, method, lr):
    bb, x, omega, perc = setup
    s = CloakSettings(steps=25, budget=0.3, max_linf=8 / 255, lr=lr, method=method, eot=None, precision="fp32")
    steps = []
    delta = optimise(x, omega, [bb], s, perc, progress=lambda i, n, info: steps.append(info))
    x_adv = (x + delta).clamp(0, 1)
    assert progress_of(bb, x, x_adv, omega) > 0.25
    assert delta.abs().max() <= 8 / 255 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert float(perc(x, x_adv)) <= s.budget * 1.1
    assert len(steps) == 25 and steps[-1]["latent"] < steps[0]["latent"]


def test_psnr_floor_holds_and_l2_beats_adam_under_it(setup):
    """With the energy cap binding, RMS-normalised steps reach more progress than Adam's sign-like ones."""
    bb, x, omega, perc = setup
    reached = {}
    for method, lr in (("l2", 0.5 / 255), ("adam", 1.5 / 255)):
        s = CloakSettings(steps=25, budget=1.0, max_linf=None, min_psnr=36.0, lr=lr, method=method, eot=None, precision="fp32")
        x_adv = (x + optimise(x, omega, [bb], s, perc)).clamp(0, 1)
        assert float(psnr(x, x_adv)) >= 36.0 - 0.01
        reached[method] = progress_of(bb, x, x_adv, omega)
    assert reached["l2"] > reached["adam"] + 0.03


def test_mimic_views_protect_at_two_scales(setup):
    """Views at the working size and at half of it, one drawn per step: latents move toward each scale's target."""
    bb, x, omega, perc = setup
    stats = style_stats(bb, builtin_styles()["cubist-facets"])
    small = fit(x, (64, 64), bb.factor)
    views = [View((128, 128), omega), View((64, 64), style_transfer(bb, small, stats))]
    s = CloakSettings(steps=24, budget=0.3, eot=None, precision="fp32", view_order="worst", seed=2)
    a = optimise(x, views, [bb], s, perc)
    assert torch.equal(a, optimise(x, views, [bb], s, perc))
    x_adv = (x + a).clamp(0, 1)
    assert progress_of(bb, x, x_adv, omega) > 0.15
    assert progress_of(bb, small, fit(x_adv, (64, 64), bb.factor), views[1].target) > 0.15


def test_single_scale_cloak_is_not_seen_at_another_scale(setup):
    """The hole multi-scale views close: a cloak made at 128 px only does much less at 64 px."""
    bb, x, omega, perc = setup
    stats = style_stats(bb, builtin_styles()["cubist-facets"])
    small = fit(x, (64, 64), bb.factor)
    s = CloakSettings(steps=24, budget=0.3, eot=None, precision="fp32")
    x_adv = (x + optimise(x, omega, [bb], s, perc)).clamp(0, 1)
    at_half = progress_of(bb, small, fit(x_adv, (64, 64), bb.factor), style_transfer(bb, small, stats))
    assert at_half < progress_of(bb, x, x_adv, omega) - 0.1


def _style_gap(bb, x: torch.Tensor, stats) -> float:
    """Distance of x's latent channel means and standard deviations from the style's (what a mimic learns)."""
    z = encode_all([bb], x)[0]
    return float(torch.cat([z.mean((2, 3))[0] - stats.mean, z.std((2, 3))[0] - stats.std]).norm())


def test_latent_target_moves_the_style_statistics_at_two_view_sizes(setup):
    """Aiming at the latents Ω is decoded from moves each view's channel statistics toward the style's, and further
    than aiming at Ω re-encoded, at the working size and at half of it; its goal carries the style's statistics."""
    bb, x, _, perc = setup
    style = builtin_styles()["cubist-facets"]
    stats = style_stats(bb, style)
    small = fit(x, (64, 64), bb.factor)
    views = [View((128, 128), style_transfer(bb, x, stats), style=style), View((64, 64), style_transfer(bb, small, stats), style=style)]
    base = CloakSettings(steps=24, budget=1.0, max_linf=16 / 255, min_psnr=None, eot=None, precision="fp32", view_order="worst", seed=2)
    goal = optimiser.goal_latents([bb], views[0], encode_all([bb], x), replace(base, latent_target=True))[0]
    assert torch.allclose(goal.mean((2, 3))[0], stats.mean, atol=1e-4) and torch.allclose(goal.std((2, 3))[0], stats.std, rtol=1e-3)
    gaps = {}
    for latent_target in (False, True):
        x_adv = (x + optimise(x, views, [bb], replace(base, latent_target=latent_target), perc)).clamp(0, 1)
        gaps[latent_target] = (_style_gap(bb, x_adv, stats), _style_gap(bb, fit(x_adv, (64, 64), bb.factor), stats))
    before = (_style_gap(bb, x, stats), _style_gap(bb, small, stats))
    for size in range(2):
        assert gaps[True][size] < before[size] * 0.9
        assert gaps[True][size] < gaps[False][size]


def test_style_weight_moves_the_channel_statistics_toward_the_targets(setup):
    """The style-statistics term brings the cloak's latent channel means and standard deviations closer to its
    target's than the exact-latent loss alone does."""
    bb, x, omega, perc = setup
    goal = optimiser.channel_stats(encode_all([bb], omega)[0])
    base = CloakSettings(steps=16, budget=1.0, max_linf=16 / 255, min_psnr=None, eot=None, precision="fp32")
    gap = {}
    for weight in (0.0, 3.0):
        x_adv = (x + optimise(x, omega, [bb], replace(base, style_weight=weight), perc)).clamp(0, 1)
        gap[weight] = float((optimiser.channel_stats(encode_all([bb], x_adv)[0]) - goal).norm())
    assert gap[3.0] < gap[0.0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"method": "sgd"}, "method='sgd'; choose one of adam, l2, sign"),
        ({"view_order": "wrost"}, "view_order='wrost'; choose one of random, cycle, worst, all"),
        ({"view_sizes": (512, 768), "view_weights": (1.0,)}, r"view_weights \(1.0,\) need one weight per view size \(512, 768\)"),
        ({"view_weights": (0.0, 0.0, 0.0)}, "must be ≥ 0 with a positive sum"),
        ({"steps": 0}, "steps=0 must be a number from 1"),
        ({"lr": 0}, "lr=0 must be a number above 0"),
        ({"max_linf": 2.0}, "max_linf=2.0 must be a number above 0 to 1"),
        ({"budget": "0.3"}, "budget='0.3' must be a number"),
        ({"eot": {"jpeg_prob": 1}}, "eot must be EOTSettings or None"),
    ],
)
def test_bad_cloak_settings_are_refused_with_the_field_named(fields, message):
    with pytest.raises(ConfigError, match=message):
        CloakSettings(**fields)
    with pytest.raises(ConfigError, match=message):  # presets with overrides go through the same check
        cloak_settings(**fields)


def test_tight_budget_is_respected(setup):
    bb, x, omega, perc = setup
    s = CloakSettings(steps=20, budget=0.05, penalty=50, max_linf=None, lr=2 / 255, eot=None, precision="fp32")
    delta = optimise(x, omega, [bb], s, perc)
    assert float(perc(x, (x + delta).clamp(0, 1))) <= 0.05 * 1.1


def test_perceptual_watch_skips_steps_without_changing_delta(setup, monkeypatch):
    """Well under budget d is re-measured only every few steps, and δ is exactly what checking every step gives."""
    bb, x, omega, perc = setup
    s = CloakSettings(steps=12, budget=5.0, precision="fp32", seed=1)
    calls = []
    monkeypatch.setattr(perc, "against", lambda *a, _f=perc.against: calls.append(1) or _f(*a))
    lazy = optimise(x, omega, [bb], s, perc)
    lazy_calls = len(calls)
    monkeypatch.setattr(optimiser, "PERCEPTUAL_EVERY", 1)
    assert torch.equal(lazy, optimise(x, omega, [bb], s, perc))
    assert lazy_calls < 12 and len(calls) - lazy_calls == 12


def test_same_seed_same_delta_with_eot(setup):
    bb, x, omega, perc = setup
    s = CloakSettings(steps=6, budget=0.3, precision="auto", seed=3)
    a = optimise(x, omega, [bb], s, perc)
    b = optimise(x, omega, [bb], s, perc)
    assert torch.equal(a, b)
    assert progress_of(bb, x, (x + a).clamp(0, 1), omega) > 0.05


def test_ensemble_attacks_every_backbone(setup, tiny_weights):
    bb, x, omega, perc = setup
    sana = load_backbone("taesana", weights_dir=tiny_weights)
    s = CloakSettings(steps=15, budget=0.3, lr=1.5 / 255, eot=None, precision="fp32")
    delta = optimise(x, omega, [bb, sana], s, perc)
    x_adv = (x + delta).clamp(0, 1)
    assert progress_of(bb, x, x_adv, omega) > 0.15
    assert progress_of(sana, x, x_adv, omega) > 0.15


def test_energy_cap_is_spent_on_changes_that_survive_the_clamp(setup):
    """On white paper half of any δ would brighten past 1 and be clamped away: the PSNR cap must not count it."""
    from helpers import to_tensor

    from bench.hardset import draw

    bb, _, _, perc = setup
    x = to_tensor(draw("architecture", 128).image)[..., :96, :]
    omega = style_transfer(bb, x, style_stats(bb, builtin_styles()["woodcut"]))
    s = CloakSettings(steps=12, budget=10.0, max_linf=None, min_psnr=36.0, lr=3 / 255, eot=None, precision="fp32")
    delta = optimise(x, omega, [bb], s, perc)
    assert float(psnr(x, (x + delta).clamp(0, 1))) == pytest.approx(36.0, abs=0.05)  # the whole budget is used
    assert torch.equal((x + delta).clamp(0, 1), x + delta)


def test_cloak_settings_defaults_are_the_default_preset() -> None:
    assert CloakSettings() == cloak_settings()
    assert CloakSettings().budget == INTENSITY["default"]["budget"] and CloakSettings().steps == QUALITY["default"]["steps"]
