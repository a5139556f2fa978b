"""Protection named by model family (``--against``): one path to the backbones, weights from a folder or a download
(offline here: randomly initialised encoders of the right architecture, served from a loopback HTTP server)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from stylecloak import Protector, ProtectSettings
from stylecloak import backbones as backbones_module
from stylecloak.backbones import FAMILIES, TINY, backbones_for, taesd, weights
from stylecloak.backbones.families import measurable
from stylecloak.cli import main
from stylecloak.errors import ConfigError

FAST = {"steps": 2, "work_size": 64, "view_sizes": ()}


def git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture()
def random_weights(tmp_path, monkeypatch):
    """Randomly initialised taesdxl and taesd3 encoders and decoders in a folder, pinned by their git blob ids."""
    folder = tmp_path / "random-weights"
    folder.mkdir()
    torch.manual_seed(0)
    for name in ("taesdxl", "taesd3"):
        channels = TINY[name].latent_channels
        for part, model in (("encoder", taesd.encoder(channels)), ("decoder", taesd.decoder(channels))):
            path = folder / f"{name}_{part}.pth"
            torch.save(model.state_dict(), path)
            monkeypatch.setitem(weights.GIT_BLOB, path.name, git_blob(path.read_bytes()))
    monkeypatch.setattr(backbones_module, "_cache", {})  # random models must not be reused by other tests
    return folder


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setattr(weights, "cache_dir", lambda: cache)
    monkeypatch.delenv("STYLECLOAK_WEIGHTS", raising=False)
    return cache


@pytest.fixture()
def server(random_weights):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(random_weights))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_every_family_names_a_pinned_tiny_encoder():
    for family, name in FAMILIES.items():
        assert name in TINY and f"{name}_encoder.pth" in weights.GIT_BLOB, family


def test_against_sets_the_backbones_in_order_once():
    settings = ProtectSettings(against=("sdxl", "flux2", "sdxl"))
    assert settings.backbones == ("taesdxl", "taef2")
    assert replace(settings, seed=1).backbones == ("taesdxl", "taef2")  # re-validation keeps it
    assert backbones_for(["sd15", "sd3", "flux1"]) == ("taesd", "taesd3", "taef1")


def test_against_with_other_backbones_or_an_unknown_family_is_an_error():
    with pytest.raises(ConfigError, match="--against or --backbones, not both"):
        ProtectSettings(against=("sdxl",), backbones=("taesd",))
    with pytest.raises(ConfigError, match="unknown model family 'sdxxl'.*flux2"):
        ProtectSettings(against=("sdxxl",))


def test_cli_refuses_against_with_backbones(tmp_path):
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    res = CliRunner().invoke(main, ["protect", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--against", "sdxl", "--backbones", "taef2"])
    assert res.exit_code == 1 and "--against or --backbones, not both" in res.output
    assert not (tmp_path / "o" / "a.png").exists()


@pytest.mark.parametrize("no_network", ["offline", "unreachable"])
def test_against_without_weights_or_network_fails_with_one_line_naming_the_file(tmp_path, empty_cache, monkeypatch, no_network):
    if no_network == "offline":
        monkeypatch.setenv("STYLECLOAK_OFFLINE", "1")
    else:
        monkeypatch.delenv("STYLECLOAK_OFFLINE", raising=False)
        monkeypatch.setenv("STYLECLOAK_WEIGHTS_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(backbones_module, "_cache", {})
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    res = CliRunner().invoke(main, ["protect", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--against", "sdxl", "--style", "woodcut"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "taesdxl_encoder.pth" in lines[0] and "STYLECLOAK_WEIGHTS" in lines[0]
    assert not list(empty_cache.glob("*"))


def test_against_downloads_the_families_encoders_on_first_use(server, empty_cache, monkeypatch, tmp_path):
    monkeypatch.delenv("STYLECLOAK_OFFLINE", raising=False)
    monkeypatch.setenv("STYLECLOAK_WEIGHTS_URL", server)
    protector = Protector(ProtectSettings(quality="fast", against=("sdxl",), target_style="woodcut", overrides=FAST))
    assert [b.name for b in protector.backbones] == ["taesdxl"]
    assert {p.name for p in empty_cache.iterdir()} == {"taesdxl_encoder.pth", "taesdxl_decoder.pth"}
    assert all(weights.verify(p) for p in empty_cache.iterdir())
    image = torch.from_numpy(np.random.default_rng(0).random((1, 3, 48, 64), dtype=np.float32))
    Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "a.png")
    result = protector.protect(tmp_path / "a.png")
    assert not torch.equal(result.cloaked, result.source.rgb)


def test_audit_measures_the_families_present_and_lists_the_others(random_weights, empty_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("STYLECLOAK_OFFLINE", "1")
    (random_weights / "taesd3_encoder.pth").unlink()
    assert measurable(["flux2", "sdxl", "sd3"], random_weights)[0] == ("taef2", "taesdxl")  # flux2: bundled
    rng = np.random.default_rng(1)
    original = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    cloaked = np.clip(original.astype(int) + rng.integers(-4, 5, original.shape), 0, 255).astype(np.uint8)
    Image.fromarray(original).save(tmp_path / "a.png")
    (tmp_path / "c").mkdir()
    Image.fromarray(cloaked).save(tmp_path / "c" / "a.png")
    out = tmp_path / "audit.json"
    args = ["audit", str(tmp_path / "a.png"), str(tmp_path / "c" / "a.png"), "--style", "woodcut", "--method", "glaze", "--backbones", "taef2"]
    args += [
        "--transfer",
        "",
        "--against",
        "sdxl,sd3",
        "--countermeasures",
        "none",
        "--mimic-sizes",
        "64",
        "--weights-dir",
        str(random_weights),
        "--json",
        str(out),
    ]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert "taesdxl" in json.dumps(report["images"][0]) and "taesd3" not in json.dumps(report["images"][0])
    assert any(w.startswith("sd3 (taesd3): not measured (weights absent") for w in report["warnings"])
