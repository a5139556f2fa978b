"""The web app's job queue: uploads wait in FIFO order and ONE worker thread cloaks them.

A single worker means two uploads can never run at once and exhaust the machine. Every job lives
in its own folder inside the server's private work folder, under generated names only; the folder is
removed when the job is deleted, when it has been left alone for ``ttl`` seconds after finishing, when
newer jobs need the room (at most ``max_jobs`` jobs; uploads reserve their bytes within ``max_disk``
while they stream, :mod:`.storage`), and when the queue closes. A finished job's uploads are deleted at
once, and a cancelled job's whole folder unless it finished some images. Folders of servers that died
without cleaning up are removed at the next start (:mod:`.folders`). What the worker does with a job
is :func:`~.execute.run_job`.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections import deque
from pathlib import Path

import torch

from ..api import Protector
from ..cloak.pace import probe
from ..config import DEFAULT_METHOD, ProtectSettings
from ..device import cpu_cores
from ..errors import ConfigError, StylecloakError
from ..io.read import WEB_MAX_PIXELS
from .archive import write_zip
from .execute import run_job
from .folders import work_folder
from .records import ACTIVE, Arrival, Item, Job, JobOptions
from .storage import Reservation, Storage
from .timing import Pace

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0


class QueueFull(StylecloakError):
    """Too many jobs are waiting."""


class JobQueue:
    """FIFO queue of jobs served by one worker thread; call :meth:`close` to stop it and delete all files."""

    def __init__(
        self,
        *,
        weights_dir: str | Path | None = None,
        profile_dir: str | Path | None = None,
        steps: int | None = None,
        max_pixels: int = WEB_MAX_PIXELS,
        max_queued: int = 16,
        max_jobs: int = 64,
        max_disk: int = 4 * 1024**3,
        max_uploads: int = 4,
        ttl: float = 3600.0,
        device: str = "auto",
        work_dir: str | Path | None = None,
    ):
        self.weights_dir = weights_dir
        self.device = device
        self.profile_dir = Path(profile_dir) if profile_dir else None
        self.steps = steps
        self.max_pixels = max_pixels
        self.max_queued = max_queued
        self.max_jobs = max(max_jobs, max_queued + 1)
        self.ttl = ttl
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._protectors: dict[tuple[str, str, str], Protector] = {}
        self._load_lock = threading.Lock()
        self.pace = Pace(ProtectSettings().cloak.work_size)
        self.storage = Storage(work_folder(work_dir), max_bytes=max_disk, max_uploads=max_uploads, evict=self._evict)
        self.root = self.storage.root
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

    def begin_upload(self) -> Reservation:
        """An empty folder inside the queue's root for an upload in progress, and its room on disk."""
        return self.storage.begin()

    def submit(self, folder: Path, arrivals: list[Arrival], options: JobOptions) -> str:
        """Queue a job for the files of ``arrivals`` inside ``folder`` and return its id; those refused at upload
        are failed items from the start (their files deleted now) and the worker skips them.

        ``folder`` (from :meth:`begin_upload`) becomes the job's folder and is deleted with the job.
        The oldest finished jobs are removed to stay within ``max_jobs``; raises :class:`QueueFull`
        when the queue is full (the caller deletes ``folder``).
        """
        job_id = secrets.token_hex(16)
        items = [self._item(folder, arrival) for arrival in arrivals]
        job = Job(id=job_id, folder=folder, options=options, items=items)
        with self._cond:
            if self._closed:
                raise ConfigError("the server is shutting down")
            if len(self._queue) >= self.max_queued:
                raise QueueFull("The queue is full; wait for some jobs to finish, then try again.")
            finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.touched)
            while finished and len(self._jobs) >= self.max_jobs:
                self.delete(finished.pop(0).id)
            self._jobs[job_id] = job
            self._queue.append(job)
            self._cond.notify_all()
        for item in items:
            if item.status == "failed":
                item.input.unlink(missing_ok=True)
        return job_id

    @staticmethod
    def _item(folder: Path, arrival: Arrival) -> Item:
        status = "failed" if arrival.error else "queued"
        return Item(secrets.token_hex(8), arrival.name, folder / arrival.stored, arrival.width, arrival.height, status, error=arrival.error)

    def preset_steps(self, options: JobOptions) -> int:
        """Optimisation steps an image of a job with ``options`` takes (before any second round)."""
        overrides = {"steps": self.steps} if self.steps else {}
        return ProtectSettings(intensity=options.intensity, quality=options.quality, method=options.method, overrides=overrides).cloak.steps

    def statuses(self, job_ids: list[str]) -> list[dict]:
        """The status of each of ``job_ids`` that still exists, in that order."""
        return [s for s in map(self.status, job_ids) if s is not None]

    def status(self, job_id: str) -> dict | None:
        """A JSON-ready snapshot of the job with the seconds it has left, or None when it does not exist (any more)."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.touched = time.monotonic()
            ahead = self._queue.index(job) + (self._running is not None) if job.status == "queued" else None
            data = job.snapshot(ahead)
        left = self.pace.left(job, self.preset_steps(job.options)) if not job.finished else None
        return {**data, "seconds_left": left}

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
        return write_zip(job.folder, done)

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
            stale = [j.id for j in self._jobs.values() if j.finished and now - j.touched >= self.ttl]
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
        self.storage.close()

    def _evict(self) -> bool:
        """Delete the finished job untouched the longest; False when no job is finished."""
        with self._cond:
            finished = [j for j in self._jobs.values() if j.finished]
            if not finished:
                return False
            self.delete(min(finished, key=lambda j: j.touched).id)
            return True

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
        # Leave a core to the HTTP server (and the browser): with every core busy, torch's OpenMP
        # threads spin against the server's and both slow down many times over.
        torch.set_num_threads(max(1, cpu_cores() - 1))
        self._probe()
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

    def _probe(self) -> None:
        """Load the default models and measure this machine's pace (:func:`~stylecloak.cloak.pace.probe`), so the page
        estimates times before the first image has finished; a failure here is the first job's to report."""
        try:
            protector = self.protector("default", "default")
            self.pace.probed(probe(protector.backbones, protector.cloak_settings, protector.device))
        except StylecloakError as exc:  # a setting's error: the server or the first job reports it in its own words
            log.debug("no speed probe: %s", exc)
        except Exception as exc:  # the worker must survive a failed probe: jobs then report what failed
            log.warning("no speed probe: %s", exc)

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
                if item.status in ACTIVE:
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
