"""The library API end to end: protect() on real images keeps files intact and reports honest numbers."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch
from helpers import painting_crop
from PIL import Image

from stylecloak import Protector, ProtectSettings, protect
from stylecloak.audit import AuditSettings, audit_pair
from stylecloak.backbones import encode_all, target_progress
from stylecloak.errors import ConfigError
from stylecloak.geometry import Working
from stylecloak.io import load_image
from stylecloak.perceptual import psnr
from stylecloak.styles import style_stats, style_transfer

FAST = {"steps": 10, "work_size": 128}


@pytest.fixture(scope="module")
def protector(tiny_weights):
    return Protector(ProtectSettings(quality="fast", target_style="stained-glass", overrides=FAST), weights_dir=tiny_weights)


@pytest.fixture()
def rgba_png(tmp_path, art_files):
    im = painting_crop(art_files[0], 96).convert("RGBA")
    a = np.asarray(im).copy()
    a[:20, :, 3] = 0
    a[20:40, :, 3] = 128
    path = tmp_path / "art.png"
    Image.fromarray(a).save(path)
    return path


def test_protect_reports_progress_and_keeps_alpha(protector, rgba_png, tmp_path):
    before = (rgba_png.read_bytes(), os.stat(rgba_png).st_mtime_ns)
    result = protector.protect(rgba_png)
    assert result.target_progress > 0.1
    assert result.psnr_db > 30
    assert result.cloaked.shape == (1, 3, 96, 96)
    out = result.save(tmp_path / "out" / "art.png")
    assert (rgba_png.read_bytes(), os.stat(rgba_png).st_mtime_ns) == before
    saved = Image.open(out)
    assert saved.mode == "RGBA" and saved.size == (96, 96)
    np.testing.assert_array_equal(np.asarray(saved)[..., 3], np.asarray(Image.open(rgba_png))[..., 3])
    assert not np.array_equal(np.asarray(saved)[..., :3], np.asarray(Image.open(rgba_png))[..., :3])


def test_reported_progress_matches_an_independent_measurement(protector, rgba_png):
    """The reported TP (which reuses the encoding made for Ω) equals one measured from scratch."""
    result = protector.protect(rgba_png)
    bb = protector.backbones[0]
    work = result.work.image
    omega = style_transfer(bb, work, style_stats(bb, protector.styles["stained-glass"]))
    z0, z1, t = (encode_all([bb], im)[0] for im in (work, result.seen, omega))
    assert target_progress(z0, z1, t) == pytest.approx(result.target_progress, abs=1e-6)


def test_report_measures_the_saved_file_read_back(protector, art_files, tmp_path):
    """A JPEG loses some of the cloak in saving: the report's ``saved`` numbers are those of the file on disk."""
    src = tmp_path / "art.jpg"
    painting_crop(art_files[0], 96).save(src, quality=90)
    result = protector.protect(src)
    out = result.save(tmp_path / "out" / "art.jpg")
    saved = result.summary()["saved"]
    assert (saved["input_bytes"], saved["output_bytes"]) == (src.stat().st_size, out.stat().st_size)
    written = load_image(out).rgb
    assert saved["psnr_db"] == pytest.approx(float(psnr(load_image(src).rgb, written)), abs=0.01)
    assert saved["psnr_db"] != pytest.approx(result.psnr_db, abs=0.01)  # measured after the JPEG save, not before
    bb = protector.backbones[0]
    work = result.work.image
    omega = style_transfer(bb, work, style_stats(bb, protector.styles["stained-glass"]))
    z0, z1, t = (encode_all([bb], im)[0] for im in (work, Working.of(written, FAST["work_size"], bb.factor).image, omega))
    assert saved["target_progress"] == pytest.approx(target_progress(z0, z1, t), abs=1e-4)


def test_saved_image_meets_the_psnr_floor(tiny_weights, art_files, tmp_path):
    """The quantised output itself meets min_psnr: the cap leaves room for 8-bit rounding and is
    measured on the image, not on the padding that rounds its sides up to the encoder's multiple."""
    floor = 36.0
    path = tmp_path / "odd.png"
    painting_crop(art_files[0], 96).resize((90, 75)).save(path)
    p = Protector(ProtectSettings(quality="fast", target_style="woodcut", overrides=FAST | {"min_psnr": floor, "max_linf": None}), weights_dir=tiny_weights)
    result = p.protect(path)
    assert floor <= result.psnr_db < floor + 0.5  # the cap binds, and holds after rounding
    assert result.target_progress > 0.05


def test_large_image_is_cloaked_at_full_size_through_the_working_resolution(protector, tmp_path, art_files):
    path = tmp_path / "big.jpg"
    painting_crop(art_files[1], 300).resize((300, 200)).save(path, quality=95)
    result = protector.protect(path)
    assert result.cloaked.shape == (1, 3, 200, 300)
    assert result.original_view.shape[-1] == 128  # optimised at work_size
    assert result.target_progress > 0.05
    out = result.save(tmp_path / "o" / "big.jpg")
    assert Image.open(out).size == (300, 200)


def test_preview_shows_the_models_view_of_original_and_cloak_and_the_target(protector, rgba_png):
    result = protector.protect(rgba_png)
    canvas = np.asarray(result.preview().convert("RGB")).astype(int)
    views = [(v[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(int) for v in (result.original_view, result.cloaked_view, result.target_view)]
    h, w = views[0].shape[:2]
    lefts = [i * (canvas.shape[1] - w) // 2 for i in range(3)]  # left, middle and right panels, under a label strip
    panels = [canvas[-h:, left : left + w] for left in lefts]
    for panel, view in zip(panels, views):
        assert np.array_equal(panel, view)
    assert np.abs(views[1] - views[0]).mean() > 1 and np.abs(views[2] - views[0]).mean() > 1  # three different pictures


def test_same_input_and_seed_give_byte_identical_output(protector, rgba_png, tmp_path):
    a = protector.protect(rgba_png).save(tmp_path / "a.png")
    b = protector.protect(rgba_png).save(tmp_path / "b.png")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_protect_function_uses_and_creates_the_profile(tiny_weights, rgba_png, tmp_path):
    profile = tmp_path / "me.json"
    result = protect(rgba_png, ProtectSettings(quality="fast", overrides={"steps": 2, "work_size": 64}), profile=profile, weights_dir=tiny_weights)
    assert profile.exists()
    assert result.target_style in profile.read_text()


def test_unknown_style_and_preset_are_config_errors(protector, rgba_png):
    with pytest.raises(ConfigError, match="unknown target style"):
        protector.protect(load_image(rgba_png), "no-such-style")
    with pytest.raises(ConfigError, match="unknown intensity"):
        _ = ProtectSettings(intensity="max").cloak


@pytest.mark.weights
@pytest.mark.paintings
def test_default_preset_protects_at_every_mimic_size(weights_dir, painting_files, tmp_path):
    """The default preset's mimic views move latents toward the target at both view sizes (tiny stand-ins for 512
    and 1024 px), where a single-scale cloak made at the larger size does much less at the smaller."""
    monet = next(p for p in painting_files if "bordighera" in p.name)
    image = tmp_path / "monet.png"
    painting_crop(monet, 256).save(image)
    views = {"work_size": 256, "view_sizes": (128, 256), "steps": 16}
    multi = Protector(ProtectSettings(target_style="woodcut", overrides=views), weights_dir=weights_dir).protect(image)
    single = Protector(ProtectSettings(target_style="woodcut", overrides={**views, "view_sizes": ()}), weights_dir=weights_dir).protect(image)
    assert set(multi.by_size) == {128, 256} and set(single.by_size) == {256}
    assert min(multi.by_size.values()) > 0.15 and multi.target_progress == min(multi.by_size.values())
    assert multi.psnr_db >= 33.0
    audit_settings = AuditSettings(target_style="woodcut", mimic_sizes=(128, 256), countermeasures=(), transfer=())
    seen = {name: audit_pair(image, r.cloaked, audit_settings, weights_dir=weights_dir)["sizes"] for name, r in (("multi", multi), ("single", single))}
    assert seen["multi"]["128"]["target_progress"] > 0.15 and seen["multi"]["256"]["target_progress"] > 0.15
    assert seen["single"]["128"]["target_progress"] < seen["multi"]["128"]["target_progress"] - 0.1


def test_weak_cloak_gets_a_second_longer_round_and_the_better_one_is_kept(tiny_weights, art_files):
    """retry_below: below it, a second round from scratch with twice the steps; the better cloak is kept. Above it
    (or for methods other than glaze) nothing changes."""
    image = load_image(painting_crop(art_files[0], 64))

    def run(method: str = "glaze", **overrides):
        steps = []
        settings = ProtectSettings(target_style="woodcut", method=method, quality="fast", overrides={"steps": 2, **overrides})
        result = Protector(settings, weights_dir=tiny_weights).protect(image, progress=lambda step, total, info: steps.append((step, total)))
        return result, steps

    retried, steps = run(retry_below=1.0)  # never reached: always a second round
    assert steps == [(1, 2), (2, 2), (3, 6), (4, 6), (5, 6), (6, 6)]
    first, _ = run(retry_below=None)
    second, _ = run(retry_below=None, steps=4)
    assert retried.target_progress == pytest.approx(max(first.target_progress, second.target_progress))
    assert np.array_equal(retried.cloaked, (first if first.target_progress >= second.target_progress else second).cloaked)

    reached, steps = run(retry_below=0.0)  # always reached: one round, the same bytes as without retries
    assert len(steps) == 2 and np.array_equal(reached.cloaked, first.cloaked)
    _, steps = run("mist", retry_below=1.0)
    assert len(steps) == 2


def test_view_latents_are_encoded_once_per_image_and_change_no_byte(tiny_weights, art_files, monkeypatch):
    """The originals' and targets' latents at each view do not depend on δ: in fp32 the optimiser's rounds and the
    progress measurement share one encoding of them, and the cloak is the one each round encoding them anew makes."""
    import stylecloak.api as api
    from stylecloak.cloak import ViewLatents

    image = load_image(painting_crop(art_files[0], 64))
    settings = ProtectSettings(target_style="woodcut", quality="fast", precision="fp32", overrides={"steps": 2, "retry_below": 1.0, "view_sizes": (48, 64)})
    calls = []
    monkeypatch.setattr(ViewLatents, "of", staticmethod(lambda *a, _of=ViewLatents.of: calls.append(1) or _of(*a)))
    shared = Protector(settings, weights_dir=tiny_weights).protect(image)
    assert len(calls) == 1  # two rounds, three views: encoded once
    unshared = api.optimise
    monkeypatch.setattr(api, "optimise", lambda *a, latents=None, **k: unshared(*a, **k))
    anew = Protector(settings, weights_dir=tiny_weights).protect(image)
    assert len(calls) == 1 + 3  # now once for the measurement and once in each of the two rounds
    assert np.array_equal(shared.cloaked, anew.cloaked) and shared.by_size == anew.by_size


def test_weak_cloaks_are_retried_with_energy_left_or_little_texture():
    """A weak cloak that already spent the energy cap (PSNR at the floor) gets no second round on textured art (as on
    paintings), but does on line art and flat colour."""
    from stylecloak.api import UNSPENT_DB, _retry
    from stylecloak.config import cloak_settings

    s = cloak_settings()
    x = torch.full((1, 3, 32, 32), 0.5)
    at_floor = x + 10 ** (-s.min_psnr / 20)  # RMS change at the PSNR floor exactly
    unspent = x + 10 ** (-(s.min_psnr + 2 * UNSPENT_DB) / 20)
    assert _retry(s, x, unspent, {512: 0.1}, 1.0) and not _retry(s, x, unspent, {512: s.retry_below, 768: 0.5}, 1.0)
    assert not _retry(s, x, at_floor, {512: 0.1}, 1.0)  # a textured painting at the floor: no
    assert _retry(s, x, at_floor, {512: 0.1}, 0.5)  # line art or flat colour at the floor: yes
