"""The web app's HTTP side: a static page plus a small JSON API over :class:`~.jobs.JobQueue`.

Security model: the server listens on loopback and accepts only the Host names it was started
for (no DNS rebinding). Every state-changing request (POST, DELETE) must come from the app's own
origin (``Origin`` / ``Sec-Fetch-Site``) and carry the per-server token in the
``X-Stylecloak-Token`` header, which the page reads from itself and a cross-site page or form
cannot send. With ``require_token`` (``--allow-remote``) every request needs the token: in that
header, in a cookie set by opening ``/?token=…``, or in that query parameter.

Endpoints (all errors are JSON ``{"error": "..."}``)::

    GET    /                                  the page
    GET    /api/options                       presets, styles and limits for the page's controls
    POST   /api/jobs                          multipart: files (1..max_files), intensity, quality, style, artist -> 202 status
    GET    /api/jobs/{job}                    status: queue position, per-image progress, numbers in plain words
    POST   /api/jobs/{job}/cancel             stop it (at the next optimisation step)
    DELETE /api/jobs/{job}                    cancel and delete its files
    GET    /api/jobs/{job}/items/{item}/{kind}  kind: download | before | after | preview
    GET    /api/jobs/{job}/zip                all protected images of the job
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
import secrets
import shutil
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..cloak import METHODS
from ..config import DEFAULT_METHOD, INTENSITY, QUALITY
from ..errors import StylecloakError
from ..io import SERVE_MAX_PIXELS, probe_image
from ..protectability import STRONG, WEAK
from ..styles import all_styles
from .jobs import JobQueue, QueueFull, StorageFull
from .records import AUTO, JobOptions
from .uploads import MB, UploadError, receive, size_text

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_HEADER = "x-stylecloak-token"
TOKEN_COOKIE = "stylecloak-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONCURRENT_CHECKS = 2
"""Uploads whose headers are checked at the same time (the rest wait)."""
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
]
INTENSITY_HELP = {
    "low": "smallest visible change, weaker protection",
    "default": "balanced",
    "high": "strongest protection, more visible change",
}
QUALITY_HELP = {
    "fast": "quick, not robust to re-compression",
    "default": "robust to JPEG, resizing and noise",
    "slow": "most robust, at higher resolution; several minutes per image",
}


def create_app(
    *,
    weights_dir: str | Path | None = None,
    profile_dir: str | Path | None = None,
    max_upload_mb: float = 50,
    max_pixels: int = SERVE_MAX_PIXELS,
    max_files: int = 20,
    steps_override: int | None = None,
    allowed_hosts: frozenset[str] | None = LOOPBACK_HOSTS,
    ttl_seconds: float = 3600,
    token: str | None = None,
    require_token: bool = False,
    max_queued: int = 16,
    max_jobs: int = 64,
    max_disk_mb: float = 4096,
    device: str = "auto",
) -> FastAPI:
    """The app; ``app.state.jobs`` is its :class:`JobQueue`, closed (files deleted) at shutdown.

    ``max_upload_mb`` limits each image file (enforced while it streams in), ``max_pixels`` each
    image's pixel count (checked from the header). ``allowed_hosts`` are the Host header names
    accepted (None: any; the default refuses DNS-rebinding pages that reach a loopback server under
    another name). ``token`` (``app.state.token``; default: a new random one) must accompany every
    state-changing request, and with ``require_token`` every request. At most ``max_queued`` jobs
    wait; at most ``max_jobs`` jobs and ``max_disk_mb`` of their files are kept (the oldest finished
    go first). ``steps_override`` replaces the presets' step counts (for tests); ``profile_dir``
    holds artist profiles (default: the user config folder); ``device`` is where the models run
    (auto: CUDA, MPS, CPU).
    """
    static = StaticFiles(directory=STATIC)
    jobs = JobQueue(
        weights_dir=weights_dir,
        profile_dir=profile_dir,
        steps=steps_override,
        max_pixels=max_pixels,
        max_queued=max_queued,
        max_jobs=max_jobs,
        max_disk=int(max_disk_mb * MB),
        ttl=ttl_seconds,
        device=device,
    )
    token = token or secrets.token_urlsafe(24)
    max_bytes = int(max_upload_mb * MB)
    checks = anyio.CapacityLimiter(CONCURRENT_CHECKS)
    page = (STATIC / "index.html").read_text().replace("{{token}}", html.escape(token))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(jobs.close)

    app = FastAPI(title="stylecloak", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.jobs, app.state.token = jobs, token
    app.add_middleware(_Guard, max_body=max_bytes * max_files + MB, hosts=allowed_hosts, token=token, everywhere=require_token)
    app.mount("/static", static, name="static")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return _error(500, "Unexpected server error; see the server's log.")

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    @app.get("/api/options")
    async def options() -> dict:
        return {
            "intensities": [{"name": k, "help": INTENSITY_HELP.get(k, "")} for k in INTENSITY],
            "qualities": [{"name": k, "help": QUALITY_HELP.get(k, "")} for k in QUALITY],
            "styles": [{"name": n, "help": s.description} for n, s in all_styles().items()],
            "methods": [{"name": k, "help": m.summary} for k, m in METHODS.items()],
            "auto": AUTO,
            "limits": {"max_upload_mb": max_upload_mb, "max_pixels": max_pixels, "max_files": max_files},
        }

    @app.post("/api/jobs", status_code=202)
    async def submit(request: Request) -> JSONResponse:
        if jobs.full:  # cheap early answer; submit() decides under the queue's lock
            return _error(503, "The queue is full; wait for some jobs to finish, then try again.")
        folder = jobs.scratch()
        try:
            upload = await receive(request, folder, file_field="files", max_file_bytes=max_bytes, max_files=max_files, display=safe_name)
            fields = upload.fields
            options = JobOptions(
                intensity=fields.get("intensity") or "default",
                quality=fields.get("quality") or "default",
                style=fields.get("style") or AUTO,
                artist=(fields.get("artist") or "").strip() or "default",
                method=fields.get("method") or DEFAULT_METHOD,
            )
            if not upload.files:
                raise UploadError(400, "Choose at least one image.")
            for name, stored in upload.files:
                try:
                    await anyio.to_thread.run_sync(lambda p=folder / stored: probe_image(p, max_pixels=max_pixels), limiter=checks)
                except StylecloakError as exc:
                    raise UploadError(400, str(exc).replace(str(folder / stored), name)) from None
            job_id = jobs.submit(folder, upload.files, options)
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(exc, UploadError):
                return _error(exc.status, exc.message)
            if isinstance(exc, QueueFull):
                return _error(503, str(exc))
            if isinstance(exc, StorageFull):
                return _error(507, str(exc))
            if isinstance(exc, StylecloakError):
                return _error(400, str(exc))
            raise
        return JSONResponse(_status(jobs, job_id), status_code=202)

    @app.get("/api/jobs/{job_id}")
    async def status(job_id: str) -> JSONResponse:
        return JSONResponse(_status(jobs, job_id), headers={"cache-control": "no-store"})

    @app.post("/api/jobs/{job_id}/cancel")
    async def cancel(job_id: str) -> JSONResponse:
        if not jobs.cancel(job_id):
            raise HTTPException(404, _GONE)
        return JSONResponse(_status(jobs, job_id))

    @app.delete("/api/jobs/{job_id}", status_code=204)
    async def delete(job_id: str) -> Response:
        if not await run_in_threadpool(jobs.delete, job_id):
            raise HTTPException(404, _GONE)
        return Response(status_code=204)

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

    return app


_GONE = "No such job: it was deleted, or it expired an hour after finishing."


def safe_name(name: str | None) -> str:
    """A client-supplied file name reduced to a harmless basename (for display and Content-Disposition only)."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip().lstrip(".")[-120:]
    return base or "image"


def explain(summary: dict, intensity: str) -> list[dict[str, str]]:
    """A finished image's numbers in plain words."""
    style, tp, psnr = summary["target_style"], summary["target_progress"], summary["psnr_db"]
    method = f" (method {summary['method']})" if summary.get("method", DEFAULT_METHOD) != DEFAULT_METHOD else ""
    distance, budget = summary["perceptual_distance"], summary["budget"]  # in the units of the distance the run used
    strength = "strong" if tp >= STRONG else "moderate" if tp >= WEAK else "weak; try intensity high or quality slow"
    if psnr is None:
        visible = "none (the image is unchanged)"
    else:
        visible = next((w for limit, w in ((40, "practically invisible"), (35, "very small"), (30, "small"), (25, "noticeable")) if psnr >= limit), "strong")
        visible += f" (PSNR {psnr:.0f} dB; above 35 dB is hard to see)"
    within = "within" if distance <= budget * 1.1 else "above"
    sizes = ", ".join(f"{k} px {max(v, 0) * 100:.0f}\u00a0%" for k, v in summary["target_progress_by_size"].items())
    return [
        {"label": "Protection", "text": f"At the training size where the cloak is weakest ({summary['worst_size']} px), the model sees this image {max(tp, 0) * 100:.0f}\u00a0% of the way toward '{style}'{method} ({strength}). At each size: {sizes}."},
        {"label": "Visible change", "text": visible[0].upper() + visible[1:] + "."},
        {"label": "Perceptual distance", "text": f"{distance:.2f}, {within} the '{intensity}' intensity's budget of {budget:.2f}."},
        {"label": "Time", "text": f"{summary['seconds']:.1f} s for {summary['width']}×{summary['height']} px."},
    ]


def _status(jobs: JobQueue, job_id: str) -> dict:
    data = jobs.status(job_id)
    if data is None:
        raise HTTPException(404, _GONE)
    base = f"/api/jobs/{job_id}"
    for item in data["items"]:
        item["urls"] = {kind: f"{base}/items/{item['id']}/{kind}" for kind in item.pop("files")}
        item["words"] = explain(item["summary"], data["options"]["intensity"]) if item["summary"] else []
    data["zip_url"] = f"{base}/zip" if any("download" in i["urls"] for i in data["items"]) else None
    return data


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})


def _host(header: str) -> str:
    if header.startswith("["):
        return header[1:].split("]", 1)[0].lower()
    return header.rsplit(":", 1)[0].lower() if header.count(":") == 1 else header.lower()


def _same_origin(scope: Scope, headers: Headers) -> bool:
    """False when a browser says the request comes from another origin (another site, port or scheme)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = headers.get("origin")
    return origin is None or origin.lower() == f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()


class _Guard:
    """ASGI middleware: Host check, origin and token checks, request body cap (enforced while reading), security headers."""

    def __init__(self, app: ASGIApp, *, max_body: int, hosts: frozenset[str] | None, token: str, everywhere: bool):
        self.app, self.max_body, self.hosts, self.token, self.everywhere = app, max_body, hosts, token, everywhere

    def _has_token(self, headers: Headers, query: dict[str, list[str]], *, header_only: bool) -> bool:
        offered = [headers.get(TOKEN_HEADER, "")]
        if not header_only:
            cookie: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                cookie.load(headers.get("cookie", ""))
            offered += [cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else "", *query.get("token", [])]
        return any(secrets.compare_digest(o.encode(), self.token.encode()) for o in offered if o)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.hosts is not None and _host(headers.get("host", "")) not in self.hosts:
            await _error(400, "Unexpected Host header; open the app at the address `stylecloak serve` printed.")(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self.everywhere and not self._has_token(headers, query, header_only=False):
            await _error(401, "This server needs its access token: open the address `stylecloak serve` printed (it ends in ?token=…).")(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            if not _same_origin(scope, headers):
                await _error(403, "Cross-site request refused: only the stylecloak page itself may change jobs.")(scope, receive, send)
                return
            if not self._has_token(headers, query, header_only=True):
                await _error(403, "Missing or wrong X-Stylecloak-Token header; use the page at the address `stylecloak serve` printed.")(scope, receive, send)
                return
        too_big = f"The upload is larger than {size_text(self.max_body)} in total; send fewer or smaller images at a time."
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await _error(413, too_big)(scope, receive, send)
            return
        received = 0
        extra = list(_SECURITY_HEADERS)
        if self.everywhere and query.get("token"):  # remember the token for the page's own requests
            extra.append((b"set-cookie", f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()))

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise HTTPException(413, too_big)
            return message

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, limited, secured)
