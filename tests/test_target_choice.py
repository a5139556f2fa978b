"""One target-style decision: the CLI, the Python API and the web app choose the same style for the same
images and artist, from the same bounded sample at a fixed analysis size, once for a run
(:meth:`Protector.resolve_target`), then carry it in the settings."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import painting_crop

from stylecloak import Protector, ProtectSettings, protect
from stylecloak.api import STYLE_SAMPLE, STYLE_SAMPLE_SIDE, style_sample
from stylecloak.cli import main
from stylecloak.cloak import METHODS
from stylecloak.errors import ConfigError
from stylecloak.plan import plan_batch
from stylecloak.runner import run_plan
from stylecloak.styles import ArtistProfile, default_profile_path, load_profile, save_profile

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'stylecloak[web]'")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")

from fastapi.testclient import TestClient

from stylecloak.web import create_app


def _stop(self, *args, **kwargs):
    raise ConfigError("stopped after choosing the target")  # the choice is made and saved before any cloaking


def _cli(images: list[Path], out: Path, profile: Path, tiny_weights: Path) -> dict:
    res = CliRunner().invoke(main, ["protect", *map(str, images), "--out", str(out), "--profile", str(profile), "--weights-dir", str(tiny_weights)])
    assert "target style:" in res.output, res.output
    return json.loads(profile.read_text())


def _web(images: list[Path], profiles: Path, tiny_weights: Path) -> dict:
    app = create_app(weights_dir=tiny_weights, profile_dir=profiles)
    with TestClient(app, base_url="http://127.0.0.1", headers={"X-Stylecloak-Token": app.state.token}) as client:
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in images]
        job = client.post("/api/jobs", data={"style": "auto", "artist": "same"}, files=files).json()["id"]
        deadline = time.monotonic() + 300
        while client.get(f"/api/jobs/{job}").json()["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    return json.loads((profiles / default_profile_path("same").name).read_text())


def _same_choice(a: dict, b: dict) -> None:
    assert a["target_style"] == b["target_style"]
    assert a["distances"] == pytest.approx(b["distances"], rel=1e-5)  # the same images at the same size were measured


def test_cli_api_and_web_choose_the_same_target_for_the_same_images(tmp_path, art_files, tiny_weights, monkeypatch):
    art = tmp_path / "art"
    art.mkdir()
    painting_crop(art_files[0], 640).save(art / "a.png")  # above the analysis size: the entry points once differed here
    painting_crop(art_files[3], 96).save(art / "b.png")
    images = sorted(art.iterdir())
    monkeypatch.setattr(Protector, "protect", _stop)

    # several images: the CLI (a folder), the web app (uploads) and the library (files)
    cli = _cli([art], tmp_path / "out", tmp_path / "cli.json", tiny_weights)
    web = _web(images, tmp_path / "web", tiny_weights)
    library = Protector(ProtectSettings(), weights_dir=tiny_weights).choose_target(images, profile=tmp_path / "lib.json")
    _same_choice(cli, web)
    _same_choice(cli, {"target_style": library.target_style, "distances": library.distances})

    # one image: protect() and the CLI
    with pytest.raises(ConfigError, match="stopped"):
        protect(images[0], profile=tmp_path / "api.json", weights_dir=tiny_weights)
    _same_choice(json.loads((tmp_path / "api.json").read_text()), _cli(images[:1], tmp_path / "out1", tmp_path / "cli1.json", tiny_weights))


def test_style_sample_is_the_first_images_at_the_analysis_size(tmp_path, art_files):
    folder = tmp_path / "art"
    folder.mkdir()
    for i in range(10):
        painting_crop(art_files[i % len(art_files)], 700 if i in (0, 9) else 40).save(folder / f"p{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")  # sorted first, and skipped
    sample = style_sample([folder])
    assert len(sample) == STYLE_SAMPLE
    assert [max(s.shape[-2:]) for s in sample] == [STYLE_SAMPLE_SIDE] + [40] * (STYLE_SAMPLE - 1)  # p0..p7: p9 is left out
    assert len(style_sample([folder / "p9.png", folder / "p1.png"], count=1)) == 1


CHOSEN = "stained-glass"


@pytest.fixture()
def selections(monkeypatch) -> list[str]:
    """The artists Glaze's selection ran for; it picks :data:`CHOSEN` (the real one measures every style: minutes)."""
    calls = []

    def select(renderer, sample, styles, *, artist, seed):
        calls.append(artist)
        return ArtistProfile(artist=artist, target_style=CHOSEN, backbone=renderer.name, seed=seed)

    monkeypatch.setattr("stylecloak.api.select_target", select)
    return calls


def _art(tmp_path: Path, art_files, count: int = 2) -> Path:
    art = tmp_path / "art"
    art.mkdir()
    for i in range(count):
        painting_crop(art_files[i], 40).save(art / f"p{i}.png")
    return art


def test_a_cli_batch_decides_its_target_once_and_carries_it_in_the_settings(tmp_path, art_files, tiny_weights, monkeypatch, selections):
    art, profile = _art(tmp_path, art_files), tmp_path / "me.json"
    resolved, seen, resolve = [], [], Protector.resolve_target

    def counted(self, *args, **kwargs):
        resolved.append(kwargs.get("artist"))
        return resolve(self, *args, **kwargs)

    def protect_spy(self, image, target_style=None, progress=None, settings=None):
        seen.append((target_style, self.settings.target_style))
        _stop(self)

    monkeypatch.setattr(Protector, "resolve_target", counted)
    monkeypatch.setattr(Protector, "protect", protect_spy)
    res = CliRunner().invoke(
        main, ["protect", str(art), "--out", str(tmp_path / "out"), "--profile", str(profile), "--artist", "me", "--weights-dir", str(tiny_weights)]
    )
    assert resolved == ["me"] and selections == ["me"], res.output  # one decision for the batch, not one per image
    assert load_profile(profile).target_style == CHOSEN
    assert seen == [(None, CHOSEN), (None, CHOSEN)]  # each image finds it in the settings
    assert f"target style: {CHOSEN}  " in res.output


def test_a_rerun_naming_the_style_the_profile_chose_skips_what_is_done(tmp_path, art_files, tiny_weights, selections):
    art, out, profile = _art(tmp_path, art_files, 1), tmp_path / "out", tmp_path / "me.json"
    args = ["protect", str(art), "--out", str(out), "--profile", str(profile), "--weights-dir", str(tiny_weights), "--quality", "fast", "--steps", "1"]
    res = CliRunner().invoke(main, args)
    assert "1 protected" in res.output, res.output
    res = CliRunner().invoke(main, [*args, "--style", CHOSEN])
    assert "0 protected, 1 already done" in res.output, res.output  # the same pixels: the journal holds the decided style once


def test_an_explicit_style_wins_over_the_profile(tmp_path, art_files, tiny_weights, selections):
    profile = save_profile(ArtistProfile(artist="me", target_style="mosaic", backbone="taef2", seed=0), tmp_path / "me.json")
    before = profile.read_bytes()
    protector = Protector(ProtectSettings(target_style="woodcut"), weights_dir=tiny_weights)
    assert protector.resolve_target([_art(tmp_path, art_files)], artist="me", profile=profile).target_style == "woodcut"
    assert Protector(ProtectSettings(), weights_dir=tiny_weights).resolve_target([], artist="me", profile=profile).target_style == "mosaic"
    assert selections == [] and profile.read_bytes() == before


def test_a_misspelt_style_names_the_nearest_one(tiny_weights):
    with pytest.raises(ConfigError, match="unknown target style 'wodcut'; did you mean 'woodcut'"):
        Protector(ProtectSettings(target_style="wodcut"), weights_dir=tiny_weights)
    protector = Protector(ProtectSettings(), weights_dir=tiny_weights)
    with pytest.raises(ConfigError, match="did you mean 'woodcut'"):
        protector.with_settings(replace(protector.settings, target_style="wodcut"))


@pytest.mark.parametrize("method", [m for m in METHODS if not METHODS[m].needs_style])
def test_style_free_methods_get_their_fixed_target_without_a_profile(method, tmp_path, tiny_weights, selections):
    protector = Protector(ProtectSettings(method=method), weights_dir=tiny_weights)
    settings = protector.resolve_target([], profile=tmp_path / "me.json")
    assert settings.target_style == METHODS[method].target_label(None)
    assert selections == [] and not (tmp_path / "me.json").exists()


def test_nothing_protects_before_the_target_is_decided(tmp_path, art_files, tiny_weights):
    art = _art(tmp_path, art_files, 1)
    protector = Protector(ProtectSettings(), weights_dir=tiny_weights)
    with pytest.raises(ConfigError, match="resolve_target"):
        protector.protect(art / "p0.png")
    with pytest.raises(ConfigError, match="resolve_target"):
        run_plan(plan_batch([art], tmp_path / "out"), protector)
    assert not (tmp_path / "out").exists()


def test_a_copy_shares_the_models_and_changes_only_what_loads_none(tiny_weights):
    protector = Protector(ProtectSettings(), weights_dir=tiny_weights)
    copy = protector.with_settings(replace(protector.settings, target_style="woodcut", optout="ai"))
    assert copy.backbones is protector.backbones and (copy.settings.target_style, copy.settings.optout) == ("woodcut", "ai")
    assert protector.settings.target_style is None  # the original is unchanged
    with pytest.raises(ConfigError, match="intensity: fixed when a Protector is made"):
        protector.with_settings(replace(protector.settings, intensity="high"))
