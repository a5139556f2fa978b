"""The web app's job queue: uploads wait in FIFO order and ONE worker thread cloaks them.

A single worker means two uploads can never run at once and exhaust the machine. Every job lives
in its own temporary folder, under generated names only; the folder is removed when the job is
deleted, when it has been left alone for ``ttl`` seconds after finishing, when newer jobs need the
room (at most ``max_jobs`` jobs and ``max_disk`` bytes are kept), and when the queue closes. A
finished job's uploads are deleted at once, and a cancelled job's whole folder unless it finished
some images. Folders of servers that died without cleaning up are removed at the next start (:mod:`.folders`).
What the worker does with a job is :func:`~.execute.run_job`; the records are in :mod:`.records`.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from collections import deque
from dataclasses import asdict
from pathlib import Path

import torch
from filelock import FileLock

from ..api import Protector
from ..config import DEFAULT_METHOD, ProtectSettings
from ..device import cpu_cores
from ..errors import ConfigError, StylecloakError
from ..io import SERVE_MAX_PIXELS
from .execute import run_job
from .folders import PREFIX, disk_usage, portable_name, remove_stale_folders
from .records import Item, Job, JobOptions

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0


class QueueFull(StylecloakError):
    """Too many jobs are waiting."""


class StorageFull(StylecloakError):
    """The jobs' files would exceed the disk cap even after removing every finished job."""


class JobQueue:
    """FIFO queue of jobs served by one worker thread; call :meth:`close` to stop it and delete all files."""

    def __init__(
        self,
        *,
        weights_dir: str | Path | None = None,
        profile_dir: str | Path | None = None,
        steps: int | None = None,
        max_pixels: int = SERVE_MAX_PIXELS,
        max_queued: int = 16,
        max_jobs: int = 64,
        max_disk: int = 4 * 1024**3,
        ttl: float = 3600.0,
        device: str = "auto",
    ):
        self.weights_dir = weights_dir
        self.device = device
        self.profile_dir = Path(profile_dir) if profile_dir else None
        self.steps = steps
        self.max_pixels = max_pixels
        self.max_queued = max_queued
        self.max_jobs = max(max_jobs, max_queued + 1)
        self.max_disk = max_disk
        self.ttl = ttl
        remove_stale_folders()
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        self._lock = FileLock(self.root / ".lock")
        self._lock.acquire()
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._protectors: dict[tuple[str, str], Protector] = {}
        self._load_lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="stylecloak-worker", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ public API

    @property
    def full(self) -> bool:
        with self._cond:
            return len(self._queue) >= self.max_queued

    def protector(self, intensity: str, quality: str, method: str = DEFAULT_METHOD) -> Protector:
        """The (cached) protector for a preset pair and method; loading it checks the weights."""
        with self._load_lock:
            key = (intensity, quality, method)
            if key not in self._protectors:
                overrides = {"steps": self.steps} if self.steps else {}
                settings = ProtectSettings(intensity=intensity, quality=quality, method=method, overrides=overrides)
                self._protectors[key] = Protector(settings, weights_dir=self.weights_dir, device=self.device)
            return self._protectors[key]

    def scratch(self) -> Path:
        """A new empty folder inside the queue's root for an upload in progress."""
        return Path(tempfile.mkdtemp(prefix="upload-", dir=self.root))

    def submit(self, folder: Path, inputs: list[tuple[str, str]], options: JobOptions) -> str:
        """Queue a job for ``inputs`` — (display name, file name inside ``folder``) — and return its id.

        ``folder`` (from :meth:`scratch`) becomes the job's folder and is deleted with the job.
        The oldest finished jobs are removed to stay within ``max_jobs`` and ``max_disk``; raises
        :class:`QueueFull` or :class:`StorageFull` when that is not enough (the caller deletes ``folder``).
        """
        job_id = secrets.token_hex(16)
        items = [Item(id=secrets.token_hex(8), name=name, input=folder / stored) for name, stored in inputs]
        job = Job(id=job_id, folder=folder, options=options, items=items)
        with self._cond:
            if self._closed:
                raise ConfigError("the server is shutting down")
            if len(self._queue) >= self.max_queued:
                raise QueueFull("The queue is full; wait for some jobs to finish, then try again.")
            finished = sorted((j for j in self._jobs.values() if j.status in ("done", "cancelled")), key=lambda j: j.touched)
            while finished and len(self._jobs) >= self.max_jobs:
                self.delete(finished.pop(0).id)
            while finished and disk_usage(self.root) > self.max_disk:
                self.delete(finished.pop(0).id)
            if disk_usage(self.root) > self.max_disk:
                raise StorageFull("The server's storage for jobs is full; wait for the running jobs to finish, or send fewer or smaller images.")
            self._jobs[job_id] = job
            self._queue.append(job)
            self._cond.notify_all()
        return job_id

    def status(self, job_id: str) -> dict | None:
        """A JSON-ready snapshot of the job, or None when it does not exist (any more)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.touched = time.monotonic()
            ahead = None
            if job.status == "queued":
                ahead = self._queue.index(job) + (self._running is not None)
            return {
                "id": job.id,
                "status": job.status,
                "ahead": ahead,
                "phase": job.phase,
                "options": asdict(job.options),
                "target_style": job.target_style,
                "items": [
                    {
                        "id": i.id,
                        "name": i.name,
                        "status": i.status,
                        "step": i.step,
                        "total": i.total,
                        "error": i.error,
                        "warning": i.warning,
                        "expected": i.expected,
                        "estimate": i.estimate,
                        "summary": i.summary,
                        "files": sorted(i.files),
                    }
                    for i in job.items
                ],
            }

    def file(self, job_id: str, item_id: str, kind: str) -> tuple[Path, str] | None:
        """(path, download name) of one of a finished image's files, or None."""
        with self._cond:
            job = self._jobs.get(job_id)
            item = next((i for i in job.items if i.id == item_id), None) if job else None
            if job is None or item is None or kind not in item.files:
                return None
            job.touched = time.monotonic()
            name = item.download_name if kind == "download" else f"{Path(item.name).stem}-{kind}.png"
            return item.files[kind], name

    def zip(self, job_id: str) -> Path | None:
        """Write a new zip of the job's protected images (the caller deletes it), or None when there are none."""
        with self._cond:
            job = self._jobs.get(job_id)
            done = [(i.files["download"], i.download_name) for i in job.items if "download" in i.files] if job else []
            if job is None or not done:
                return None
            job.touched = time.monotonic()
        path = job.folder / f"zip-{secrets.token_hex(8)}.zip"
        used: set[str] = set()
        try:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
                for source, name in done:
                    name = portable_name(name)
                    stem, suffix, n = Path(name).stem, Path(name).suffix, 1
                    while name in used:
                        n += 1
                        name = f"{stem}-{n}{suffix}"
                    used.add(name)
                    archive.write(source, name)
        except OSError:  # the job was deleted meanwhile
            path.unlink(missing_ok=True)
            return None
        return path

    def cancel(self, job_id: str) -> bool:
        """Stop a job: a queued one at once, a running one at its next optimisation step. False if unknown."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            job.cancel.set()
            if job.status == "queued":
                self._queue.remove(job)
                self._end(job)
            return True

    def delete(self, job_id: str) -> bool:
        """Cancel the job and delete its files (a running job's once the worker lets go). False if unknown."""
        with self._cond:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return False
            job.cancel.set()
            job.deleted = True
            if job in self._queue:
                self._queue.remove(job)
            if job is not self._running:
                shutil.rmtree(job.folder, ignore_errors=True)
            return True

    def sweep(self) -> None:
        """Delete finished jobs nobody has looked at for ``ttl`` seconds."""
        now = time.monotonic()
        with self._cond:
            stale = [j.id for j in self._jobs.values() if j.status in ("done", "cancelled") and now - j.touched >= self.ttl]
        for job_id in stale:
            self.delete(job_id)

    def close(self, timeout: float = 10.0) -> None:
        """Cancel everything, stop the worker and delete the queue's folder."""
        with self._cond:
            self._closed = True
            for job in self._jobs.values():
                job.cancel.set()
            self._cond.notify_all()
        self._thread.join(timeout)
        self._lock.release()  # first: Windows cannot delete a file that is held open
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        # Leave a core to the HTTP server (and the browser): with every core busy, torch's OpenMP
        # threads spin against the server's and both slow down many times over.
        torch.set_num_threads(max(1, cpu_cores() - 1))
        while (job := self._next()) is not None:
            try:
                run_job(self, job)
            except Exception:  # the worker must survive anything a job does
                log.exception("job %s failed", job.id)
                self.fail_rest(job, "unexpected server error; see the server's log")
            with self._cond:
                self._running = None
                self._end(job)
                if job.deleted:
                    shutil.rmtree(job.folder, ignore_errors=True)
            self.sweep()

    def _next(self) -> Job | None:
        with self._cond:
            while not self._queue and not self._closed:
                if not self._cond.wait(SWEEP_SECONDS):
                    self.sweep()  # the condition's lock is re-entrant
            if self._closed:
                return None
            job = self._running = self._queue.popleft()
            job.status = "running"
            return job

    def update(self, record: Job | Item, **changes: object) -> None:
        """Set fields of a job or one of its items under the queue's lock (the status readers see them whole)."""
        with self._cond:
            for key, value in changes.items():
                setattr(record, key, value)

    def fail_rest(self, job: Job, message: str) -> None:
        """Mark the job's unfinished items failed with ``message``."""
        with self._cond:
            for item in job.items:
                if item.status in ("queued", "running"):
                    item.status, item.error = "failed", message

    def _end(self, job: Job) -> None:
        """Mark a job finished (caller holds the lock); its expiry clock starts now.

        The uploads are no longer needed: deleted now, with the whole folder if nothing was finished.
        """
        for item in job.items:
            if item.status == "queued":
                item.status = "cancelled"
        cancelled = any(i.status == "cancelled" for i in job.items)
        job.status, job.phase, job.touched = "cancelled" if cancelled else "done", "", time.monotonic()
        if not any(i.files for i in job.items):
            shutil.rmtree(job.folder, ignore_errors=True)
            return
        for item in job.items:
            item.input.unlink(missing_ok=True)

    def public(self, message: str, job: Job, item: Item | None = None) -> str:
        """An error message with the server's file paths replaced by the user's names."""
        for other in job.items if item is None else [item]:
            message = message.replace(str(other.input), other.name)
        return message.replace(str(job.folder) + os.sep, "")
