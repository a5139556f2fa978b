"""Originals are never overwritten: every file a batch writes is planned and checked before any work.

The cloak is stubbed with a fast fake protector (no weights): these tests are about files, not cloaks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from stylecloak.cli import main
from stylecloak.config import ProtectSettings
from stylecloak.errors import ImageError
from stylecloak.io import JOURNAL, Journal, OutputMetadata, load_image, save_image
from stylecloak.plan import PlanError, Task, check_plan, plan_batch
from stylecloak.runner import run_plan

ARGS = ["--style", "mosaic"]


@dataclass
class FakeResult:
    """The parts of :class:`~stylecloak.api.ProtectResult` the runner uses."""

    source: object
    cloaked: torch.Tensor
    settings: ProtectSettings
    target_style: str
    warnings: list = field(default_factory=list)

    def save(self, path, warn=None):
        return save_image(self.source, self.cloaked, path, metadata=OutputMetadata(optout="none"), warn=warn)

    def preview(self) -> Image.Image:
        return Image.new("RGB", (24, 8), (200, 10, 10))

    def summary(self) -> dict:
        numbers = {
            "target_progress": 0.5,
            "target_progress_by_size": {"32": 0.5},
            "worst_size": 32,
            "perceptual_distance": 0.01,
            "psnr_db": 40.0,
            "seconds": 0.0,
        }
        return {"input": str(self.source.path), "target_style": self.target_style, "warnings": [], **numbers}


class FakeProtector:
    """Protector's interface without models: the "cloak" darkens the image a little."""

    def __init__(self, settings: ProtectSettings, **kwargs):
        self.settings = settings
        self.cloak_settings = SimpleNamespace(steps=1, budget=0.05)
        self.device = "cpu"

    def resolve_target(self, images, **kwargs):
        return self.settings

    def with_settings(self, settings):
        return self

    def protect(self, source, target_style=None, progress=None):
        return FakeResult(source, (source.rgb * 0.9).round_(decimals=2), self.settings, self.settings.target_style)


@pytest.fixture(autouse=True)
def fake_cloak(monkeypatch):
    monkeypatch.setattr("stylecloak.cli.protect.Protector", FakeProtector)
    monkeypatch.setattr("stylecloak.cli.protect._forecast", lambda protector, plan: None)  # the fake has no encoders to time
    monkeypatch.setattr("stylecloak.cli.protect.short_audit", lambda *a, **k: {"checks": ["jpeg75"], "worst": {"jpeg75": 0.4}})


def cli(*args: str):
    return CliRunner().invoke(main, ["protect", *map(str, args), *ARGS])


def image(path: Path, seed: int = 0) -> Path:
    """A small distinct image in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    im = Image.fromarray(pixels)
    im = im.convert("P") if path.suffix == ".gif" else im
    im.save(path)
    return path


def hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root (hidden ones too)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


# --------------------------------------------------------------------------- the reproductions


def test_a_gif_beside_its_png_never_overwrites_the_png(tmp_path):
    art = tmp_path / "art"
    image(art / "sketch.png", 1), image(art / "sketch.gif", 2)
    before = hashes(tmp_path)
    res = cli(art / "sketch.gif", "--out", art)
    assert res.exit_code == 2, res.output
    assert any(f"{art / 'sketch.png'}: already exists and was not written by stylecloak" in line for line in error_lines(res.output))
    assert hashes(tmp_path) == before  # nothing written, not even a journal

    res = cli(art, "--out", art)  # the folder case
    assert res.exit_code == 2
    assert any(f"{art / 'sketch.png'}: would overwrite the input image" in line for line in error_lines(res.output))
    assert hashes(tmp_path) == before


def test_an_output_folder_inside_the_inputs_never_overwrites_or_hides_originals(tmp_path):
    art = tmp_path / "art"
    image(art / "rgb.png", 1), image(art / "sub" / "rgb.png", 2)
    before = hashes(tmp_path)
    res = cli(art, "--out", art / "sub")
    assert res.exit_code == 2, res.output
    lines = error_lines(res.output)
    assert any(f"{art / 'sub' / 'rgb.png'}: is an original inside the output folder" in line for line in lines)
    assert any(f"{art / 'sub' / 'rgb.png'}: would overwrite the input image" in line for line in lines)
    assert hashes(tmp_path) == before


def test_outputs_of_one_batch_never_collide(tmp_path):
    a, b = image(tmp_path / "a" / "rgb.png", 1), image(tmp_path / "b" / "rgb.png", 2)
    gif = image(tmp_path / "a" / "rgb.gif", 3)
    before = hashes(tmp_path)
    res = cli(a, b, gif, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    lines = error_lines(res.output)
    assert (
        f"Error: {tmp_path / 'out' / 'rgb.png'}: both {a} and {b} would be written here; rename one of them or protect them into separate output folders"
        in lines
    )
    assert any(f"both {a} and {gif}" in line for line in lines)
    assert hashes(tmp_path) == before and not (tmp_path / "out").exists()

    res = cli(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "out")  # each folder is mirrored from its own top
    assert res.exit_code == 2 and f"and {b} would be written here" in res.output
    (tmp_path / "a" / "rgb.gif").rename(tmp_path / "a" / "other.gif")
    res = cli(tmp_path / "a", "--out", tmp_path / "out")
    assert res.exit_code == 0 and "2 protected, 0 already done" in res.output, res.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["other.png", "rgb.png"]
    assert hashes(tmp_path / "b") == {"rgb.png": before["b/rgb.png"]} and hashes(tmp_path / "a")["rgb.png"] == before["a/rgb.png"]


def test_a_file_in_the_output_folder_that_stylecloak_did_not_write_is_refused(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    image(src / "x.png", 1)
    image(out / "x.png", 2)  # the artist's own file
    before = hashes(tmp_path)
    res = cli(src, "--out", out)
    assert res.exit_code == 2 and f"Error: {out / 'x.png'}: already exists and was not written by stylecloak" in res.output
    assert hashes(tmp_path) == before
    (out / "x.png").unlink()
    assert cli(src, "--out", out).exit_code == 0
    res = cli(src, "--out", out, "--seed", "1")  # other settings: our own output is replaced
    assert res.exit_code == 0 and "1 protected" in res.output
    assert hashes(src) == {k[len("in/") :]: v for k, v in before.items() if k.startswith("in/")}


def test_resume_does_not_depend_on_how_the_output_folder_is_spelled(tmp_path, monkeypatch):
    image(tmp_path / "in" / "x.png")
    monkeypatch.chdir(tmp_path)
    assert cli("in", "--out", "out").exit_code == 0
    for spelling in (tmp_path / "out", "./in/../out", "out/"):
        res = cli("in", "--out", spelling)
        assert res.exit_code == 0 and "0 protected, 1 already done" in res.output, (spelling, res.output)


def test_an_older_journal_still_counts_its_paths_resolved_when_read(tmp_path, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    image(src / "x.png")
    monkeypatch.chdir(tmp_path)
    assert cli("in", "--out", "out").exit_code == 0
    journal = out / JOURNAL
    old = [{k: v for k, v in json.loads(line).items() if k != "path"} | {"output": "out/x.png"} for line in journal.read_text().splitlines()]
    journal.write_text("".join(json.dumps(e) + "\n" for e in old))  # as an older version wrote it: no "path", --out as typed
    res = cli(src, "--out", out.absolute())
    assert res.exit_code == 0 and "0 protected, 1 already done" in res.output


def test_a_torn_last_journal_line_does_not_swallow_the_next_record(tmp_path):
    out = tmp_path / "out"
    (out / JOURNAL).parent.mkdir(parents=True)
    (out / JOURNAL).write_text('{"input_sha256": "aa", "settings": "s", "output": "x", "pa')  # killed mid-write
    Journal(out).add("bb", out / "y.png", {"settings": "s"})
    again = Journal(out)
    assert again.done == {("bb", "s"): "y.png"} and again.is_ours(out / "y.png")


def test_previews_are_planned_and_kept_apart_from_the_uploads(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    image(src / "x.png", 1), image(src / "x.jpg", 2), image(src / "sub" / "x.png", 3)
    before = hashes(src)
    res = cli(src, "--out", out, "--preview")
    assert res.exit_code == 0 and "3 protected" in res.output, res.output
    previews = sorted(p.relative_to(out).as_posix() for p in (out / "previews").rglob("*.png"))
    assert previews == ["previews/sub/x.png.preview.png", "previews/x.jpg.preview.png", "previews/x.png.preview.png"]
    assert not [p for p in out.glob("*.png") if "preview" in p.name]  # never mixed with the files meant for upload
    res = cli(src, "--out", out, "--preview")  # the previews are ours: a rerun takes neither them nor the outputs for originals
    assert res.exit_code == 0 and "0 protected, 3 already done" in res.output

    elsewhere = tmp_path / "views"
    image(elsewhere / "x.png.preview.png", 4)  # a file of the artist's where a preview would go
    res = cli(src, "--out", tmp_path / "out2", "--preview-dir", elsewhere)
    assert res.exit_code == 2 and f"{elsewhere / 'x.png.preview.png'}: already exists and was not written by stylecloak" in res.output
    (elsewhere / "x.png.preview.png").unlink()
    assert cli(src, "--out", tmp_path / "out2", "--preview-dir", elsewhere).exit_code == 0
    assert (elsewhere / "sub" / "x.png.preview.png").exists() and not (tmp_path / "out2" / "previews").exists()
    assert hashes(src) == before


def test_an_empty_input_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    res = cli(tmp_path / "empty", "--out", tmp_path / "out")
    assert res.exit_code == 2 and error_lines(res.output) == [
        f"Error: {tmp_path / 'empty'}: no images found; pass image files or folders holding PNG, JPEG, WebP, TIFF, BMP or GIF files"
    ]
    assert not (tmp_path / "out").exists()


def test_planning_refusals_come_before_any_model_is_loaded(tmp_path, monkeypatch):
    image(tmp_path / "a.png")
    monkeypatch.setattr("stylecloak.cli.protect.Protector", lambda *a, **k: pytest.fail("models loaded before the plan was checked"))
    res = cli(tmp_path / "a.png", "--out", tmp_path)
    assert res.exit_code == 2 and f"{tmp_path / 'a.png'}: would overwrite the input image" in res.output


def test_the_web_apps_generated_names_are_checked_the_same_way(tmp_path):
    a = image(tmp_path / "in-0.png", 1).rename(tmp_path / "in-0")  # uploads are stored under generated names
    check_plan([Task(0, a, tmp_path / "x.png", views={"preview": tmp_path / "x.png.preview.png"})])
    with pytest.raises(PlanError, match="would overwrite the input image"):
        check_plan([Task(0, a, tmp_path / "x.png", views={"preview": a})])
    with pytest.raises(PlanError, match="both"):
        check_plan([Task(0, a, tmp_path / "x.png"), Task(1, a, tmp_path / "X.PNG")])  # one file where case does not count


def test_a_plan_is_a_library_step(tmp_path):
    art = tmp_path / "art"
    image(art / "a.png"), image(art / "s" / "b.webp")
    plan = plan_batch([art], tmp_path / "out", views=("preview",))
    assert [(t.input, t.output, t.views["preview"]) for t in plan.tasks] == [
        (art / "a.png", tmp_path / "out" / "a.png", tmp_path / "out" / "previews" / "a.png.preview.png"),
        (art / "s" / "b.webp", tmp_path / "out" / "s" / "b.webp", tmp_path / "out" / "previews" / "s" / "b.webp.preview.png"),
    ]
    report = run_plan(plan, FakeProtector(ProtectSettings(target_style="mosaic")))
    assert [i.status for i in report.items] == ["done", "done"]
    assert all(i.views["preview"].exists() for i in report.items)


# --------------------------------------------------------------------------- truncated images


def png(width: int, height: int, rows: bytes, *, interlace: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def adam7_rows(pixels: np.ndarray) -> list[bytes]:
    """The filtered scanlines of each interlace pass (filter 0), pass by pass."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    out = []
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            out += [b"\x00" + row.tobytes() for row in sub]
    return out


@pytest.mark.parametrize("interlace", [0, 1])
def test_a_png_whose_rows_are_missing_is_rejected_not_zero_filled(tmp_path, interlace):
    pixels = np.random.default_rng(0).integers(0, 256, (37, 29, 3), dtype=np.uint8)
    rows = adam7_rows(pixels) if interlace else [b"\x00" + row.tobytes() for row in pixels]
    whole = tmp_path / "whole.png"
    whole.write_bytes(png(29, 37, b"".join(rows), interlace=interlace))
    assert np.array_equal((load_image(whole).rgb[0].permute(1, 2, 0) * 255).round().byte().numpy(), pixels)
    short = tmp_path / "short.png"
    short.write_bytes(png(29, 37, b"".join(rows[:-1]), interlace=interlace))
    with pytest.raises(ImageError, match=re.escape(f"{short}: is truncated")):
        load_image(short)


def test_a_truncated_png_fails_its_file_and_the_batch_goes_on(tmp_path):
    src = tmp_path / "in"
    image(src / "good.png")
    pixels = np.zeros((20, 20, 3), np.uint8)
    (src / "short.png").write_bytes(png(20, 20, b"".join(b"\x00" + r.tobytes() for r in pixels[:10])))
    before = hashes(src)
    res = cli(src, "--out", tmp_path / "out")
    assert res.exit_code == 1 and "1 protected, 0 already done, 1 failed" in res.output
    assert f"{src / 'short.png'}: is truncated" in res.output and not (tmp_path / "out" / "short.png").exists()
    res = cli(src, "--out", tmp_path / "out")
    assert res.exit_code == 1 and "1 failed" in res.output  # never "done"
    assert hashes(src) == before


# --------------------------------------------------------------------------- property: random trees and reruns

FOLDERS = ("", "a", "a/b", "out")
STEMS = ("x", "y", "X")
SUFFIXES = (".png", ".gif", ".jpg", ".webp")
OUTS = ("out", "a/out", "a", "", "a/b", "elsewhere", "a/b/deeper")


@st.composite
def batches(draw):
    files = draw(st.lists(st.tuples(st.sampled_from(FOLDERS), st.sampled_from(STEMS), st.sampled_from(SUFFIXES)), min_size=1, max_size=7, unique=True))
    names = sorted({f"{d}/{s}{x}".lstrip("/") for d, s, x in files})
    given = draw(st.lists(st.sampled_from(["."] + names + ["a", "a/b"]), min_size=1, max_size=3, unique=True))
    runs = draw(st.lists(st.tuples(st.sampled_from(OUTS), st.booleans()), min_size=1, max_size=3))
    return names, given, runs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches())
def test_random_trees_and_reruns_never_change_an_original_nor_overclaim(monkeypatch, batch):
    names, given, runs = batch
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed, name in enumerate(names):
            image(root / name, seed)
        originals = hashes(root)
        monkeypatch.chdir(root)
        for out, preview in runs:
            report = root / ".report.json"
            report.unlink(missing_ok=True)
            state = hashes(root)
            res = cli(*given, "--out", out or ".", "--report", report, *(["--preview"] if preview else []))
            assert res.exit_code in (0, 1, 2), res.output
            event(f"exit {res.exit_code}")
            current = hashes(root)
            assert {k: current.get(k) for k in originals} == originals, res.output  # no original changed or removed
            if res.exit_code == 2:
                assert current == state, res.output  # a refused plan writes nothing
                assert all(line.startswith("Error: ") for line in res.output.strip().splitlines()), res.output
                continue
            done, skipped = map(int, re.search(r"(\d+) protected, (\d+) already done", res.output).groups())
            items = json.loads(report.read_text())["images"]
            outputs = {os.path.realpath(i["output"]) for i in items if i["status"] in ("done", "skipped")}
            assert len(outputs) == done + skipped, res.output  # each claimed file has its own output
            assert all(os.path.exists(p) and os.path.relpath(p, root) not in originals for p in outputs)
