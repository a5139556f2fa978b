"""The web app for an artist, without model weights: the worker is stubbed, so no image is protected.

Mixed batches (a bad file is marked, the rest run), the job list behind a page reload, the protection gauge
decided by what survives a re-upload, time estimates, the app's modules staying small and untangled, and
``stylecloak serve --open`` / ``stylecloak`` alone.
"""

from __future__ import annotations

import ast
import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from click.testing import CliRunner
from fastapi.testclient import TestClient

import stylecloak.cli as cli_module
from stylecloak.cli import main
from stylecloak.cli import serve as serve_module
from stylecloak.verdict import AFTER_REUPLOAD, MODERATE, STRONG, protection_verdict
from stylecloak.web import create_app
from stylecloak.web import jobs as jobs_module
from stylecloak.web.jobs import JobQueue
from stylecloak.web.records import Item, Job
from stylecloak.web.timing import Pace, work_megapixels

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "src" / "stylecloak" / "web"
BASE = "http://127.0.0.1"
SUMMARY = {
    "method": "glaze",
    "target_style": "mosaic",
    "target_progress": 0.62,
    "worst_size": 64,
    "target_progress_by_size": {"64": 0.62},
    "perceptual_distance": 0.2,
    "perceptual": "efficientnet",
    "budget": 0.3,
    "psnr_db": 36.0,
    "seconds": 1.0,
    "width": 64,
    "height": 48,
    "warnings": [],
}


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def protected(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The worker "protects" each image the upload accepted by copying it, with the summary in the returned dict."""
    summary = dict(SUMMARY)

    def copy(queue: JobQueue, job: Job) -> None:
        for item in job.items:
            if item.status == "queued":
                out = job.folder / f"{item.id}.png"
                shutil.copyfile(item.input, out)
                queue.update(item, status="done", files={"download": out}, summary=dict(summary))

    monkeypatch.setattr(jobs_module, "run_job", copy)
    return summary


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(weights_dir=tmp_path / "no-weights", work_dir=tmp_path / "work")
    with TestClient(app, base_url=BASE, headers={"X-Stylecloak-Token": app.state.token}) as c:
        yield c


def finished(client: TestClient, job_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while (status := client.get(f"/api/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.02)
    return status


def post(client: TestClient, *files: tuple[str, bytes]):
    return client.post("/api/jobs", data={"style": "mosaic"}, files=[("files", (name, data, "image/png")) for name, data in files])


# --------------------------------------------------------------------------- batches and the job list


def test_a_bad_file_is_marked_and_skipped_while_the_rest_run(client: TestClient, protected: dict) -> None:
    response = post(client, ("sketch.png", png()), ("notes.png", b"just some text"), ("cut.png", png()[:60]))
    assert response.status_code == 202, response.text
    status = finished(client, response.json()["id"])
    good, text, cut = status["items"]
    assert good["status"] == "done" and "download" in good["urls"] and (good["width"], good["height"]) == (64, 48)
    assert text["status"] == "failed" and text["error"].startswith("notes.png: not a PNG")
    assert cut["status"] == "failed" and cut["error"].startswith("cut.png: cannot be decoded")
    assert str(client.app.state.jobs.root) not in text["error"] + cut["error"]
    assert client.get(status["zip_url"]).status_code == 200


def test_an_upload_with_no_usable_image_names_each_file(client: TestClient, protected: dict) -> None:
    before = set(client.app.state.jobs.root.iterdir())
    response = post(client, ("a.png", b"not an image"), ("b.png", b"nor this"))
    message = response.json()["error"]
    assert response.status_code == 400 and message.startswith("None of the 2 images can be used")
    assert "a.png: not a PNG" in message and "b.png: not a PNG" in message and "\n" not in message
    assert set(client.app.state.jobs.root.iterdir()) == before


def test_jobs_are_listed_by_the_ids_a_page_kept(client: TestClient, protected: dict) -> None:
    first, second = (post(client, (f"{n}.png", png())).json()["id"] for n in "ab")
    finished(client, second)
    listed = client.get(f"/api/jobs?ids={second},gone-long-ago,{first}").json()["jobs"]
    assert [job["id"] for job in listed] == [second, first]  # in the page's order; unknown ids left out
    assert listed[0]["items"][0]["name"] == "b.png" and listed[0]["items"][0]["gauge"]["word"] == "strong"
    assert client.delete(f"/api/jobs/{first}").status_code == 204
    assert [job["id"] for job in client.get(f"/api/jobs?ids={first},{second}").json()["jobs"]] == [second]


# --------------------------------------------------------------------------- the gauge


@pytest.mark.parametrize(
    ("tp", "after", "word", "percent"),
    [
        (0.62, {}, "strong", 62),
        (0.62, {"jpeg75": 0.3, "downscale_half": 0.4}, "moderate", 30),
        (0.49, {"jpeg75": 0.23, "downscale_half": 0.18}, "weak", 18),
        (0.7, {"jpeg75": 0.6, "repost_1080": 0.1}, "weak", 10),
        (0.3, {"jpeg75": -0.2}, "weak", 0),
        (STRONG, {"jpeg75": STRONG}, "strong", 50),
        (MODERATE, {}, "moderate", 25),
    ],
)
def test_the_verdict_is_the_worst_number_after_a_reupload(tp: float, after: dict, word: str, percent: int) -> None:
    assert protection_verdict({"target_progress": tp, AFTER_REUPLOAD: after}) == (word, percent)


def test_the_page_shows_the_verdict_and_keeps_jargon_in_details(client: TestClient, protected: dict) -> None:
    protected.update({"target_progress": 0.62, AFTER_REUPLOAD: {"jpeg75": 0.31, "downscale_half": 0.19}})
    (item,) = finished(client, post(client, ("a.png", png())).json()["id"])["items"]
    assert (item["gauge"]["word"], item["gauge"]["percent"]) == ("weak", 19)
    assert item["gauge"]["text"].startswith("Protection weak: 19\u00a0%") and "re-upload" in item["gauge"]["text"]
    plain = " ".join(w["text"] for w in item["words"])
    assert not any(jargon in plain for jargon in ("PSNR", "perceptual", "budget", "TP"))
    technical = {w["label"]: w["text"] for w in item["details"]}
    assert "36.0 dB" in technical["PSNR"] and "budget of 0.30" in technical["Perceptual distance"]
    assert "after JPEG at quality 75 31" in technical["After a re-upload"]


def test_intensity_presets_are_named_for_how_they_look(client: TestClient) -> None:
    intensities = client.get("/api/options").json()["intensities"]
    assert [i["name"] for i in intensities] == ["low", "default", "high"]  # the values stay the presets' names
    assert [i["label"].split(" (")[0] for i in intensities] == ["Barely visible", "Subtle", "Visible up close"]


def test_the_page_opens_with_the_artists_steps_not_a_terminal() -> None:
    page = (WEB / "static" / "index.html").read_text()
    assert "Drop your images" in page and "Choose" in page and "Protect" in page
    assert "terminal" not in page and "stylecloak demo" not in page


# --------------------------------------------------------------------------- time


def test_pace_gives_time_left_and_estimates_only_once_measured() -> None:
    pace = Pace(work_size=1000)
    assert work_megapixels(2000, 1000, 1000) == pytest.approx(0.5) and work_megapixels(100, 100, 1000) == pytest.approx(0.01)
    assert pace.seconds([(1000, 1000)], 20) is None
    running = Item("r", "r.png", Path("r"), 1000, 1000, "running", step=5, total=20, started=100.0)
    waiting = Item("w", "w.png", Path("w"), 2000, 1000, "queued")
    job = Job("j", Path("j"), None, [running, waiting])  # type: ignore[arg-type]
    assert pace.left(job, 20, now=110.0) == pytest.approx(15 * 2.0 + 20 * 0.5 * 2.0)  # its own 2 s per step and MP so far
    running.step = 20
    pace.add(running, now=140.0)
    assert pace.rate == pytest.approx(2.0) and pace.seconds([(1000, 1000), (2000, 1000)], 10) == pytest.approx(30.0)


def test_worker_survives_a_failed_speed_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("models could not load")

    monkeypatch.setattr(JobQueue, "protector", broken)
    queue = JobQueue(work_dir=tmp_path / "work")
    try:
        time.sleep(0.2)
        assert queue._thread.is_alive() and queue.pace.rate is None
    finally:
        queue.close()


def test_estimate_before_starting(client: TestClient) -> None:
    query = "/api/estimate?sizes=1000x1000,500x400&quality=fast"
    client.app.state.jobs.pace._rate = 1.0  # as if measured: it comes before the speed probe's
    steps = client.app.state.jobs.preset_steps(jobs_module.JobOptions(quality="fast"))
    assert client.get(query).json()["seconds"] == pytest.approx(steps * (1.0 + 0.2), abs=0.1)
    assert client.get("/api/estimate?sizes=big").status_code == 400
    assert client.get("/api/estimate?sizes=10x10&quality=instant").status_code == 400


# --------------------------------------------------------------------------- structure


def test_web_modules_are_small_and_untangled() -> None:
    for path in sorted(WEB.glob("*.py")):
        source = path.read_text()
        assert len(source.splitlines()) <= 400, path.name
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno + 1 <= 60, f"{path.name}: {node.name}"
        imported = {(n.level, n.module) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert (2, "engines") not in imported, f"{path.name} imports the Ray engine module"
    execute = {(n.level, n.module) for n in ast.walk(ast.parse((WEB / "execute.py").read_text())) if isinstance(n, ast.ImportFrom)}
    assert (1, "jobs") not in execute  # the queue imports what runs a job, never the other way round


def test_the_web_app_is_in_the_core_install() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    assert "fastapi" in core and "uvicorn" in core and "python-multipart>=0.0.34" in core
    assert project["optional-dependencies"]["web"] == []  # `pip install 'stylecloak[web]'` still works


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple[str, bool]]:
    """uvicorn starts after a moment and stops once the browser was opened (or after a second); the calls to open a
    browser are recorded with whether the server had started by then."""
    opened: list[tuple[str, bool]] = []
    done = threading.Event()
    state: dict = {}

    def fake_run(self: uvicorn.Server, sockets: list) -> None:
        state["server"] = self
        time.sleep(0.2)
        self.started = True
        done.wait(1.0)
        sockets[0].close()
        self.should_exit = True
        self.config.app.state.jobs.close()

    def fake_open(url: str) -> bool:
        opened.append((url, state["server"].started))
        done.set()
        return True

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setattr(serve_module.webbrowser, "open", fake_open)
    monkeypatch.setattr(JobQueue, "protector", lambda self, *a: None)
    monkeypatch.setattr("stylecloak.web.folders.user_cache_dir", lambda name: str(tmp_path / name))
    return opened


def test_serve_open_opens_the_browser_once_listening(fake_server: list) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", "--open"])
    assert result.exit_code == 0, result.output
    (url, listening), printed = fake_server[0], result.output.split("running at ")[1].split()[0]
    assert url == printed and url.startswith("http://127.0.0.1:") and listening
    assert len(fake_server) == 1


def test_serve_without_open_leaves_the_browser_alone(fake_server: list) -> None:
    assert CliRunner().invoke(main, ["serve", "--port", "0"]).exit_code == 0
    assert fake_server == []


@pytest.mark.parametrize("at_terminal", [True, False])
def test_stylecloak_alone_says_how_to_start_the_app(at_terminal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "interactive", lambda: at_terminal)
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 0 and "Usage:" in result.output and "Commands:" in result.output
    assert ("run:  stylecloak serve --open" in result.output) == at_terminal


def test_summaries_reach_the_page_as_json_even_with_inf_deep_inside():
    from stylecloak.web.execute import finite

    cleaned = finite({"psnr_db": float("inf"), "visibility": {"psnr_db": float("inf"), "vif": 1.0}, "rows": [float("nan"), 0.5]})
    assert cleaned == {"psnr_db": None, "visibility": {"psnr_db": None, "vif": 1.0}, "rows": [None, 0.5]}
    json.dumps(cleaned, allow_nan=False)
