"""One target-style decision: the CLI, the Python API and the web app choose the same style for the same
images and artist, from the same bounded sample at a fixed analysis size."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import painting_crop

from stylecloak import Protector, ProtectSettings, protect
from stylecloak.api import STYLE_SAMPLE, STYLE_SAMPLE_SIDE, style_sample
from stylecloak.cli import main
from stylecloak.errors import ConfigError
from stylecloak.styles import default_profile_path

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
