"""Backbones: real weights load and behave; weight resolution, integrity and offline errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest
import torch
from helpers import tiny_backbone

from stylecloak import backbones
from stylecloak.backbones import TINY, load_backbone, weights
from stylecloak.backbones.base import Backbone
from stylecloak.errors import ConfigError, WeightsError
from stylecloak.perceptual import psnr
from stylecloak.sample import paint_sample


def gradient_image() -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    return torch.stack([xx, yy, xx * yy])[None]


@pytest.mark.weights
def test_taef2_reproduces_known_latent_statistics(weights_dir):
    z = load_backbone("taef2", weights_dir=weights_dir).encode(gradient_image())
    assert z.shape == (1, 32, 8, 8)
    # measured once with the pinned upstream weights; a wrong layer order or key mapping changes them
    assert z.mean().item() == pytest.approx(-0.0472, abs=2e-3)
    assert z.std().item() == pytest.approx(0.7383, abs=2e-3)
    assert z[0, 0].mean().item() == pytest.approx(0.0885, abs=2e-3)


@pytest.mark.weights
def test_taesana_encoder_is_f32_and_encoder_only(weights_dir):
    bb = load_backbone("taesana", weights_dir=weights_dir)
    z = bb.encode(gradient_image())
    assert z.shape == (1, 32, 2, 2)
    assert z.std().item() == pytest.approx(1.1288, abs=2e-3)
    assert not bb.has_decoder
    with pytest.raises(ConfigError, match="no decoder"):
        bb.decode(z)


@pytest.mark.weights
@pytest.mark.paintings
def test_taef2_round_trip_reconstructs_a_painting(weights_dir, small_painting):
    bb = load_backbone("taef2", weights_dir=weights_dir)
    with torch.no_grad():
        out = bb.decode(bb.encode(small_painting))
    assert out.shape == small_painting.shape
    assert psnr(out, small_painting).item() > 24


def test_encode_is_differentiable(tiny_weights, small_art):
    bb = load_backbone("taef2", weights_dir=tiny_weights)
    x = small_art[..., :64, :64].clone().requires_grad_(True)
    bb.encode(x).pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in bb.parameters())


def test_unknown_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown backbone 'nope'"):
        load_backbone("nope")


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """No user folder, no bundled copy, an empty cache: what a download sees."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(weights, "cache_dir", lambda: cache)
    monkeypatch.setattr(weights, "BUNDLED_DIR", tmp_path / "no-bundled")
    monkeypatch.delenv("STYLECLOAK_WEIGHTS", raising=False)
    return cache


def test_bundled_weights_match_their_pins_and_resolve_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "cache_dir", lambda: tmp_path / "empty-cache")
    monkeypatch.delenv("STYLECLOAK_WEIGHTS", raising=False)
    monkeypatch.setenv("STYLECLOAK_OFFLINE", "1")
    for name in ("taef2_encoder.pth", "taef2_decoder.pth", "taesana_encoder.pth"):
        path = weights.resolve(name)
        assert path.parent == weights.BUNDLED_DIR
        assert hashlib.sha256(path.read_bytes()).hexdigest() == weights.SHA256[name]
    assert (weights.BUNDLED_DIR / "LICENSE-taesd.txt").read_text().startswith("MIT License")
    assert not (tmp_path / "empty-cache").exists()


def test_damaged_bundled_file_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "BUNDLED_DIR", tmp_path)
    monkeypatch.delenv("STYLECLOAK_WEIGHTS", raising=False)
    (tmp_path / "taef2_encoder.pth").write_bytes(b"damaged")
    with pytest.raises(WeightsError, match="taef2_encoder.pth: the bundled weight file is damaged.*reinstall"):
        weights.resolve("taef2_encoder.pth")


def test_checksum_mismatch_in_user_folder_is_reported_and_file_kept(tmp_path, isolated_cache):
    bad = tmp_path / "taef2_encoder.pth"
    bad.write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="taef2_encoder.pth: checksum mismatch"):
        weights.resolve("taef2_encoder.pth", tmp_path)
    assert bad.read_bytes() == b"not the weights"


def test_offline_without_weights_names_file_and_folder(tmp_path, isolated_cache, monkeypatch):
    monkeypatch.setenv("STYLECLOAK_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        weights.resolve("taef2_decoder.pth", tmp_path / "empty")
    message = str(info.value)
    assert "taef2_decoder.pth" in message and "offline" in message and str(tmp_path / "empty") in message


@pytest.fixture()
def weight_server(tmp_path, monkeypatch):
    """A loopback HTTP server standing in for upstream, serving tiny random weight files (pinned here by their
    sha256); backbones loaded meanwhile are forgotten afterwards."""
    root = tmp_path / "upstream"
    root.mkdir()
    for name, part in (("taef2", "encoder"), ("taef2", "decoder"), ("taesana", "encoder")):
        path = root / f"{name}_{part}.pth"
        torch.save(getattr(tiny_backbone(name), part).state_dict(), path)
        monkeypatch.setitem(weights.SHA256, path.name, hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setattr(backbones, "_cache", {})
    monkeypatch.delenv("STYLECLOAK_OFFLINE")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_verifies_and_caches(weight_server, isolated_cache, monkeypatch):
    _root, url = weight_server
    monkeypatch.setenv("STYLECLOAK_WEIGHTS_URL", url)
    seen = []
    path = weights.resolve("taesana_encoder.pth", progress=lambda done, total: seen.append((done, total)))
    assert path == isolated_cache / "taesana_encoder.pth"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == weights.SHA256["taesana_encoder.pth"]
    assert seen and seen[-1][0] == seen[-1][1] == path.stat().st_size


def test_corrupt_cache_file_is_replaced_not_loaded(weight_server, isolated_cache, monkeypatch):
    _root, url = weight_server
    monkeypatch.setenv("STYLECLOAK_WEIGHTS_URL", url)
    isolated_cache.mkdir(parents=True)
    (isolated_cache / "taesana_encoder.pth").write_bytes(b"corrupt")
    path = weights.resolve("taesana_encoder.pth", progress=lambda *a: None)
    assert weights.verify(path)


def test_tampered_download_is_rejected(weight_server, isolated_cache, monkeypatch):
    root, url = weight_server
    (root / "taesana_encoder.pth").write_bytes(b"tampered")
    monkeypatch.setenv("STYLECLOAK_WEIGHTS_URL", url)
    with pytest.raises(WeightsError, match="checksum"):
        weights.resolve("taesana_encoder.pth", progress=lambda *a: None)
    assert not (isolated_cache / "taesana_encoder.pth").exists()
    assert not list(isolated_cache.glob("*.part"))


def test_unreachable_server_is_a_weights_error(isolated_cache, monkeypatch):
    monkeypatch.delenv("STYLECLOAK_OFFLINE")
    monkeypatch.setenv("STYLECLOAK_WEIGHTS_URL", "http://127.0.0.1:9")
    with pytest.raises(WeightsError, match="taef1_encoder.pth"):
        weights.resolve("taef1_encoder.pth", progress=lambda *a: None)


def test_git_blob_ids_verify_files_without_sha256(tmp_path):
    data = b"hello"
    (tmp_path / "x.pth").write_bytes(data)
    blob = hashlib.sha1(b"blob 5\0hello").hexdigest()
    weights.GIT_BLOB["x.pth"] = blob
    try:
        assert weights.verify(tmp_path / "x.pth")
        (tmp_path / "x.pth").write_bytes(b"hellO")
        assert not weights.verify(tmp_path / "x.pth")
    finally:
        del weights.GIT_BLOB["x.pth"]


def test_every_family_member_has_pins():
    for name, spec in TINY.items():
        assert f"{name}_encoder.pth" in weights.GIT_BLOB
        if spec.has_decoder:
            assert f"{name}_decoder.pth" in weights.GIT_BLOB


def test_diffusers_autoencoderkl_backbone_tiny_random():
    diffusers = pytest.importorskip("diffusers")
    from stylecloak.backbones.diffusers_vae import from_vae

    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=32,
    )
    bb = from_vae("tiny", vae)
    assert isinstance(bb, Backbone) and bb.factor == 2
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    z = bb.encode(x)
    assert z.shape == (1, 4, 16, 16)
    z.sum().backward()
    assert x.grad.abs().sum() > 0
    y = bb.decode(z.detach())
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1


def test_diffusers_backbone_missing_folder_is_a_weights_error(tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="cannot load an AutoencoderKL"):
        load_backbone(f"diffusers:{tmp_path / 'missing'}")


def test_cli_draws_weight_downloads_as_rich_bars(weight_server, isolated_cache, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from stylecloak.cli import main

    _root, url = weight_server
    monkeypatch.setenv("STYLECLOAK_WEIGHTS_URL", url)
    paint_sample(43).crop((0, 0, 32, 32)).save(tmp_path / "a.png")
    args = ["protect", str(tmp_path / "a.png"), "--out", str(tmp_path / "out"), "--style", "mosaic", "--quality", "fast", "--steps", "1"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    for name in ("taef2_encoder.pth", "taef2_decoder.pth"):
        size = (isolated_cache / name).stat().st_size
        assert f"downloading {name}" in res.output and f"{size / 1e6:.1f}/{size / 1e6:.1f} MB" in res.output
    assert "\r" not in res.output  # the library no longer writes its own progress text
