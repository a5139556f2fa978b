"""The CLI end to end: protect with report and preview, bad files, resume after SIGKILL, help texts."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import click.testing
import pytest
from click.testing import CliRunner
from helpers import crops_folder, painting_crop, portfolio_folder, protect_command
from PIL import Image

import stylecloak
from stylecloak.api import Protector
from stylecloak.cli import main
from stylecloak.io import read_xmp, xmp_values

ARGS = ["--quality", "fast", "--steps", "3", "--style", "mosaic"]


@pytest.fixture()
def portfolio(tmp_path, art_files):
    return portfolio_folder(tmp_path / "portfolio", art_files, (64, 72))


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def test_protect_folder_report_preview_and_bad_file(portfolio, tmp_path, tiny_weights):
    before = snapshot(portfolio)
    out, report = tmp_path / "out", tmp_path / "report.json"
    args = ["protect", str(portfolio), "--out", str(out), "--report", str(report), "--preview", "--weights-dir", str(tiny_weights), *ARGS]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output  # one file failed
    assert "broken.png" in res.output and "1 failed" in res.output
    assert re.search(r"^about \d+ (s|min) for 2 images$", res.output, re.M), res.output  # estimated before starting; unreadable files left out
    assert Image.open(out / "a.png").size == (64, 64)
    assert Image.open(out / "series" / "b.jpg").size == (72, 72)
    assert (out / "previews" / "a.png.preview.png").exists() and not list(out.glob("*.preview.png"))
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


def test_bad_option_is_one_line_error(tmp_path, portfolio, tiny_weights):
    res = CliRunner().invoke(main, ["protect", str(portfolio), "--out", str(tmp_path / "o"), "--style", "nope", "--weights-dir", str(tiny_weights)])
    assert res.exit_code == 1
    assert "Error: unknown target style 'nope'" in res.output


def test_every_command_has_help_with_examples():
    def walk(group: click.Group, prefix: list[str]):
        for name, cmd in group.commands.items():
            yield prefix + [name], cmd
            if isinstance(cmd, click.Group):
                yield from walk(cmd, prefix + [name])

    for path, _ in walk(main, []):
        res = CliRunner().invoke(main, [*path, "--help"])
        assert res.exit_code == 0, path
        assert "Example" in res.output, f"{' '.join(path)} --help has no example"


@pytest.mark.weights
def test_sigkill_mid_batch_then_resume_does_each_image_once(tmp_path, art_files, weights_dir):
    src = crops_folder(tmp_path / "in", art_files, 4, 64)
    before = snapshot(src)
    out = tmp_path / "out"
    cmd = protect_command(src, out, weights_dir, 12)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = out / ".stylecloak" / "done.jsonl"
    deadline = time.time() + 300
    while not (done.exists() and done.read_text().strip()) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = [json.loads(line)["output"] for line in done.read_text().splitlines()]  # finished: written and journaled
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


# --------------------------------------------------------------------------- issue #13


def run_cli(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args))


def test_audit_finds_what_protect_did(tmp_path, art_files, tiny_weights):
    originals, protected = tmp_path / "originals", tmp_path / "protected"
    (originals / "sub").mkdir(parents=True)
    painting_crop(art_files[0], 48).save(originals / "a.png")
    painting_crop(art_files[1], 48).save(originals / "sub" / "b.bmp")
    profile = tmp_path / "artist.json"
    res = run_cli(
        "protect", str(originals), "--out", str(protected), "--profile", str(profile), "--quality", "fast", "--steps", "2", "--weights-dir", str(tiny_weights)
    )
    assert res.exit_code == 0, res.output
    style = json.loads(profile.read_text())["target_style"]

    assert xmp_values(read_xmp(protected / "a.png")) == {}  # the target is not named in the file without --record-settings
    journal = [json.loads(line) for line in (protected / ".stylecloak" / "done.jsonl").read_text().splitlines()]
    settings = journal[0]["settings"]
    assert len(settings) == 16
    assert {(j["path"], j["targetStyle"], j["method"], j["backbones"], j["settings"]) for j in journal} == {
        ("a.png", style, "glaze", "taef2", settings),
        ("sub/b.bmp", style, "glaze", "taef2", settings),
    }

    audit_args = ["--countermeasures", "none", "--transfer", "", "--weights-dir", str(tiny_weights)]
    res = run_cli("audit", str(originals), str(protected), *audit_args)  # exactly as a user chains the two
    assert res.exit_code == 0, res.output
    assert f"2 image(s), target {style}" in res.output
    res = run_cli("audit", str(originals / "sub" / "b.bmp"), str(protected / "sub" / "b.bmp"), *audit_args)
    assert res.exit_code == 0 and f"1 image(s), target {style}" in res.output
    other = tmp_path / "other.png"
    painting_crop(art_files[0], 48).save(other)
    res = run_cli("audit", str(originals / "a.png"), str(other), *audit_args)  # nothing recorded: the old advice
    assert res.exit_code == 1 and "pass --style NAME" in res.output


def test_output_folder_inside_the_input_is_never_walked(tmp_path, art_files, tiny_weights):
    nest = tmp_path / "nest"
    nest.mkdir()
    painting_crop(art_files[0], 40).save(nest / "small.png")
    args = ["protect", str(nest), "--out", str(nest / "protected"), "--weights-dir", str(tiny_weights), *ARGS]
    assert run_cli(*args).exit_code == 0
    again = run_cli(*args)
    assert again.exit_code == 0 and "0 protected, 1 already done, 0 failed" in again.output
    assert sorted(p.relative_to(nest).as_posix() for p in nest.rglob("*.png")) == ["protected/small.png", "small.png"]


def test_output_problems_are_found_before_any_work(tmp_path, art_files, tiny_weights, monkeypatch):
    painting_crop(art_files[0], 40).save(tmp_path / "a.png")
    calls: list = []
    monkeypatch.setattr(Protector, "protect", lambda *a, **k: calls.append(a) or pytest.fail("optimised anyway"))
    res = run_cli("protect", str(tmp_path / "a.png"), "--out", str(tmp_path), "--weights-dir", str(tiny_weights), *ARGS)
    assert res.exit_code == 2 and "would overwrite the input image" in res.output and not calls
    (tmp_path / "file").write_text("x")
    built: list = []
    monkeypatch.setattr(Protector, "__init__", lambda *a, **k: built.append(a) or pytest.fail("models loaded anyway"))
    res = run_cli("protect", str(tmp_path / "a.png"), "--out", str(tmp_path / "file" / "out"), *ARGS)
    assert res.exit_code == 1 and f"Error: {tmp_path / 'file'}: is a file, not a folder" in res.output and not built


def test_missing_input_and_unexpected_errors_do_not_stop_the_batch(tmp_path, art_files, tiny_weights, monkeypatch):
    for name in ("a.png", "b.png"):
        painting_crop(art_files[0], 40).save(tmp_path / name)
    real = Protector.protect

    def out_of_memory_once(self, image, *args, **kwargs):
        if image.path.name == "a.png":
            raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 123 bytes")
        return real(self, image, *args, **kwargs)

    monkeypatch.setattr(Protector, "protect", out_of_memory_once)
    missing = tmp_path / "missing.png"
    res = run_cli(
        "protect", str(missing), str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out", str(tmp_path / "out"), "--weights-dir", str(tiny_weights), *ARGS
    )
    assert res.exit_code == 1
    assert f"{missing}: file not found; check the path" in res.output and "Errno" not in res.output
    assert f"{tmp_path / 'a.png'}: not enough memory" in res.output
    assert "1 protected, 0 already done, 2 failed" in res.output and (tmp_path / "out" / "b.png").exists()


def test_animated_gif_warns_once(tmp_path, art_files, tiny_weights):
    frames = [painting_crop(art_files[0], 40).rotate(a) for a in (0, 90, 180)]
    frames[0].save(tmp_path / "loop.gif", save_all=True, append_images=frames[1:], duration=100)
    res = run_cli("protect", str(tmp_path / "loop.gif"), "--out", str(tmp_path / "out"), "--weights-dir", str(tiny_weights), *ARGS)
    assert res.exit_code == 0, res.output
    assert res.output.count("has 3 frames (animated or multi-page); only the first frame is protected and saved") == 1


def test_python_m_stylecloak_reports_the_package_version():
    res = subprocess.run([sys.executable, "-m", "stylecloak", "--version"], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert importlib.metadata.version("stylecloak") in res.stdout and stylecloak.__version__ == importlib.metadata.version("stylecloak")


def test_quiet_and_verbose(tmp_path, art_files, tiny_weights):
    painting_crop(art_files[0], 40).save(tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"no")
    base = ["protect", str(tmp_path / "a.png"), "--weights-dir", str(tiny_weights), "--quality", "fast", "--steps", "2"]
    quiet = run_cli("-q", *base, str(tmp_path / "bad.png"), "--out", str(tmp_path / "q"), "--style", "mosaic")
    assert quiet.exit_code == 1 and quiet.output.strip().splitlines() == [
        f"[2/2] failed {tmp_path / 'bad.png'}: not a PNG, JPEG, WebP, TIFF, BMP or GIF image, or corrupt; re-export it in one of these formats"
    ]
    verbose = run_cli("--verbose", *base, "--out", str(tmp_path / "v"), "--profile", str(tmp_path / "p.json"))
    assert verbose.exit_code == 0 and "chosen from 1 image(s)" in verbose.output
    normal = run_cli(*base, "--out", str(tmp_path / "n"), "--profile", str(tmp_path / "p2.json"))
    assert normal.exit_code == 0 and "chosen from" not in normal.output


def test_plot_without_matplotlib_fails_before_the_audit(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    res = run_cli("audit", str(tmp_path), str(tmp_path), "--style", "mosaic", "--plot", str(tmp_path / "p.png"))
    assert res.exit_code == 1 and "pip install 'stylecloak[plot]'" in res.output


def test_dependencies_follow_the_packaging_rules():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    extras = project["optional-dependencies"]
    assert "matplotlib" not in core and any(d.startswith("matplotlib") for d in extras["plot"])
    assert any(d.startswith("lpips") for d in extras["lpips"]) and "pillow>=11.1" in project["dependencies"]


def test_protect_writes_only_the_metadata_chosen(tmp_path, tiny_weights):
    """End to end: by default no GPS, free text or target in the outputs, the opt-out in; a JPEG whose XMP cannot fit
    is protected with a warning; every choice spelled out on the command line lands in the file."""
    from test_metadata import SECRET, artwork, big_xmp_jpeg

    originals = tmp_path / "originals"
    originals.mkdir()
    artwork(originals, "PNG", ".png")
    big_xmp_jpeg(originals)
    before = snapshot(originals)
    common = ["--quality", "fast", "--steps", "2", "--style", "mosaic", "--artist", "Ada", "--weights-dir", str(tiny_weights)]
    out, report = tmp_path / "out", tmp_path / "report.json"
    res = run_cli("protect", str(originals), "--out", str(out), "--report", str(report), *common)
    assert res.exit_code == 0, res.output
    with Image.open(out / "art.png") as im:
        assert not im.getexif().get_ifd(0x8825) and SECRET not in str(im.info) and im.info["Author"] == "Ada Painter"
    for name in ("art.png", "big.jpg"):
        packet = read_xmp(out / name) or b""
        assert b"DMI-PROHIBITED-GENAIMLTRAINING" in packet and b"mosaic" not in packet and b"Ada<" not in packet
    journal = [json.loads(line) for line in (out / ".stylecloak" / "done.jsonl").read_text().splitlines()]
    assert {j["targetStyle"] for j in journal} == {"mosaic"}  # recorded where audit finds it...
    assert json.loads(report.read_text())["provenance"]["targetStyle"] == "mosaic"  # ...and in the report

    out, report = tmp_path / "kept", tmp_path / "kept.json"
    chosen = ["--metadata", "keep", "--optout", "all", "--creator", "Ada Lovelace", "--rights", "© Ada", "--record-settings"]
    res = run_cli("protect", str(originals / "big.jpg"), "--out", str(out), "--report", str(report), *chosen, *common)
    assert res.exit_code == 0, res.output
    assert "big.jpg: its XMP metadata" in res.output and "too large for a JPEG" in res.output
    assert "too large for a JPEG" in json.loads(report.read_text())["images"][0]["warning"]
    packet = read_xmp(out / "big.jpg") or b""
    assert b"ldf/vocab/DMI-PROHIBITED<" in packet and b"Ada Lovelace" in packet and b"\xc2\xa9 Ada" in packet
    assert xmp_values(packet)["targetStyle"] == "mosaic"
    assert snapshot(originals) == before

    res = run_cli("protect", str(originals), "--out", str(tmp_path / "o3"), "--no-optout-metadata", "--optout", "ai", *common)
    assert res.exit_code == 1 and "--no-optout-metadata means --optout none" in res.output
