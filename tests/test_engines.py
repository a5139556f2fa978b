"""Engines and devices: --device dispatch, the Ray engine's bytes equal the local engine's, resume after a killed
driver, a killed worker's image retried, bad files reported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from helpers import crops_folder, install_tiny_backbones, portfolio_folder, protect_command

from stylecloak import ProtectSettings
from stylecloak.cli import main
from stylecloak.engines import ProtectorSpec, RayEngine
from stylecloak.runner import LocalEngine, Task

ray = pytest.importorskip("ray")

FAST = ["--quality", "fast", "--steps", "3", "--style", "mosaic"]


@pytest.fixture()
def art(tmp_path, art_files):
    return portfolio_folder(tmp_path / "art", art_files, (48, 40, 48))


@pytest.fixture()
def local_ray(tiny_weights, monkeypatch):
    """A local Ray cluster whose workers, like this process, find tiny backbones in ``tiny_weights``."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))  # the workers import the tests' helpers

    def install() -> None:
        install_tiny_backbones(tiny_weights)

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"worker_process_setup_hook": install})
    yield
    ray.shutdown()


def images(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".stylecloak" not in p.parts}


def test_ray_engine_gives_the_local_engines_bytes_and_reports_bad_files(art, tmp_path, tiny_weights, local_ray):
    outputs = {}
    for engine in (["--engine", "local"], ["--engine", "ray", "--workers", "2"]):
        out = tmp_path / engine[1]
        res = CliRunner().invoke(main, ["protect", str(art), "--out", str(out), "--weights-dir", str(tiny_weights), *FAST, *engine])
        assert res.exit_code == 1, res.output  # the broken file
        assert "broken.png" in res.output and "3 protected, 0 already done, 1 failed" in res.output
        outputs[engine[1]] = images(out)
    assert sorted(outputs["ray"]) == ["a.png", "c.png", "series/b.jpg"]
    assert outputs["ray"] == outputs["local"]

    # the driver's journal lets a rerun skip everything, on either engine
    res = CliRunner().invoke(
        main, ["protect", str(art), "--out", str(tmp_path / "ray"), "--weights-dir", str(tiny_weights), *FAST, "--engine", "ray", "--workers", "2"]
    )
    assert "0 protected, 3 already done, 1 failed" in res.output and res.exit_code == 1


def test_a_worker_killed_mid_image_is_restarted_and_the_image_retried(art, tmp_path, tiny_weights, local_ray):
    spec = ProtectorSpec(ProtectSettings(quality="fast", target_style="mosaic", overrides={"steps": 12}), tiny_weights)
    task = Task(0, art / "a.png", tmp_path / "ray" / "a.png")
    expected = next(LocalEngine(spec.build()).run([Task(0, task.input, tmp_path / "local" / "a.png")], on_start=lambda t: None))
    killed = []

    def kill_when_busy(pid: int) -> None:  # SIGKILL the worker once its title says it is cloaking
        cmdline = Path(f"/proc/{pid}/cmdline")
        deadline = time.time() + 120
        while time.time() < deadline:
            if b"protect" in cmdline.read_bytes():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    with RayEngine(spec, workers=1) as engine:
        pid = ray.get(engine.actors[0].__ray_call__.remote(lambda worker: os.getpid()))
        killer = threading.Thread(target=kill_when_busy, args=(pid,))
        killer.start()
        [outcome] = engine.run([task], on_start=lambda t: None)
        killer.join()
        assert killed, "the worker was never seen cloaking"
        assert ray.get(engine.actors[0].__ray_call__.remote(lambda worker: os.getpid())) != pid  # restarted
    assert outcome.error is None and outcome.output == task.output
    assert task.output.read_bytes() == expected.output.read_bytes()


@pytest.mark.weights
def test_killed_ray_driver_resumes_without_redoing_finished_images(tmp_path, art_files, weights_dir):
    src = crops_folder(tmp_path / "in", art_files, 4, 40)
    out = tmp_path / "out"
    journal = out / ".stylecloak" / "done.jsonl"
    cmd = protect_command(src, out, weights_dir, 8, "--engine", "ray", "--workers", "2")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not (journal.exists() and journal.read_text().strip()) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.kill()
        proc.wait()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # Ray's own helpers, orphaned by the driver's death
    first = [json.loads(line)["output"] for line in journal.read_text().splitlines()]
    assert first and len(first) < 4, "the kill should land mid-batch"

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr
    assert f"{4 - len(first)} protected, {len(first)} already done, 0 failed" in res.stderr
    entries = [json.loads(line)["output"] for line in journal.read_text().splitlines()]
    assert sorted(Path(e).name for e in entries) == [f"p{i}.png" for i in range(4)]  # each exactly once
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_device_option_reaches_the_models(art, tmp_path, tiny_weights, monkeypatch):
    import stylecloak.cli.protect as cli_protect

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    seen = []

    class Recording(cli_protect.Protector):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append(self.device)

    monkeypatch.setattr(cli_protect, "Protector", Recording)
    for device in ("cpu", "auto"):
        res = CliRunner().invoke(
            main,
            ["protect", str(art / "a.png"), "--out", str(tmp_path / device), "--weights-dir", str(tiny_weights), *FAST, "--steps", "1", "--device", device],
        )
        assert res.exit_code == 0, res.output
    assert seen == [torch.device("cpu")] * 2


@pytest.mark.parametrize("command", [["protect", "x.png", "--out", "o"], ["serve", "--port", "0"]])
def test_absent_cuda_is_a_one_line_error(command, tmp_path, tiny_weights, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, [*command, "--weights-dir", str(tiny_weights), "--device", "cuda"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --device cuda: no CUDA GPU") and "--device cpu" in lines[0], res.output


def test_ray_options_need_the_ray_engine(tmp_path):
    res = CliRunner().invoke(main, ["protect", "x.png", "--out", str(tmp_path / "o"), "--workers", "2"])
    assert res.exit_code == 1 and "add --engine ray" in res.output
