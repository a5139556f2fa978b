"""Content Credentials: a signed "no AI training" statement that survives reading back and exposes tampering."""

from __future__ import annotations

import builtins
import json
import stat

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from stylecloak.cli import main
from stylecloak.errors import ConfigError
from stylecloak.io import credentials

pytest.importorskip("c2pa", reason="the c2pa extra is not installed: pip install 'stylecloak[c2pa]'")


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return credentials.local_identity(tmp_path_factory.mktemp("config") / "c2pa")


def _image(path, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_signed_file_carries_a_valid_training_mining_refusal(tmp_path, identity, suffix):
    original, protected = _image(tmp_path / f"original{suffix}"), _image(tmp_path / f"protected{suffix}", seed=1)
    before = original.read_bytes()
    pixels = np.asarray(Image.open(protected).convert("RGB"))
    credentials.sign(protected, original, identity)
    found = credentials.read(protected)
    assert found.valid, found.failures
    assert found.training_mining == dict.fromkeys(credentials.TRAINING_MINING, "notAllowed")
    assert "stylecloak local signer" in found.signer
    assert np.array_equal(np.asarray(Image.open(protected).convert("RGB")), pixels)  # signing adds metadata, not pixels
    assert original.read_bytes() == before


def test_manifest_holds_no_thumbnail_or_name_of_the_original(tmp_path, identity):
    original = _image(tmp_path / "jane-private-sketch.png")
    protected = _image(tmp_path / "out.png", seed=1)
    credentials.sign(protected, original, identity)
    import c2pa

    with c2pa.Reader(protected) as reader:
        store = json.loads(reader.json())
    text = json.dumps(store)
    assert "jane-private-sketch" not in text
    assert all("thumbnail" not in ingredient for m in store["manifests"].values() for ingredient in m.get("ingredients", []))


def test_changed_pixels_make_the_credentials_invalid_and_verify_exit_1(tmp_path, identity):
    protected = _image(tmp_path / "out.png", seed=1)
    credentials.sign(protected, _image(tmp_path / "in.png"), identity)
    data = bytearray(protected.read_bytes())
    start = data.rfind(b"IDAT") + 8
    data[start] ^= 0xFF
    protected.write_bytes(bytes(data))
    assert not credentials.read(protected).valid
    result = CliRunner().invoke(main, ["verify", str(protected)])
    assert result.exit_code == 1 and "invalid" in result.output


def test_verify_reports_valid_and_missing_and_writes_json(tmp_path, identity):
    signed = _image(tmp_path / "signed.jpg", seed=1)
    credentials.sign(signed, _image(tmp_path / "in.jpg"), identity)
    plain = _image(tmp_path / "plain.png")
    ok = CliRunner().invoke(main, ["verify", str(signed), "--json", str(tmp_path / "c.json")])
    assert ok.exit_code == 0 and "valid" in ok.output and "ai_generative_training" in ok.output
    assert json.loads((tmp_path / "c.json").read_text())[str(signed)]["training_mining"]["cawg.data_mining"] == "notAllowed"
    missing = CliRunner().invoke(main, ["verify", str(plain)])
    assert missing.exit_code == 1 and "no Content Credentials" in missing.output


def test_local_identity_is_made_once_and_its_key_is_private(tmp_path):
    first = credentials.local_identity(tmp_path / "c2pa")
    chain = first.certificate.read_bytes()
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "c2pa").stat().st_mode) == 0o700
    assert credentials.local_identity(tmp_path / "c2pa").certificate.read_bytes() == chain


def test_missing_certificate_file_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.pem: certificate or key file not found"):
        credentials.Identity(tmp_path / "nope.pem", tmp_path / "nope.key")


def test_without_the_extra_verify_says_how_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_c2pa(name, *args, **kwargs):
        if name == "c2pa":
            raise ImportError("No module named 'c2pa'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_c2pa)
    result = CliRunner().invoke(main, ["verify", str(_image(tmp_path / "x.png"))])
    assert result.exit_code == 1 and "pip install 'stylecloak[c2pa]'" in result.output


def test_protect_with_c2pa_signs_every_output_and_leaves_the_original(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    art = tmp_path / "art"
    art.mkdir()
    originals = [_image(art / "a.png"), _image(art / "b.jpg", seed=3)]
    before = [p.read_bytes() for p in originals]
    result = CliRunner().invoke(main, ["protect", str(art), "--out", str(tmp_path / "out"), "--steps", "1", "--style", "woodcut", "--c2pa"])
    assert result.exit_code == 0, result.output
    for name in ("a.png", "b.jpg"):
        found = credentials.read(tmp_path / "out" / name)
        assert found.valid and found.training_mining["cawg.ai_training"] == "notAllowed"
        assert "signingCredential.untrusted" in found.notes
    assert (tmp_path / "config" / "stylecloak" / "c2pa" / "local-key.pem").is_file()
    assert [p.read_bytes() for p in originals] == before


def test_protect_refuses_a_certificate_without_its_key_before_any_work(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    result = CliRunner().invoke(main, ["protect", str(_image(tmp_path / "a.png")), "--out", str(tmp_path / "out"), "--c2pa-cert", str(cert)])
    assert result.exit_code == 1 and "--c2pa-cert and --c2pa-key go together" in result.output
    assert not (tmp_path / "out").exists()
