"""The built-in sample and ``stylecloak demo``: every promised file, and a summary that matches them."""

from __future__ import annotations

import json
import re

import click
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import to_tensor
from PIL import Image

from stylecloak import Protector, ProtectSettings
from stylecloak.audit.reupload import CHECKS, short_audit
from stylecloak.cli import main
from stylecloak.cli.demo import DEMO_STYLE, summary_lines
from stylecloak.errors import ConfigError
from stylecloak.perceptual import psnr
from stylecloak.sample import paint_sample


def test_sample_is_deterministic_and_sized():
    a, b = paint_sample(96), paint_sample(96)
    assert a.size == (96, 72) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    assert paint_sample(96, seed=1).tobytes() != a.tobytes()
    with pytest.raises(ConfigError, match="at least 32"):
        paint_sample(8)


def test_sample_has_the_colour_and_texture_of_a_painting():
    a = np.asarray(paint_sample(256), np.float32)
    hsv = np.asarray(Image.fromarray(a.astype(np.uint8)).convert("HSV"), np.float32)
    saturated = hsv[..., 1] > 60
    hues = np.bincount((hsv[..., 0][saturated] / 256 * 12).astype(int), minlength=12) / saturated.sum()
    assert (hues > 0.01).sum() >= 5, f"too few hues: {np.round(hues, 3)}"
    grey = a.mean(-1)
    detail = np.abs(np.diff(grey, axis=1)).mean()  # brush strokes: neighbouring pixels differ
    assert detail > 4, detail
    assert grey.std() > 30  # light sky, dark trees and water


def test_demo_writes_every_file_and_a_summary_that_matches_them(tmp_path, tiny_weights, monkeypatch):
    opened = []
    monkeypatch.setattr(click, "launch", lambda path: opened.append(path) or 0)
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out", str(out), "--weights-dir", str(tiny_weights), "--size", "128", "--steps", "3", "--open"])
    assert res.exit_code == 0, res.output
    files = {n: out / n for n in ("original.png", "protected.png", "what-the-model-sees.png", "report.json", "audit.json")}
    assert sorted(p.name for p in out.iterdir()) == sorted(files)

    original, protected = Image.open(files["original.png"]), Image.open(files["protected.png"])
    assert original.tobytes() == paint_sample(128).tobytes()
    assert protected.size == original.size == (128, 96)
    x, xp = (np.asarray(im, np.float32) / 255 for im in (original, protected))
    assert np.abs(x - xp).max() > 0, "the protected copy must differ"
    Image.open(files["what-the-model-sees.png"]).load()

    report = json.loads(files["report.json"].read_text())
    entry = report["images"][0]
    assert report["target_style"] == entry["target_style"] == DEMO_STYLE
    assert report["settings"]["intensity"] == "default" and report["settings"]["quality"] == "default"
    assert entry["output"] == str(files["protected.png"]) and entry["preview"] == str(files["what-the-model-sees.png"])
    assert entry["psnr_db"] >= 33.0
    checked = json.loads(files["audit.json"].read_text())
    assert list(checked["sizes"]) == ["128"]  # every mimic size is above 128 px: measured once, at the image's own size
    assert set(checked["worst"]) == {"target_progress", *CHECKS}

    lines = res.stdout.strip().splitlines()
    assert len(lines) == 5, res.stdout
    for name, path in files.items():
        assert str(path) in res.stdout, name
    assert f"PSNR {entry['psnr_db']:.1f} dB" in lines[1]
    assert f"moved {entry['target_progress']:.0%} of the way to the '{DEMO_STYLE}' style" in lines[2]
    assert f"{checked['worst']['jpeg75']:.0%} of the way after JPEG q75" in lines[3]
    assert f"{checked['worst']['downscale_half']:.0%} after halving" in lines[3]
    assert "checked at 128 px (the sample's size" in lines[3] and "--size 1024 checks 512/768/1024 px" in lines[3]
    assert re.search(r"done in \d+ s", lines[4])
    assert opened == [str(files["protected.png"]), str(files["what-the-model-sees.png"])]
    assert "stylecloak demo" in CliRunner().invoke(main, ["--help"]).output


def test_unwritable_out_is_one_line_error(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    res = CliRunner().invoke(main, ["demo", "--out", str(taken)])
    assert res.exit_code == 1
    assert f"Error: {taken}: cannot write the demo's files" in res.output and "choose another --out" in res.output
    assert taken.read_text() == "a file, not a folder"


def test_short_audit_measures_each_size_and_reports_the_worst(tmp_path, tiny_weights):
    paint_sample(128).save(tmp_path / "o.png")
    result = Protector(ProtectSettings(target_style=DEMO_STYLE, quality="fast", overrides={"steps": 6}), weights_dir=tiny_weights).protect(tmp_path / "o.png")
    result.save(tmp_path / "p.png")
    checked = short_audit(tmp_path / "o.png", tmp_path / "p.png", DEMO_STYLE, (64, 128), tiny_weights)
    sizes = checked["sizes"]
    assert list(sizes) == ["64", "128"]
    assert sizes["64"] != sizes["128"], "different working sizes must give different measurements"
    assert sizes["128"]["target_progress"] == pytest.approx(result.target_progress, abs=0.01)  # protect measured at 128 px too
    for key in ("target_progress", *CHECKS):
        assert checked["worst"][key] == min(s[key] for s in sizes.values())
    assert checked["psnr_db"] == pytest.approx(float(psnr(*(to_tensor(Image.open(tmp_path / n)) for n in ("o.png", "p.png")))), abs=0.01)


def test_summary_names_the_larger_sizes_only_when_the_sample_is_smaller():
    paths = {k: f"/d/{k}" for k in ("original", "protected", "preview", "report", "audit")}
    protected = {"width": 1024, "height": 768, "psnr_db": 33.0, "worst_size": 512, "target_progress": 0.3}
    worst = {"target_progress": 0.3, "jpeg75": 0.2, "downscale_half": 0.1}
    full = {"sizes": {"512": {}, "768": {}, "1024": {}}, "worst": worst, "target_style": "woodcut"}
    small = {**full, "sizes": {"512": {}}}
    assert "checked at 512/768/1024 px: still 20%" in summary_lines(paths, protected, full, 1.0)[3]
    assert "checked at 512 px (the sample's size" in summary_lines(paths, protected, small, 1.0)[3]
