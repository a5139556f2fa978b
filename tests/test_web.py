"""The web app's API (FastAPI TestClient) and ``stylecloak serve``'s address checks (CliRunner)."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import sys
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'stylecloak[web]'")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")

import httpx
from click.testing import CliRunner
from fastapi.testclient import TestClient
from helpers import fake_module

from stylecloak.cli import main
from stylecloak.errors import ImageError
from stylecloak.io import read_xmp, xmp_values
from stylecloak.protectability import Assessment
from stylecloak.sample import paint_sample
from stylecloak.styles import ArtistProfile, default_profile_path, save_profile
from stylecloak.verdict import protection_verdict
from stylecloak.web import create_app
from stylecloak.web.folders import portable_name
from stylecloak.web.jobs import JobQueue

MB = 1024 * 1024

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def painting(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small JPEG of a synthetic painting (80×64 px)."""
    small = paint_sample(256).resize((80, 64), Image.LANCZOS)
    path = tmp_path_factory.mktemp("in") / "painting.jpg"
    small.save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("profiles")


@pytest.fixture(scope="module")
def client(tiny_weights: Path, profiles: Path) -> Iterator[TestClient]:
    app = create_app(weights_dir=tiny_weights, profile_dir=profiles, steps_override=3)
    with own_client(app) as c:
        yield c


def own_client(app) -> TestClient:
    """A client that, like the app's own page, sends the server's token."""
    return TestClient(app, base_url=BASE, headers={"X-Stylecloak-Token": app.state.token})


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


def test_estimate_exists_before_any_image_finished(tiny_weights: Path, profiles: Path) -> None:
    """The worker's speed probe gives the page an estimate before the server has protected anything."""
    app = create_app(weights_dir=tiny_weights, profile_dir=profiles)
    with own_client(app) as c:
        deadline = time.monotonic() + 60
        while (seconds := c.get("/api/estimate?sizes=1024x1024&quality=fast").json()["seconds"]) is None:
            assert time.monotonic() < deadline, "no estimate from the speed probe"
            time.sleep(0.1)
        assert seconds > 0 and app.state.jobs.pace._rate is None  # from the probe: no image has finished
        assert c.get("/api/estimate?sizes=512x512,512x512,512x512,512x512&quality=fast").json()["seconds"] == seconds  # the same pixels


def test_protect_download_and_delete(client: TestClient, painting: Path) -> None:
    response = upload(client, painting)
    assert response.status_code == 202, response.text
    status = wait(client, response.json()["id"])
    assert status["status"] == "done" and status["target_style"] == "cubist-facets"
    (item,) = status["items"]
    assert item["status"] == "done" and item["step"] == item["total"] == 3
    assert item["summary"]["width"] == 80 and "of the way toward 'cubist-facets'" in item["details"][0]["text"]
    assert set(item["summary"]["after_reupload"]) >= {"jpeg75", "downscale_half"}  # checked after protecting
    assert (item["gauge"]["word"], item["gauge"]["percent"]) == protection_verdict(item["summary"])
    pilot = client.app.state.jobs.protector("default", "fast", "glaze").estimate(painting, "cubist-facets").pilot
    assert item["expected"] == pytest.approx(Assessment(0.0, pilot, side=80).expected(), abs=1e-6)  # the trial ran before protecting

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


def test_advanced_method_is_offered_used_and_named(client: TestClient, painting: Path, tmp_path: Path) -> None:
    assert [m["name"] for m in client.get("/api/options").json()["methods"]] == ["glaze", "mist", "photoguard"]
    assert '<details id="advanced">' in client.get("/").text
    status = wait(client, upload(client, painting, method="mist", style="auto").json()["id"])  # no profile needed
    (item,) = status["items"]
    assert status["target_style"] == "mist-pattern" and status["options"]["method"] == "mist" and item["status"] == "done"
    assert item["summary"]["method"] == "mist" and "toward 'mist-pattern' (method mist)" in item["details"][0]["text"]
    assert item["expected"] is None  # the trial is calibrated for glaze only
    (tmp_path / "out.jpg").write_bytes(client.get(item["urls"]["download"]).content)
    assert xmp_values(read_xmp(tmp_path / "out.jpg")) == {}  # the file does not name its target


def test_advanced_metadata_and_optout_are_offered_and_used(client: TestClient, painting: Path, tmp_path: Path) -> None:
    options = client.get("/api/options").json()
    assert [m["name"] for m in options["metadata"]] == ["keep", "minimal", "strip"]
    assert [o["name"] for o in options["optouts"]] == ["genai", "ai", "all", "none"]
    status = wait(client, upload(client, painting, metadata="strip", optout="ai").json()["id"])
    (item,) = status["items"]
    assert item["status"] == "done" and (status["options"]["metadata"], status["options"]["optout"]) == ("strip", "ai")
    (tmp_path / "out.jpg").write_bytes(client.get(item["urls"]["download"]).content)
    packet = read_xmp(tmp_path / "out.jpg") or b""
    assert b"http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING" in packet and b"<tdm:reservation>1</tdm:reservation>" in packet


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
    [
        ({"intensity": "extreme"}, "unknown intensity"),
        ({"style": "nope"}, "unknown target style"),
        ({"artist": "x" * 65}, "artist name"),
        ({"method": "nightshade"}, "unknown method"),
        ({"metadata": "everything"}, "unknown metadata mode"),
        ({"optout": "yes"}, "unknown opt-out"),
    ],
)
def test_bad_options_are_refused(client: TestClient, painting: Path, data: dict, message: str) -> None:
    response = upload(client, painting, **data)
    assert response.status_code == 400 and message in response.json()["error"]


def test_no_files_and_foreign_host_are_refused(client: TestClient) -> None:
    assert client.post("/api/jobs", data={"style": "mosaic"}).json() == {"error": "Choose at least one image."}
    response = TestClient(client.app).get("/api/options")  # Host: testserver, like a DNS-rebinding page
    assert response.status_code == 400 and "Host" in response.json()["error"]


def test_size_and_pixel_limits(tiny_weights: Path, painting: Path) -> None:
    app = create_app(weights_dir=tiny_weights, max_upload_mb=0.001, max_pixels=1000, max_files=2)
    with own_client(app) as client:
        big = upload(client, painting)
        assert big.status_code == 413
        assert big.json()["error"] == "painting.jpg is larger than 1.0 KB, the limit per image."
        huge = client.post("/api/jobs", content=b"x" * (3 * 1024 * 1024), headers={"content-type": "multipart/form-data; boundary=b"})
        assert huge.status_code == 413 and "in total" in huge.json()["error"]
    app = create_app(weights_dir=tiny_weights, max_pixels=1000)
    with own_client(app) as client:
        response = upload(client, painting)
        assert response.status_code == 400 and "exceeds the limit of 1,000 pixels" in response.json()["error"]


def test_queue_position_cancel_and_shutdown(tiny_weights: Path, painting: Path) -> None:
    app = create_app(weights_dir=tiny_weights, steps_override=500)
    jobs = app.state.jobs
    with own_client(app) as client:
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


def test_serve_refuses_remote_host_without_allow_remote(tiny_weights: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--weights-dir", str(tiny_weights)])
    assert result.exit_code == 1
    first = result.output.strip().splitlines()[0]
    assert first.startswith("Error: --host 0.0.0.0 is not a loopback address") and "--allow-remote" in first


def test_serve_port_zero_prints_the_real_url(tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    bound: list[tuple] = []

    def fake_run(self: uvicorn.Server, sockets: list) -> None:
        bound.append(sockets[0].getsockname())
        sockets[0].close()
        self.config.app.state.jobs.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    local = CliRunner().invoke(main, ["serve", "--port", "0", "--weights-dir", str(tiny_weights)])
    assert local.exit_code == 0, local.output
    host, port = bound[0][:2]
    assert host == "127.0.0.1" and port > 0 and f"http://127.0.0.1:{port}/" in local.output
    remote = CliRunner().invoke(
        main, ["serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote", "--allowed-host", "studio.local", "--weights-dir", str(tiny_weights)]
    )
    assert remote.exit_code == 0 and "Warning: listening on 0.0.0.0" in remote.output
    assert f"http://studio.local:{bound[1][1]}/?token=" in remote.output


# --------------------------------------------------------------------------- hardening


def test_cross_site_requests_are_refused(client: TestClient, painting: Path, profiles: Path) -> None:
    jobs = client.app.state.jobs
    before = set(jobs._jobs)
    files = [("files", ("p.jpg", painting.read_bytes(), "image/jpeg"))]
    data = {"quality": "fast", "style": "auto", "artist": "victim-of-csrf"}
    for headers in (
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-site"},  # another port on this machine
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        response = client.post("/api/jobs", data=data, files=files, headers=headers)
        assert response.status_code == 403 and "Cross-site request refused" in response.json()["error"], headers
    no_token = TestClient(client.app, base_url=BASE).post("/api/jobs", data=data, files=files)
    assert no_token.status_code == 403 and "X-Stylecloak-Token" in no_token.json()["error"]
    assert set(jobs._jobs) == before and not (profiles / default_profile_path("victim-of-csrf").name).exists()

    job = upload(client, painting).json()["id"]
    evil = client.post(f"/api/jobs/{job}/cancel", headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert client.delete(f"/api/jobs/{job}", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    own = client.post(f"/api/jobs/{job}/cancel", headers={"Origin": BASE, "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 200
    page = client.get("/")
    assert f'<meta name="stylecloak-token" content="{client.app.state.token}">' in page.text


def test_uploads_are_decoded_only_by_the_worker(client: TestClient, painting: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stylecloak.io import read as io_read

    decoded_in: list[str] = []
    real = io_read._pixels

    def spy(im):
        decoded_in.append(threading.current_thread().name)
        return real(im)

    monkeypatch.setattr(io_read, "_pixels", spy)
    status = wait(client, upload(client, painting).json()["id"])
    assert status["items"][0]["status"] == "done"
    assert decoded_in and set(decoded_in) == {"stylecloak-worker"}  # the request thread only checked the file


def test_header_checks_run_two_at_a_time(tiny_weights: Path, painting: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stylecloak.web.intake as web_app

    running, peak, lock = 0, 0, threading.Lock()
    real = web_app.verify_image

    def slow_probe(path, **kw):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        raise ImageError("stop here")  # nothing is queued

    monkeypatch.setattr(web_app, "verify_image", slow_probe)
    app = create_app(weights_dir=tiny_weights, max_uploads=6)
    codes = parallel_uploads(app, painting, 6)
    assert codes == [400] * 6 and peak == 2 and real is not slow_probe


def test_queue_limit_holds_under_parallel_uploads(tiny_weights: Path, painting: Path) -> None:
    app = create_app(weights_dir=tiny_weights, steps_override=5000, max_queued=3, max_uploads=12)
    codes = parallel_uploads(app, painting, 12)
    accepted = codes.count(202)
    assert 3 <= accepted <= 3 + 1  # the worker may have taken one job off the queue meanwhile
    assert codes.count(503) == 12 - accepted


def test_cancelled_jobs_free_their_files_at_once(tiny_weights: Path, painting: Path) -> None:
    app = create_app(weights_dir=tiny_weights, steps_override=5000)
    jobs = app.state.jobs
    with own_client(app) as client:
        running = upload(client, painting).json()["id"]
        for _ in range(5):  # a submit-cancel loop must not grow the disk
            job = upload(client, painting).json()["id"]
            folder = jobs._jobs[job].folder
            assert client.post(f"/api/jobs/{job}/cancel").json()["status"] == "cancelled"
            assert not folder.exists()
        client.post(f"/api/jobs/{running}/cancel")
        wait(client, running, timeout=30)
        assert not jobs._jobs[running].folder.exists()
        assert [p.name for p in jobs.root.iterdir()] == [".lock"]


def test_finished_jobs_are_capped_in_number_and_bytes(tiny_weights: Path, painting: Path) -> None:
    app = create_app(weights_dir=tiny_weights, steps_override=2, max_queued=1, max_jobs=2)
    jobs = app.state.jobs
    with own_client(app) as client:
        ids = [wait(client, upload(client, painting).json()["id"])["id"] for _ in range(3)]
        assert client.get(f"/api/jobs/{ids[0]}").status_code == 404  # the oldest finished job made room
        assert all(client.get(f"/api/jobs/{i}").status_code == 200 for i in ids[1:])
        done = next(iter(jobs._jobs.values())).folder
        jobs.storage.max_bytes = sum(p.stat().st_size for p in done.iterdir())  # room for about one finished job
        last = wait(client, upload(client, painting).json()["id"])["id"]
        assert [i for i in ids if client.get(f"/api/jobs/{i}").status_code == 200] == []
        assert client.get(f"/api/jobs/{last}").status_code == 200
        jobs.storage.max_bytes = 0
        wait(client, last)
        full = upload(client, painting)  # nothing left to evict but the new upload itself
        assert full.status_code == 507 and "storage" in full.json()["error"]


def test_file_limit_is_enforced_while_the_upload_streams(tiny_weights: Path) -> None:
    app = create_app(weights_dir=tiny_weights, max_upload_mb=1, max_files=20)
    sent = 0
    boundary = "b0undary"

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
        for _ in range(80):  # 5 MB, well under the 21 MB request cap
            sent += 65536
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    async def post() -> httpx.Response:
        async with async_client(app) as c:
            return await c.post("/api/jobs", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})

    try:
        response = asyncio.run(post())
    finally:
        app.state.jobs.close()
    assert response.status_code == 413 and response.json()["error"] == "big.png is larger than 1.0 MB, the limit per image."
    assert sent < 2 * MB  # refused while streaming, not after the whole body was stored


def test_disk_full_during_upload_is_a_json_507(client: TestClient, painting: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stylecloak.web import uploads

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads, "open", no_space, raising=False)
    before = set(client.app.state.jobs.root.iterdir())
    response = upload(client, painting)
    assert response.status_code == 507 and response.headers["content-type"] == "application/json"
    assert response.json()["error"].startswith("painting.jpg: the server's disk is full")
    assert set(client.app.state.jobs.root.iterdir()) == before


def test_failed_save_names_the_users_file_and_leaves_nothing(client: TestClient, painting: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saves: list[object] = []
    real = Image.Image.save

    def fail_fourth(self, fp, format=None, **params):
        saves.append(format)
        if len(saves) == 4:  # the download, "before" and "after" are written; the preview fails
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", fail_fourth)
    status = wait(client, upload(client, painting).json()["id"])
    monkeypatch.setattr(Image.Image, "save", real)
    (item,) = status["items"]
    assert item["status"] == "failed" and item["error"].startswith("painting.jpg: the server's disk is full")
    assert item["id"] not in item["error"] and item["urls"] == {}
    folder = client.app.state.jobs._jobs[status["id"]].folder
    assert not folder.exists() or not list(folder.iterdir())  # no download, views or temporary files left


def test_stale_server_folders_are_removed_at_start(tiny_weights: Path, tmp_path: Path) -> None:
    crashed = tmp_path / "stylecloak-web-crashed"
    (crashed / "upload-1").mkdir(parents=True)
    (crashed / ".lock").touch()
    old, recent = tmp_path / "stylecloak-web-old", tmp_path / "stylecloak-web-recent"
    old.mkdir()
    recent.mkdir()
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    running = JobQueue(weights_dir=tiny_weights, work_dir=tmp_path)
    try:
        assert not crashed.exists() and not old.exists() and recent.exists() and running.root.exists()
        JobQueue(weights_dir=tiny_weights, work_dir=tmp_path).close()  # a second server leaves the running one's folder alone
        assert running.root.exists()
    finally:
        running.close()
    assert not running.root.exists()


def test_remote_mode_needs_the_token_for_every_request(tiny_weights: Path) -> None:
    app = create_app(weights_dir=tiny_weights, allowed_hosts=frozenset({"studio.local"}), require_token=True, token="secret-token")
    with TestClient(app, base_url="http://studio.local") as c:
        for path in ("/", "/api/options", "/static/app.js"):
            assert c.get(path).status_code == 401 and "token" in c.get(path).json()["error"]
        page = c.get("/?token=secret-token")
        assert page.status_code == 200 and "stylecloak-token=secret-token" in page.headers["set-cookie"]
        assert c.get("/api/options").status_code == 200  # the cookie now opens the page's own requests
        assert c.post("/api/jobs/x/cancel").status_code == 403  # but changes still need the header
        assert c.post("/api/jobs/x/cancel", headers={"X-Stylecloak-Token": "secret-token"}).status_code == 404
    assert TestClient(app, base_url="http://evil.example").get("/?token=secret-token").status_code == 400


def test_zip_entry_names_are_portable(client: TestClient, painting: Path) -> None:
    assert portable_name('a:b<c>d"e|f?g*.png') == "a_b_c_d_e_f_g_.png" and portable_name("con. ") == "con"
    status = wait(client, upload(client, painting, name="sketch: v2?.jpg").json()["id"])
    with zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content)) as archive:
        assert archive.namelist() == ["sketch_ v2_-protected.jpg"]


def test_total_limit_message_is_not_rounded_down(tiny_weights: Path) -> None:
    app = create_app(weights_dir=tiny_weights, max_upload_mb=0.999, max_files=2)  # 3,143,630 bytes in all
    with own_client(app) as client:
        response = client.post("/api/jobs", content=b"x" * (4 * MB), headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413 and "larger than 3.0 MB in total" in response.json()["error"]


def test_animated_gif_gets_one_warning(client: TestClient, painting: Path, tmp_path: Path) -> None:
    with Image.open(painting) as im:
        frames = [im.convert("RGB").rotate(a) for a in (0, 90, 180)]
    gif = tmp_path / "loop.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    response = client.post("/api/jobs", data={"quality": "fast", "style": "mosaic"}, files=[("files", ("loop.gif", gif.read_bytes(), "image/gif"))])
    (item,) = wait(client, response.json()["id"])["items"]
    assert item["status"] == "done" and item["warning"] == "loop.gif: has 3 frames (animated or multi-page); only the first frame is protected and saved"


def test_budget_words_use_the_distance_the_run_measured_in(tiny_weights: Path, painting: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lpips", fake_module())  # "auto" resolves to LPIPS-AlexNet: Glaze's budget 0.05
    app = create_app(weights_dir=tiny_weights, steps_override=3)
    with own_client(app) as client:
        (item,) = wait(client, upload(client, painting).json()["id"])["items"]
    assert item["status"] == "done" and item["summary"]["perceptual"] == "lpips-alex"
    words = next(w["text"] for w in item["details"] if w["label"] == "Perceptual distance")
    assert words.endswith("the 'default' intensity's budget of 0.05.") and words.split(",")[1].strip().startswith(
        "within" if item["summary"]["perceptual_distance"] <= 0.05 * 1.1 else "above"
    )


def test_serve_remote_needs_an_allowed_host(tiny_weights: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--allow-remote", "--weights-dir", str(tiny_weights)])
    assert result.exit_code == 1 and "--allowed-host" in result.output


def async_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"X-Stylecloak-Token": app.state.token})


def parallel_uploads(app, painting: Path, n: int) -> list[int]:
    """POST ``n`` uploads at once (interleaved on one event loop); their status codes. Closes the app's queue."""

    async def run() -> list[int]:
        async with async_client(app) as c:
            files = [("files", ("p.jpg", painting.read_bytes(), "image/jpeg"))]
            responses = await asyncio.gather(*(c.post("/api/jobs", data={"quality": "fast", "style": "mosaic"}, files=files) for _ in range(n)))
        return [r.status_code for r in responses]

    try:
        return asyncio.run(run())
    finally:
        app.state.jobs.close()
