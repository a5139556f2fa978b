"""The CLI end to end: protect with report and preview, bad files, resume after SIGKILL, help texts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import painting_crop
from PIL import Image

from stylecloak.cli import main

ARGS = ["--quality", "fast", "--steps", "3", "--style", "mosaic"]


@pytest.fixture()
def portfolio(tmp_path, painting_files):
    root = tmp_path / "portfolio"
    (root / "series").mkdir(parents=True)
    painting_crop(painting_files[0], 64).save(root / "a.png")
    painting_crop(painting_files[1], 72).save(root / "series" / "b.jpg", quality=92)
    (root / "series" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return root


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def test_protect_folder_report_preview_and_bad_file(portfolio, tmp_path, weights_dir):
    before = snapshot(portfolio)
    out, report = tmp_path / "out", tmp_path / "report.json"
    args = ["protect", str(portfolio), "--out", str(out), "--report", str(report), "--preview", "--weights-dir", str(weights_dir), *ARGS]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output  # one file failed
    assert "broken.png" in res.output and "1 failed" in res.output
    assert Image.open(out / "a.png").size == (64, 64)
    assert Image.open(out / "series" / "b.jpg").size == (72, 72)
    assert (out / "a.preview.png").exists()
    data = json.loads(report.read_text())
    done = [i for i in data["images"] if i["status"] == "done"]
    assert len(done) == 2
    for entry in done:
        for key in ("input", "output", "target_style", "target_progress", "perceptual_distance", "psnr_db", "seconds"):
            assert key in entry
        assert entry["target_style"] == "mosaic"
    assert snapshot(portfolio) == before

    # a second run skips what is done and still reports the bad file
    res = CliRunner().invoke(main, args)
    assert "2 already done" in res.output and res.exit_code == 1


def test_bad_option_is_one_line_error(tmp_path, portfolio, weights_dir):
    res = CliRunner().invoke(main, ["protect", str(portfolio), "--out", str(tmp_path / "o"), "--style", "nope", "--weights-dir", str(weights_dir)])
    assert res.exit_code == 1
    assert "Error: unknown target style 'nope'" in res.output


def test_every_command_has_help_with_examples():
    def walk(group: click.Group, prefix: list[str]):
        for name, cmd in group.commands.items():
            yield prefix + [name], cmd
            if isinstance(cmd, click.Group):
                yield from walk(cmd, prefix + [name])

    for path, cmd in walk(main, []):
        res = CliRunner().invoke(main, [*path, "--help"])
        assert res.exit_code == 0, path
        assert "Example" in res.output, f"{' '.join(path)} --help has no example"


def test_sigkill_mid_batch_then_resume_does_each_image_once(tmp_path, painting_files, weights_dir):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        painting_crop(painting_files[i], 64).save(src / f"p{i}.png")
    before = snapshot(src)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "stylecloak.cli", "protect", str(src), "--out", str(out), "--weights-dir", str(weights_dir), "--quality", "fast", "--steps", "12", "--style", "mosaic"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(out.glob("p*.png")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = sorted(p.name for p in out.glob("p*.png"))
    assert first and len(first) < 4, "the kill should land mid-batch"

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("already done, skipped") == len(first)
    journal = [json.loads(line) for line in (out / ".stylecloak" / "done.jsonl").read_text().splitlines()]
    assert sorted(Path(j["output"]).name for j in journal) == [f"p{i}.png" for i in range(4)]  # each exactly once
    assert not [p for p in out.rglob("*") if p.name.endswith((".tmp", ".part"))]
    for p in out.glob("p*.png"):
        Image.open(p).load()
    assert snapshot(src) == before
