"""The web app's limits under abuse, without model weights: the worker is stubbed, so no image is protected.

Disk and concurrency caps while uploads stream, the private work folder and its locks, part-header
floods, decompression bombs, truncated files and client disconnects.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import shutil
import socket
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install 'stylecloak[web]'")
httpx = pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install 'stylecloak[web]'")

from click.testing import CliRunner

from stylecloak.cli import main
from stylecloak.io.read import WEB_MAX_PIXELS
from stylecloak.web import create_app, folders
from stylecloak.web import jobs as jobs_module
from stylecloak.web.folders import disk_usage
from stylecloak.web.jobs import Job, JobQueue

MB = 1024 * 1024
BASE = "http://127.0.0.1"
BOUNDARY = "stylecloak-test-boundary"


# --------------------------------------------------------------------------- helpers


def noise_png(side: int, seed: int = 0) -> bytes:
    """A valid PNG of random pixels: it hardly compresses, so its size is about 3 bytes a pixel."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def declared_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width×height px (its pixel data is a stub)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def multipart_head(name: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\nContent-Type: image/png\r\n\r\n'.encode()


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def new_app(tmp_path: Path, **limits) -> object:
    """An app with its own work folder and no weights (the stubbed worker never loads a model)."""
    return create_app(weights_dir=tmp_path / "no-weights", work_dir=tmp_path / "work", **limits)


def async_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers={"X-Stylecloak-Token": app.state.token})


def post_stream(app, body: AsyncIterator[bytes]) -> httpx.Response:
    """POST a hand-made multipart ``body`` to the job endpoint as it streams."""

    async def run() -> httpx.Response:
        async with async_client(app) as client:
            return await client.post("/api/jobs", content=body, headers=MULTIPART)

    return asyncio.run(run())


def post_one(app, name: str, data: bytes) -> httpx.Response:
    async def run() -> httpx.Response:
        async with async_client(app) as client:
            return await client.post("/api/jobs", files=[("files", (name, data, "image/png"))], data={"style": "mosaic"})

    return asyncio.run(run())


def folders_of(jobs: JobQueue) -> set[Path]:
    return {p for p in jobs.root.iterdir() if p.is_dir()}


def wait_until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker keeps every job, with its files, until the queue closes."""

    def hold(queue: JobQueue, job: Job) -> None:
        job.cancel.wait()

    monkeypatch.setattr(jobs_module, "run_job", hold)


@pytest.fixture
def finished(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker "protects" each image at once by copying it (a finished job keeps its copies)."""

    def copy(queue: JobQueue, job: Job) -> None:
        for item in job.items:
            out = job.folder / f"{item.id}.png"
            shutil.copyfile(item.input, out)
            queue.update(item, status="done", files={"download": out})

    monkeypatch.setattr(jobs_module, "run_job", copy)


@contextmanager
def served(app) -> Iterator[str]:
    """Run ``app`` on a real server in a background thread; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# --------------------------------------------------------------------------- disk and concurrency caps


def test_parallel_uploads_never_push_the_work_folder_past_its_cap(tmp_path: Path, held: None) -> None:
    cap = 4 * MB
    image = noise_png(600)  # about 1 MB: a dozen of them need three times the cap
    app = new_app(tmp_path, max_disk_mb=cap / MB, max_uploads=12)
    jobs = app.state.jobs
    work = tmp_path / "work"
    peak, stop = 0, threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, disk_usage(work))

    def body() -> Iterator[bytes]:
        yield multipart_head("noise.png")
        for part in chunks(image):
            time.sleep(0.002)  # let the uploads interleave
            yield part
        yield TAIL

    codes: list[int | None] = []

    def upload(url: str) -> None:
        try:
            with httpx.Client(base_url=url, headers={"X-Stylecloak-Token": app.state.token}, timeout=30) as client:
                codes.append(client.post("/api/jobs", content=body(), headers=MULTIPART).status_code)
        except httpx.TransportError:  # refused mid-stream: the server closed the connection while we sent
            codes.append(None)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with served(app) as url:
        clients = [threading.Thread(target=upload, args=(url,)) for _ in range(12)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        stop.set()
        watcher.join()
        accepted = codes.count(202)
        assert 1 <= accepted < 12 and set(codes) <= {202, 507, None}
        assert peak <= cap, f"the work folder reached {peak / MB:.1f} MB against a {cap / MB:.0f} MB cap"
        assert len(folders_of(jobs)) == accepted  # refused uploads left no partial files
        assert jobs.storage.used() == disk_usage(jobs.root) <= cap  # and hold no reservation


def test_an_upload_is_refused_while_it_streams_once_the_disk_cap_is_reached(tmp_path: Path, held: None) -> None:
    app = new_app(tmp_path, max_disk_mb=1, max_upload_mb=8)
    jobs = app.state.jobs
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield multipart_head("big.png")
        for _ in range(64):  # 4 MB
            sent += 64 * 1024
            yield b"\0" * (64 * 1024)
        yield TAIL

    try:
        response = post_stream(app, body())
        assert response.status_code == 507 and "storage for jobs is full" in response.json()["error"]
        assert sent <= 2 * MB  # refused while streaming, not after the whole body was stored
        assert folders_of(jobs) == set() and jobs.storage.used() == 0
    finally:
        jobs.close()


def test_finished_jobs_make_room_for_a_new_upload(tmp_path: Path, finished: None) -> None:
    image = noise_png(500)  # about 0.7 MB
    app = new_app(tmp_path, max_disk_mb=1.5 * len(image) / MB)  # room for one job, not two
    jobs = app.state.jobs
    try:
        first = post_one(app, "first.png", image).json()["id"]
        wait_until(lambda: jobs.status(first)["status"] == "done")
        second = post_one(app, "second.png", noise_png(500, seed=1))
        assert second.status_code == 202
        assert jobs.status(first) is None  # the finished job went first
        assert disk_usage(jobs.root) <= jobs.storage.max_bytes
    finally:
        jobs.close()


def test_uploads_beyond_the_concurrency_cap_are_refused_before_any_byte_is_read(tmp_path: Path, held: None) -> None:
    app = new_app(tmp_path, max_uploads=1)
    image = noise_png(64)
    pulled: list[str] = []

    async def body(name: str, gate: asyncio.Event | None = None) -> AsyncIterator[bytes]:
        pulled.append(name)
        yield multipart_head(name)
        if gate is not None:
            await gate.wait()
        yield image + TAIL

    async def run() -> list[int]:
        go = asyncio.Event()
        async with async_client(app) as client:
            first = asyncio.create_task(client.post("/api/jobs", content=body("slow.png", go), headers=MULTIPART))
            await wait_for(lambda: pulled == ["slow.png"])
            second = await client.post("/api/jobs", content=body("second.png"), headers=MULTIPART)
            go.set()
            codes = [(await first).status_code, second.status_code]
            codes.append((await client.post("/api/jobs", content=body("third.png"), headers=MULTIPART)).status_code)
            return codes

    try:
        assert asyncio.run(run()) == [202, 503, 202]
        assert pulled == ["slow.png", "third.png"]  # the refused upload's body was never read
    finally:
        app.state.jobs.close()


async def wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- the work folder and its locks


def plant(parent: Path, kind: str) -> Path:
    """A folder that looks like another server's, whose lock cannot be checked."""
    folder = parent / f"{folders.PREFIX}planted-{kind}"
    folder.mkdir(parents=True)
    lock = folder / ".lock"
    if kind == "directory":
        lock.mkdir()
    elif kind == "symlink-loop":
        lock.symlink_to(lock.name)
    else:
        lock.touch()
    os.utime(folder, (time.time() - 7 * 86400,) * 2)
    return folder


@pytest.fixture
def unreadable_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Locks named ``.../planted-unreadable/.lock`` cannot be opened (as for another user's file)."""
    real = folders.FileLock

    def lock(path, *args, **kwargs):
        if "planted-unreadable" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(folders, "FileLock", lock)


@pytest.mark.parametrize("kind", ["directory", "symlink-loop", "unreadable"])
def test_serve_starts_whatever_sits_in_the_temp_and_work_folders(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unreadable_locks: None, caplog: pytest.LogCaptureFixture
) -> None:
    cache, temp = tmp_path / "cache", tmp_path / "temp"
    monkeypatch.setattr(folders, "user_cache_dir", lambda name: str(cache / name))
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    planted = [plant(temp, kind), plant(cache / "stylecloak" / "web", kind)]
    started: list[JobQueue] = []

    def fake_run(self: uvicorn.Server, sockets: list) -> None:
        sockets[0].close()
        started.append(self.config.app.state.jobs)
        self.config.app.state.jobs.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setattr(JobQueue, "protector", lambda self, *a: None)
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    (jobs,) = started
    work = cache / "stylecloak" / "web"
    assert jobs.root.parent == work and (work.stat().st_mode & 0o777) == 0o700  # a private folder of this user
    assert all(p.is_dir() for p in planted)  # what cannot be checked is left alone
    assert any("cannot check" in r.getMessage() for r in caplog.records)


def test_an_unusable_work_folder_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    (cache / "stylecloak").mkdir(parents=True)
    (cache / "stylecloak" / "web").write_text("not a folder")
    monkeypatch.setattr(folders, "user_cache_dir", lambda name: str(cache / name))
    monkeypatch.setattr(JobQueue, "protector", lambda self, *a: None)
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: {cache / 'stylecloak' / 'web'}") and "remove it" in line


def test_a_loose_work_folder_is_made_private(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir(mode=0o777)
    work.chmod(0o777)
    assert folders.work_folder(work) == work and (work.stat().st_mode & 0o777) == 0o700


# --------------------------------------------------------------------------- hostile files and requests


def test_a_huge_part_header_is_refused_without_reading_it(tmp_path: Path, held: None) -> None:
    app = new_app(tmp_path)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\nX-Filler: '.encode()
        for _ in range(64):  # a 4 MB header value
            sent += 64 * 1024
            yield b"a" * (64 * 1024)
        yield b"\r\n\r\n" + noise_png(32) + TAIL

    try:
        response = post_stream(app, body())
        assert response.status_code == 400 and "header" in response.json()["error"]
        assert sent < MB  # refused at once, not after parsing the 4 MB header
        assert folders_of(app.state.jobs) == set()
    finally:
        app.state.jobs.close()


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path, held: None, monkeypatch: pytest.MonkeyPatch) -> None:
    side = 7000  # 49 M px from a few KB: 1.5 GB once decoded, far more once protected
    decoded: list[object] = []
    real = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decoded.append(im) or real(im))
    app = new_app(tmp_path)
    try:
        response = post_one(app, "bomb.png", declared_png(side, side))
        message = response.json()["error"]
        assert response.status_code == 400 and message.startswith(f"bomb.png: {side}×{side} px exceeds the limit of {WEB_MAX_PIXELS:,} pixels")
        assert "\n" not in message and decoded == []  # refused before anything was decoded
        assert folders_of(app.state.jobs) == set()
    finally:
        app.state.jobs.close()


def test_serve_passes_its_pixel_cap_to_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(folders, "user_cache_dir", lambda name: str(tmp_path / name))
    caps: list[int] = []

    def fake_run(self: uvicorn.Server, sockets: list) -> None:
        sockets[0].close()
        caps.append(self.config.app.state.jobs.max_pixels)
        self.config.app.state.jobs.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setattr(JobQueue, "protector", lambda self, *a: None)
    for args in ([], ["--max-pixels", "5000"]):
        assert CliRunner().invoke(main, ["serve", "--port", "0", *args]).exit_code == 0
    assert caps == [WEB_MAX_PIXELS, 5000]
    assert f"{WEB_MAX_PIXELS}" in CliRunner().invoke(main, ["serve", "--help"]).output.replace(",", "")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_image_is_refused_at_upload(keep: float, tmp_path: Path, held: None) -> None:
    image = noise_png(200)
    app = new_app(tmp_path)
    try:
        response = post_one(app, "sketch.png", image[: int(len(image) * keep)])
        message = response.json()["error"]
        assert response.status_code == 400 and message.startswith("sketch.png: cannot be decoded") and "truncated" in message
        assert "\n" not in message and str(tmp_path) not in message
        assert folders_of(app.state.jobs) == set()
        assert post_one(app, "sketch.png", image).status_code == 202  # the whole file is accepted
    finally:
        app.state.jobs.close()


def test_a_client_disconnect_is_one_quiet_log_line(tmp_path: Path, held: None, caplog: pytest.LogCaptureFixture) -> None:
    app = new_app(tmp_path)
    jobs = app.state.jobs
    messages = [{"type": "http.request", "body": multipart_head("a.png") + noise_png(64)[:500], "more_body": True}]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/jobs",
        "raw_path": b"/api/jobs",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"x-stylecloak-token", app.state.token.encode()), (b"content-type", MULTIPART["content-type"].encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        pass

    try:
        with caplog.at_level(logging.DEBUG):
            asyncio.run(app(scope, receive, send))  # the error did not escape to the server, which would log it again
        assert [r for r in caplog.records if r.exc_info] == []
        # the request's own lines (the worker, loading its models for the speed probe meanwhile, logs apart)
        (line,) = [r for r in caplog.records if r.name.startswith("stylecloak.web") and r.name != "stylecloak.web.jobs"]
        assert line.levelno <= logging.INFO and "disconnected" in line.getMessage()
        assert not [r for r in caplog.records if r.name.startswith("stylecloak") and r.levelno >= logging.WARNING]
        assert folders_of(jobs) == set() and jobs.storage.used() == 0
    finally:
        jobs.close()
