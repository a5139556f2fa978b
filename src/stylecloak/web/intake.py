"""Taking in an upload: stream it into a job folder within the limits, check each image, queue the job.

An image that cannot be used (not an image, truncated, too many pixels) is marked with a one-line message naming
it and skipped while the others run; only an upload with no usable image at all is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from ..config import DEFAULT_METHOD
from ..errors import StylecloakError
from ..io.read import verify_image
from .guard import error
from .jobs import JobQueue, QueueFull
from .records import AUTO, Arrival, JobOptions
from .storage import StorageFull, TooManyUploads
from .uploads import Limits, Upload, UploadError, receive

log = logging.getLogger(__name__)

CONCURRENT_CHECKS = 2
"""Uploads whose images are checked (header, then a trial decode) at the same time (the rest wait)."""


@dataclass
class Intake:
    """``POST /api/jobs``: the queue and the limits each upload is held to."""

    jobs: JobQueue
    max_bytes: int
    max_files: int
    max_pixels: int

    def __post_init__(self) -> None:
        self.checks = anyio.CapacityLimiter(CONCURRENT_CHECKS)

    async def __call__(self, request: Request) -> str | Response:
        """The new job's id, or the answer refusing the upload; whatever was stored is deleted unless a job was queued."""
        if self.jobs.full:  # cheap early answer; submit() decides under the queue's lock
            return error(503, "The queue is full; wait for some jobs to finish, then try again.")
        try:
            reservation = self.jobs.begin_upload()  # before any byte of the body is read
        except TooManyUploads as exc:
            return error(503, str(exc))
        try:
            job_id = await self._queue(request, reservation.folder, reservation.take)
        except BaseException as exc:
            reservation.cancel()
            if isinstance(exc, ClientDisconnect):  # nobody is left to answer; not a server fault
                log.info("an upload stopped: the browser disconnected before sending all of it")
                return Response(status_code=400)
            answer = _refusal(exc)
            if answer is None:
                raise
            return answer
        reservation.keep()
        return job_id

    async def _queue(self, request: Request, folder: Path, reserve) -> str:
        upload = await receive(request, folder, Limits("files", self.max_bytes, self.max_files), reserve=reserve)
        options = _options(upload)
        if not upload.files:
            raise UploadError(400, "Choose at least one image.")
        arrivals = [await self._check(folder, name, stored) for name, stored in upload.files]
        refused = [a.error for a in arrivals if a.error]
        if len(refused) == len(arrivals):
            raise UploadError(400, refused[0] if len(refused) == 1 else f"None of the {len(refused)} images can be used: " + " ".join(refused))
        return self.jobs.submit(folder, arrivals, options)

    async def _check(self, folder: Path, name: str, stored: str) -> Arrival:
        """The image's size from its header and a trial decode (the refusal names the user's file)."""
        path = folder / stored
        try:
            _, width, height = await anyio.to_thread.run_sync(lambda: verify_image(path, max_pixels=self.max_pixels), limiter=self.checks)
        except StylecloakError as exc:
            return Arrival(name, stored, error=str(exc).replace(str(path), name))
        return Arrival(name, stored, width, height)


def _options(upload: Upload) -> JobOptions:
    fields = upload.fields
    options = JobOptions(
        intensity=fields.get("intensity") or "default",
        quality=fields.get("quality") or "default",
        style=fields.get("style") or AUTO,
        artist=(fields.get("artist") or "").strip() or "default",
        method=fields.get("method") or DEFAULT_METHOD,
        metadata=fields.get("metadata") or "minimal",
        optout=fields.get("optout") or "genai",
    )
    options.check()
    return options


def _refusal(exc: BaseException) -> JSONResponse | None:
    """The answer to a refused upload, or None for an unexpected error."""
    if isinstance(exc, UploadError):
        return error(exc.status, exc.message)
    if isinstance(exc, QueueFull):
        return error(503, str(exc))
    if isinstance(exc, StorageFull):
        return error(507, str(exc))
    if isinstance(exc, StylecloakError):
        return error(400, str(exc))
    return None
