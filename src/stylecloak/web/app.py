"""The web app's HTTP side: a static page plus a small JSON API over :class:`~.jobs.JobQueue`.

Who may send what is decided at the gate (:mod:`.guard`); uploads are taken in by :mod:`.intake`.

Endpoints (all errors are JSON ``{"error": "..."}``)::

    GET    /                                  the page
    GET    /api/options                       presets, styles and limits for the page's controls
    GET    /api/estimate?quality=&intensity=&method=&sizes=WxH,…  seconds expected for images of those sizes (null: not measured yet)
    POST   /api/jobs                          multipart: files (1..max_files), intensity, quality, style, artist, method, metadata, optout -> 202 status
    GET    /api/jobs?ids=ID,…                 the status of each of those jobs that still exists (the page keeps the ids)
    GET    /api/jobs/{job}                    status: queue position, per-image progress, time left, the gauge and numbers
    POST   /api/jobs/{job}/cancel             stop it (at the next optimisation step)
    DELETE /api/jobs/{job}                    cancel and delete its files
    GET    /api/jobs/{job}/items/{item}/{kind}  kind: download | before | after | preview
    GET    /api/jobs/{job}/zip                all protected images of the job
"""

from __future__ import annotations

import html
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..errors import StylecloakError
from ..io.read import WEB_MAX_PIXELS
from .choices import choices
from .guard import LOOPBACK_HOSTS, Guard, error
from .intake import Intake
from .jobs import JobQueue
from .records import JobOptions
from .uploads import MB
from .words import details, gauge, plain

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
GONE = "No such job: it was deleted, or it expired an hour after finishing."
SIZE = re.compile(r"(\d{1,6})x(\d{1,6})")

__all__ = ["LOOPBACK_HOSTS", "create_app"]


def create_app(
    *,
    weights_dir: str | Path | None = None,
    profile_dir: str | Path | None = None,
    max_upload_mb: float = 50,
    max_pixels: int = WEB_MAX_PIXELS,
    max_files: int = 20,
    steps_override: int | None = None,
    allowed_hosts: frozenset[str] | None = LOOPBACK_HOSTS,
    ttl_seconds: float = 3600,
    token: str | None = None,
    require_token: bool = False,
    max_queued: int = 16,
    max_jobs: int = 64,
    max_disk_mb: float = 4096,
    max_uploads: int = 4,
    device: str = "auto",
    work_dir: str | Path | None = None,
) -> FastAPI:
    """The app; ``app.state.jobs`` is its :class:`JobQueue`, closed (files deleted) at shutdown.

    ``max_upload_mb`` limits each image file (enforced while it streams in), ``max_pixels`` each
    image's pixel count (checked from the header, before a trial decode refuses truncated files).
    ``allowed_hosts`` are the Host header names
    accepted (None: any; the default refuses DNS-rebinding pages that reach a loopback server under
    another name). ``token`` (``app.state.token``; default: a new random one) must accompany every
    state-changing request, and with ``require_token`` every request. At most ``max_queued`` jobs
    wait; at most ``max_jobs`` jobs and ``max_disk_mb`` of their files are kept (the oldest finished
    go first; uploads reserve their room while they stream), and at most ``max_uploads`` uploads stream
    at once. ``steps_override`` replaces the presets' step counts (for tests); ``profile_dir`` holds
    artist profiles (default: the user config folder); ``device`` is where the models run (auto: CUDA,
    MPS, CPU); ``work_dir`` holds the uploads and results (default: a private folder in the user cache
    folder, :func:`~.folders.work_folder`).
    """
    jobs = JobQueue(
        weights_dir=weights_dir,
        profile_dir=profile_dir,
        steps=steps_override,
        max_pixels=max_pixels,
        max_queued=max_queued,
        max_jobs=max_jobs,
        max_disk=int(max_disk_mb * MB),
        max_uploads=max_uploads,
        ttl=ttl_seconds,
        device=device,
        work_dir=work_dir,
    )
    token = token or secrets.token_urlsafe(24)
    app = _new_app(jobs, token)
    app.add_middleware(Guard, max_body=int(max_upload_mb * MB) * max_files + MB, hosts=allowed_hosts, token=token, everywhere=require_token)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _page_routes(app, token, choices(max_upload_mb=max_upload_mb, max_pixels=max_pixels, max_files=max_files))
    _job_routes(app, jobs, Intake(jobs, int(max_upload_mb * MB), max_files, max_pixels))
    _file_routes(app, jobs)
    return app


def _new_app(jobs: JobQueue, token: str) -> FastAPI:
    """The bare app: the queue and token on its state, the queue closed (files deleted) at shutdown, errors as JSON."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(jobs.close)

    app = FastAPI(title="stylecloak", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.jobs, app.state.token = jobs, token

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return error(500, "Unexpected server error; see the server's log.")

    return app


def _page_routes(app: FastAPI, token: str, options: dict) -> None:
    """The page (with the server's token in it), the choices it offers and the time they would take."""
    page = (STATIC / "index.html").read_text().replace("{{token}}", html.escape(token))
    jobs: JobQueue = app.state.jobs

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    @app.get("/api/options")
    async def offered() -> dict:
        return options

    @app.get("/api/estimate")
    async def estimate(sizes: str = "", intensity: str = "default", quality: str = "default", method: str = "glaze") -> JSONResponse:
        chosen = JobOptions(intensity=intensity, quality=quality, method=method)
        try:
            chosen.check()
        except StylecloakError as exc:
            return error(400, str(exc))
        found = [SIZE.fullmatch(s.strip()) for s in sizes.split(",") if s.strip()]
        if not all(found) or len(found) > options["limits"]["max_files"]:
            return error(400, "sizes: give up to one WIDTHxHEIGHT per image, separated by commas (e.g. 800x600,1024x768).")
        seconds = jobs.pace.seconds([(int(m[1]), int(m[2])) for m in found if m], jobs.preset_steps(chosen))
        return JSONResponse({"seconds": None if seconds is None else round(seconds, 1)}, headers={"cache-control": "no-store"})


def _job_routes(app: FastAPI, jobs: JobQueue, intake: Intake) -> None:
    """Queue, list, poll, cancel and delete jobs."""

    @app.post("/api/jobs", status_code=202)
    async def submit(request: Request) -> Response:
        answer = await intake(request)
        return answer if isinstance(answer, Response) else JSONResponse(_view(jobs.status(answer)), status_code=202)

    @app.get("/api/jobs")
    async def listed(ids: str = "") -> JSONResponse:
        wanted = [i for i in ids.split(",") if i][: jobs.max_jobs]
        return JSONResponse({"jobs": [_view(s) for s in jobs.statuses(wanted)]}, headers={"cache-control": "no-store"})

    @app.get("/api/jobs/{job_id}")
    async def status(job_id: str) -> JSONResponse:
        return JSONResponse(_view(jobs.status(job_id)), headers={"cache-control": "no-store"})

    @app.post("/api/jobs/{job_id}/cancel")
    async def cancel(job_id: str) -> JSONResponse:
        if not jobs.cancel(job_id):
            raise HTTPException(404, GONE)
        return JSONResponse(_view(jobs.status(job_id)))

    @app.delete("/api/jobs/{job_id}", status_code=204)
    async def delete(job_id: str) -> Response:
        if not await run_in_threadpool(jobs.delete, job_id):
            raise HTTPException(404, GONE)
        return Response(status_code=204)


def _file_routes(app: FastAPI, jobs: JobQueue) -> None:
    """A finished image's files, and all of a job's protected images as a zip."""

    @app.get("/api/jobs/{job_id}/items/{item_id}/{kind}")
    async def item_file(job_id: str, item_id: str, kind: str) -> FileResponse:
        found = jobs.file(job_id, item_id, kind)
        if found is None:
            raise HTTPException(404, "No such file: the job was deleted or expired, or this image is not finished.")
        path, name = found
        if kind == "download":
            return FileResponse(path, filename=name)
        return FileResponse(path, media_type="image/png", filename=name, content_disposition_type="inline")

    @app.get("/api/jobs/{job_id}/zip")
    async def zip_all(job_id: str) -> FileResponse:
        path = await run_in_threadpool(jobs.zip, job_id)
        if path is None:
            raise HTTPException(404, "Nothing to download: the job was deleted or expired, or no image is finished yet.")
        return FileResponse(path, filename="stylecloak-protected.zip", background=BackgroundTask(path.unlink, missing_ok=True))


def _view(data: dict | None) -> dict:
    """A job's status for the page: file addresses, each finished image's gauge, plain words and details."""
    if data is None:
        raise HTTPException(404, GONE)
    base = f"/api/jobs/{data['id']}"
    for item in data["items"]:
        item["urls"] = {kind: f"{base}/items/{item['id']}/{kind}" for kind in item.pop("files")}
        summary = item["summary"] if item["status"] == "done" else None
        item["gauge"] = gauge(summary) if summary else None
        item["words"] = plain(summary) if summary else []
        item["details"] = details(summary, data["options"]["intensity"]) if summary else []
    data["zip_url"] = f"{base}/zip" if any("download" in i["urls"] for i in data["items"]) else None
    return data
