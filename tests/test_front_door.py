"""The command line and the API as a newcomer meets them: numbers checked, typos answered, Ctrl+C, any image type."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from stylecloak import Protector, ProtectSettings, protect
from stylecloak.cli import COMMANDS, INTERRUPTED, main
from stylecloak.errors import ConfigError, ImageError
from stylecloak.io import load_image
from stylecloak.styles import get_style
from stylecloak.verdict import protection_verdict


def _art(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_steps_below_one_are_refused_and_nothing_is_written(tmp_path, steps):
    art = _art(tmp_path / "a.png")
    before = art.read_bytes()
    result = CliRunner().invoke(main, ["protect", str(art), "--out", str(tmp_path / "out"), "--steps", steps])
    assert result.exit_code == 2 and "--steps" in result.output
    assert not (tmp_path / "out").exists() and art.read_bytes() == before


def test_a_mistyped_style_gets_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'woodcut'"):
        get_style("woodcutt")


def test_ctrl_c_exits_130_with_one_line(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("stylecloak.cli.protect.run_plan", interrupted)
    result = CliRunner().invoke(main, ["protect", str(_art(tmp_path / "a.png")), "--out", str(tmp_path / "out"), "--style", "woodcut", "--steps", "1"])
    assert result.exit_code == INTERRUPTED == 130
    assert "Interrupted" in result.output and "Traceback" not in result.output


def test_api_defaults_to_the_best_device_like_the_cli():
    assert inspect.signature(Protector).parameters["device"].default == "auto"
    assert inspect.signature(protect).parameters["device"].default == "auto"


def test_tensors_load_and_bad_ones_get_a_clear_error():
    x = torch.rand(3, 20, 24)
    loaded = load_image(x)
    assert loaded.rgb.shape == (1, 3, 20, 24) and torch.equal(loaded.rgb[0], x) and loaded.path is None
    assert load_image(loaded) is loaded
    for bad, words in (
        (torch.rand(2, 3, 20, 20), "one RGB image"),
        (torch.rand(1, 3, 20, 20) * 255, "in \\[0, 1\\]"),
        (torch.zeros(1, 3, 20, 20, dtype=torch.uint8), "float tensor"),
    ):
        with pytest.raises(ImageError, match=words):
            load_image(bad)
    with pytest.raises(ImageError, match="cannot read an image from a list"):
        load_image([1, 2, 3])


@pytest.mark.parametrize("kind", ["tensor", "pil", "path"])
def test_protector_protects_paths_pil_images_and_tensors_alike(tmp_path, kind):
    art = _art(tmp_path / "a.png")
    source = {"tensor": lambda: load_image(art).rgb, "pil": lambda: Image.open(art), "path": lambda: art}[kind]()
    protector = Protector(ProtectSettings(target_style="woodcut", perceptual="efficientnet", overrides={"steps": 2}), device="cpu")
    result = protector.protect(source, "woodcut")
    assert result.cloaked.shape == (1, 3, 32, 40)
    assert not torch.equal(result.cloaked, load_image(art).rgb)


def test_help_lists_every_command_without_importing_torch():
    code = "import sys; from stylecloak.cli import main; main(['--help'])"
    run = subprocess.run([sys.executable, "-c", code + "\n"], capture_output=True, text=True, env=_env())
    assert run.returncode == 0 and "protect" in run.stdout
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\ntry:\n    from stylecloak.cli import main; main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert check.stdout.strip().endswith("False")


def test_the_short_help_shown_without_importing_is_each_commands_own():
    ctx = click.Context(main)
    for name, (_, short) in COMMANDS.items():
        assert main.get_command(ctx, name).get_short_help_str(limit=200) == short, name


def test_cli_makes_openmp_threads_wait_passively():
    run = subprocess.run([sys.executable, "-c", "import os, stylecloak.cli; print(os.environ['OMP_WAIT_POLICY'])"], capture_output=True, text=True, env=_env())
    assert run.stdout.strip() == "PASSIVE"
    chosen = subprocess.run(
        [sys.executable, "-c", "import os, stylecloak.cli; print(os.environ['OMP_WAIT_POLICY'])"],
        capture_output=True,
        text=True,
        env=_env(OMP_WAIT_POLICY="ACTIVE"),
    )
    assert chosen.stdout.strip() == "ACTIVE"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH")]))
    return env | extra


def test_protect_shows_a_gauge_decided_after_a_re_upload_and_reports_it(tmp_path):
    art = _art(tmp_path / "a.png")
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["protect", str(art), "--out", str(tmp_path / "out"), "--style", "woodcut", "--steps", "2", "--report", str(report)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "protection:" in line)
    record = json.loads(report.read_text())["images"][0]
    after = record["after_reupload"]
    assert {"jpeg75", "downscale_half", "repost_1080"} <= set(after)
    word, percent = protection_verdict(record)
    assert f"protection: {word}, {percent}% of the way to 'woodcut' after a re-upload" in line
    assert percent == round(max(min([record["target_progress"], *after.values()]), 0) * 100)


def test_intensities_are_named_for_how_they_look_and_the_old_names_still_work():
    from stylecloak.config import cloak_settings

    for looks, key in (("barely-visible", "low"), ("subtle", "default"), ("visible-up-close", "high")):
        assert ProtectSettings(intensity=looks).intensity == key
        assert cloak_settings(looks) == cloak_settings(key)
    result = CliRunner().invoke(main, ["protect", "--help"])
    assert "barely-visible" in result.output and "[default: subtle]" in result.output


def test_the_preview_strip_labels_are_readable():
    from stylecloak.result import PREVIEW_TEXT_PX, ProtectResult

    panels = {name: torch.full((1, 3, 256, 256), 0.8) for name in ("original_view", "cloaked_view", "target_view")}
    strip = ProtectResult.preview(SimpleNamespace(**panels, target_style="cubist-facets"))
    gray = np.asarray(strip.convert("L"))
    header = gray[: gray.shape[0] - 256]
    rows = np.where((header < 100).any(axis=1))[0]
    assert rows.max() - rows.min() + 1 >= PREVIEW_TEXT_PX * 0.6  # glyphs as tall as the font's cap height, not 6 px
