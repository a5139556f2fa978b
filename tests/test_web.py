"""The web app's API (FastAPI TestClient) and ``stylecloak serve``'s address checks (CliRunner)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'stylecloak[web]'")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")

from click.testing import CliRunner
from fastapi.testclient import TestClient

from stylecloak.cli import main
from stylecloak.targets import ArtistProfile, default_profile_path, save_profile
from stylecloak.web import create_app

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "models"
PAINTINGS = sorted((SHARED / "data" / "paintings").glob("*/*.jpg"))
BASE = "http://127.0.0.1"

pytestmark = pytest.mark.skipif(
    not (WEIGHTS / "taef2_encoder.pth").exists() or not PAINTINGS,
    reason=f"needs the shared weights and paintings in {SHARED}",
)


@pytest.fixture(scope="module")
def painting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small JPEG crop of a real painting (80×64 px)."""
    with Image.open(PAINTINGS[0]) as im:
        small = im.convert("RGB").resize((80, 64), Image.LANCZOS)
    path = tmp_path_factory.mktemp("in") / "painting.jpg"
    small.save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("profiles")


@pytest.fixture(scope="module")
def client(profiles: Path) -> Iterator[TestClient]:
    app = create_app(weights_dir=WEIGHTS, profile_dir=profiles, steps_override=3)
    with TestClient(app, base_url=BASE) as c:
        yield c


def upload(client: TestClient, path: Path, name: str | None = None, **fields: str):
    data = {"quality": "fast", "style": "cubist-facets", **fields}
    return client.post("/api/jobs", data=data, files=[("files", (name or path.name, path.read_bytes(), "image/jpeg"))])


def wait(client: TestClient, job_id: str, until: Callable[[dict], bool] = lambda s: s["status"] not in ("queued", "running"), timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/jobs/{job_id}").json()
        if until(status):
            return status
        assert time.monotonic() < deadline, f"job did not get there in {timeout} s: {status}"
        time.sleep(0.1)


def test_protect_download_and_delete(client: TestClient, painting: Path) -> None:
    response = upload(client, painting)
    assert response.status_code == 202, response.text
    status = wait(client, response.json()["id"])
    assert status["status"] == "done" and status["target_style"] == "cubist-facets"
    (item,) = status["items"]
    assert item["status"] == "done" and item["step"] == item["total"] == 3
    assert item["summary"]["width"] == 80 and "of the way toward 'cubist-facets'" in item["words"][0]["text"]

    download = client.get(item["urls"]["download"])
    assert download.status_code == 200
    assert 'filename="painting-protected.jpg"' in download.headers["content-disposition"]
    with Image.open(io.BytesIO(download.content)) as out, Image.open(painting) as original:
        assert out.format == "JPEG" and out.size == original.size
    for kind in ("before", "after", "preview"):
        view = client.get(item["urls"][kind])
        assert view.status_code == 200 and view.headers["content-type"] == "image/png"
    with zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content)) as archive:
        assert archive.namelist() == ["painting-protected.jpg"]

    folder = client.app.state.jobs._jobs[status["id"]].folder
    assert client.delete(f"/api/jobs/{status['id']}").status_code == 204
    assert not folder.exists()
    gone = client.get(f"/api/jobs/{status['id']}")
    assert gone.status_code == 404 and "error" in gone.json()


def test_auto_style_comes_from_the_artist_profile(client: TestClient, painting: Path, profiles: Path) -> None:
    save_profile(ArtistProfile(artist="tester", target_style="mosaic", backbone="taef2", seed=0), profiles / default_profile_path("tester").name)
    status = wait(client, upload(client, painting, style="auto", artist="tester").json()["id"])
    assert status["target_style"] == "mosaic" and status["items"][0]["status"] == "done"


def test_client_file_name_is_never_a_path(client: TestClient, painting: Path, tmp_path: Path) -> None:
    evil = "../../../../" + str(tmp_path / "pwned.jpg").lstrip("/")
    status = wait(client, upload(client, painting, name=evil).json()["id"])
    (item,) = status["items"]
    assert item["name"] == "pwned.jpg" and item["status"] == "done"
    assert not (tmp_path / "pwned.jpg").exists() and not (tmp_path / "pwned-protected.jpg").exists()
    root = client.app.state.jobs.root
    assert not [p for p in root.rglob("*") if "pwned" in p.name]
    download = client.get(item["urls"]["download"])
    assert 'filename="pwned-protected.jpg"' in download.headers["content-disposition"]
    windows = client.post("/api/jobs", data={"style": "mosaic"}, files=[("files", ("..\\..\\x.txt", b"no", "text/plain"))])
    assert windows.status_code == 400 and windows.json()["error"].startswith("x.txt: not a PNG")


def test_non_image_is_refused(client: TestClient) -> None:
    before = set(client.app.state.jobs.root.iterdir())
    response = client.post("/api/jobs", data={"style": "mosaic"}, files=[("files", ("notes.png", b"just some text", "image/png"))])
    assert response.status_code == 400
    assert response.json()["error"].startswith("notes.png: not a PNG, JPEG, WebP, TIFF, BMP or GIF image")
    assert set(client.app.state.jobs.root.iterdir()) == before  # nothing left behind


@pytest.mark.parametrize(
    ("data", "message"),
    [({"intensity": "extreme"}, "unknown intensity"), ({"style": "nope"}, "unknown target style"), ({"artist": "x" * 65}, "artist name")],
)
def test_bad_options_are_refused(client: TestClient, painting: Path, data: dict, message: str) -> None:
    response = upload(client, painting, **data)
    assert response.status_code == 400 and message in response.json()["error"]


def test_no_files_and_foreign_host_are_refused(client: TestClient) -> None:
    assert client.post("/api/jobs", data={"style": "mosaic"}).json() == {"error": "Choose at least one image."}
    response = TestClient(client.app).get("/api/options")  # Host: testserver, like a DNS-rebinding page
    assert response.status_code == 400 and "Host" in response.json()["error"]


def test_size_and_pixel_limits(painting: Path) -> None:
    app = create_app(weights_dir=WEIGHTS, max_upload_mb=0.001, max_pixels=1000, max_files=2)
    with TestClient(app, base_url=BASE) as client:
        big = upload(client, painting)
        assert big.status_code == 413
        assert big.json()["error"].startswith("painting.jpg is ") and "KB; the limit is 0.001 MB per image" in big.json()["error"]
        huge = client.post("/api/jobs", content=b"x" * (3 * 1024 * 1024), headers={"content-type": "multipart/form-data; boundary=b"})
        assert huge.status_code == 413 and "in total" in huge.json()["error"]
    app = create_app(weights_dir=WEIGHTS, max_pixels=1000)
    with TestClient(app, base_url=BASE) as client:
        response = upload(client, painting)
        assert response.status_code == 400 and "exceeds the limit of 1,000 pixels" in response.json()["error"]


def test_queue_position_cancel_and_shutdown(painting: Path) -> None:
    app = create_app(weights_dir=WEIGHTS, steps_override=500)
    jobs = app.state.jobs
    with TestClient(app, base_url=BASE) as client:
        first = upload(client, painting).json()["id"]
        second = upload(client, painting).json()
        assert second["status"] == "queued" and second["ahead"] == 1
        cancelled = client.post(f"/api/jobs/{second['id']}/cancel").json()
        assert cancelled["status"] == "cancelled" and cancelled["items"][0]["status"] == "cancelled"

        wait(client, first, lambda s: s["items"][0]["step"] >= 1)
        assert client.post(f"/api/jobs/{first}/cancel").status_code == 200
        status = wait(client, first, timeout=15)
        assert status["status"] == "cancelled" and status["items"][0]["status"] == "cancelled"
        assert status["items"][0]["step"] < 500 and status["zip_url"] is None
        assert client.post("/api/jobs/unknown/cancel").status_code == 404
    assert not jobs.root.exists()  # shutdown removed every job's files


def test_finished_jobs_expire(client: TestClient, painting: Path) -> None:
    status = wait(client, upload(client, painting).json()["id"])
    jobs = client.app.state.jobs
    folder = jobs._jobs[status["id"]].folder
    jobs.ttl = 0
    try:
        jobs.sweep()
    finally:
        jobs.ttl = 3600
    assert not folder.exists() and client.get(f"/api/jobs/{status['id']}").status_code == 404


def test_serve_refuses_remote_host_without_allow_remote() -> None:
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--weights-dir", str(WEIGHTS)])
    assert result.exit_code == 1
    first = result.output.strip().splitlines()[0]
    assert first.startswith("Error: --host 0.0.0.0 is not a loopback address") and "--allow-remote" in first


def test_serve_port_zero_prints_the_real_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    bound: list[tuple] = []

    def fake_run(self: uvicorn.Server, sockets: list) -> None:
        bound.append(sockets[0].getsockname())
        sockets[0].close()
        self.config.app.state.jobs.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    local = CliRunner().invoke(main, ["serve", "--port", "0", "--weights-dir", str(WEIGHTS)])
    assert local.exit_code == 0, local.output
    host, port = bound[0][:2]
    assert host == "127.0.0.1" and port > 0 and f"http://127.0.0.1:{port}/" in local.output
    remote = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote", "--weights-dir", str(WEIGHTS)])
    assert remote.exit_code == 0 and "Warning: listening on 0.0.0.0" in remote.output
    assert f"http://0.0.0.0:{bound[1][1]}/" in remote.output
