"""The budget's distance: LPIPS-AlexNet when the lpips package works, EfficientNet-Lite0 otherwise.

The real lpips package needs torchvision, which does not install beside this torch, so a stand-in
``lpips`` module (a squared-error distance with the package's interface) checks the wiring.
"""

from __future__ import annotations

import sys

import pytest
from helpers import FakeLPIPS, fake_module
from PIL import Image

from stylecloak import Protector, ProtectSettings
from stylecloak.errors import ConfigError, WeightsError
from stylecloak.perceptual import LpipsAlex, PerceptualDistance, load_perceptual

TINY = {"steps": 12, "work_size": 64, "min_psnr": None, "max_linf": None}


def test_auto_uses_lpips_and_its_budget_when_present(monkeypatch, tiny_weights, small_art, tmp_path):
    monkeypatch.setitem(sys.modules, "lpips", fake_module())
    protector = Protector(ProtectSettings(quality="fast", target_style="woodcut", overrides=TINY), weights_dir=tiny_weights)
    assert protector.settings.perceptual == "lpips-alex"
    assert isinstance(protector.perceptual, LpipsAlex)
    assert protector.cloak_settings.budget == 0.05  # Glaze's p, in LPIPS units
    path = tmp_path / "a.png"
    Image.fromarray((small_art[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(path)
    result = protector.protect(path)
    assert result.target_progress > 0.02
    assert 0.0 < result.perceptual_distance <= 0.05 * 1.1  # the fake distance binds long before any PSNR floor
    assert min(lo for lo, _ in FakeLPIPS.calls) < -0.5 < 0.5 < max(hi for _, hi in FakeLPIPS.calls)  # fed [-1, 1]


@pytest.mark.parametrize("module", [None, fake_module(fail=True)], ids=["not-installed", "weights-missing"])
def test_auto_falls_back_to_efficientnet(monkeypatch, module):
    monkeypatch.setitem(sys.modules, "lpips", module)
    name, dist = load_perceptual("auto")
    assert name == "efficientnet" and isinstance(dist, PerceptualDistance)
    assert ProtectSettings(perceptual="auto").cloak.budget == 0.30


def test_explicit_lpips_errors_say_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)
    with pytest.raises(ConfigError, match="pip install lpips"):
        load_perceptual("lpips-alex")
    monkeypatch.setitem(sys.modules, "lpips", fake_module(fail=True))
    with pytest.raises(WeightsError, match="run once online"):
        load_perceptual("lpips-alex")
    with pytest.raises(ConfigError, match="choose one of"):
        load_perceptual("alexnet")


@pytest.mark.paintings
def test_grain_makes_invisible_changes_cheap_on_flat_art_and_leaves_paintings_alone(small_painting):
    """±1 grey level of noise cannot be seen; raw features scored it like a visible change on a flat poster."""
    import torch
    from helpers import to_tensor

    from bench.hardset import draw

    poster = to_tensor(draw("poster", 128).image)
    gen = torch.Generator().manual_seed(3)

    def noisy(x, sigma):
        return ((x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1) * 255).round() / 255

    raw, grained = PerceptualDistance(grain=0), PerceptualDistance()
    with torch.no_grad():
        invisible, visible = noisy(poster, 0.8 / 255), noisy(poster, 6 / 255)
        assert float(raw(poster, invisible)) > 3 * float(grained(poster, invisible))
        assert float(grained(poster, visible)) > 5 * float(grained(poster, invisible))  # visible grain still costs
        for y in (noisy(small_painting, 4 / 255), small_painting.flip(-1)):
            a, b = float(raw(small_painting, y)), float(grained(small_painting, y))
            assert abs(a - b) < 0.05 * a
        assert float(grained(poster, poster)) == 0.0
