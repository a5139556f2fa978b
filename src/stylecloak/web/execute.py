"""Running one web job: choose the target style, then the runner's loop over its images, then what survives a re-upload.

The queue (:mod:`.jobs`) calls :func:`run_job` from its one worker thread and passes itself as the
:class:`Queue` this module needs; the runner's events set progress and results on the job's records under the
queue's lock, so the status the page polls is always whole. Images refused at upload are already failed and
are skipped. Error messages name the user's files, never the server's paths.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..audit.reupload import after_reupload, short_audit
from ..config import MIMIC_SIZES
from ..errors import StylecloakError
from ..io import IMAGE_EXTENSIONS, load_image
from ..plan import Task, check_plan, view_paths
from ..runner import VIEWS, BatchItem, Cancelled, LocalEngine, run
from ..styles import find_profile
from ..verdict import AFTER_REUPLOAD
from .records import AUTO, Item, Job
from .timing import Pace

if TYPE_CHECKING:
    from ..api import Protector

log = logging.getLogger(__name__)


class Queue(Protocol):
    """What a job's run needs of the queue (:class:`~.jobs.JobQueue`): its protectors, settings and locked updates."""

    max_pixels: int
    profile_dir: Path | None
    weights_dir: str | Path | None
    device: str
    pace: Pace

    def protector(self, intensity: str, quality: str, method: str) -> Protector: ...
    def update(self, record: Job | Item, **changes: object) -> None: ...
    def fail_rest(self, job: Job, message: str) -> None: ...


def run_job(queue: Queue, job: Job) -> None:
    """Protect every image of ``job`` that was accepted at upload; failures are recorded per image."""
    todo = [index for index, item in enumerate(job.items) if item.status == "queued"]
    tasks = [_task(job, index) for index in todo]
    try:
        check_plan(tasks)  # generated names in a private folder: a refusal here is a bug
    except StylecloakError as exc:
        log.error("job %s: %s", job.id, exc)
        queue.fail_rest(job, "the server could not plan its files; see the server's log")
        return
    protector = _prepare(queue, job)
    if protector is None:
        return
    if protector.method.calibrated:
        _estimate(queue, job, protector)
    items = [BatchItem(input=item.input) for item in job.items]
    engine = LocalEngine(protector, max_pixels=queue.max_pixels)
    run(items, tasks, engine, on_event=_events(queue, job, protector), progress_factory=_progress(queue, job))


def _prepare(queue: Queue, job: Job) -> Protector | None:
    """The job's protector, its settings holding the target style (chosen from the artist profile for "auto");
    None when that failed."""
    options = job.options
    try:
        protector = queue.protector(options.intensity, options.quality, options.method)
        style = None if options.style == AUTO else options.style
        protector = protector.with_settings(replace(protector.settings, metadata=options.metadata, optout=options.optout, target_style=style))
        if protector.settings.target_style is None:
            queue.update(job, phase=f"choosing the target style for artist {options.artist!r} (first time: about a minute)")
            inputs = [item.input for item in job.items if item.status == "queued"]
            profile = find_profile(options.artist, queue.profile_dir) if queue.profile_dir else None
            protector = protector.with_settings(protector.resolve_target(inputs, artist=options.artist, profile=profile, max_pixels=queue.max_pixels))
        queue.update(job, phase="", target_style=protector.settings.target_style)
    except StylecloakError as exc:
        queue.fail_rest(job, job.public(str(exc)))
        return None
    return protector


def _events(queue: Queue, job: Job, protector: Protector) -> Callable[[str, BatchItem, int, int], None]:
    """The runner's events on the job's records."""
    steps, style = protector.cloak_settings.steps, protector.settings.decided_style

    def on_event(kind: str, entry: BatchItem, index: int, total: int) -> None:
        item = job.items[index]
        if kind == "start":
            queue.update(item, status="running", total=steps, started=time.monotonic())
        elif kind == "warning":
            queue.update(item, warning=job.public(entry.warning or "", item))
        elif kind == "done":
            summary = finite({k: v for k, v in (entry.summary or {}).items() if k != "input"})
            queue.pace.add(item)
            queue.update(item, status="checking", files={"download": entry.output, **entry.views}, summary=summary)
            _check(queue, job, item, style)
        elif kind == "failed":
            queue.update(item, status="failed", error=_message(job, item, entry))
        elif kind == "cancelled":
            queue.update(item, status="cancelled")

    return on_event


def _progress(queue: Queue, job: Job) -> Callable[[BatchItem, int], Callable[[int, int, dict], None]]:
    def factory(entry: BatchItem, index: int) -> Callable[[int, int, dict], None]:
        item = job.items[index]

        def progress(step: int, total: int, info: dict) -> None:
            if job.cancel.is_set():
                raise Cancelled
            queue.update(item, step=step, total=total)

        return progress

    return factory


def _check(queue: Queue, job: Job, item: Item, style: str) -> None:
    """After protecting: the TP left after a re-upload's clean-ups (:mod:`stylecloak.audit.reupload`), for the gauge.

    Where the check cannot run (or the job is cancelled meanwhile), the image stays protected and is judged
    on its own numbers."""

    def stop(label: str, done: int, total: int) -> None:
        if job.cancel.is_set():
            raise Cancelled

    summary = dict(item.summary or {})
    try:
        checked = short_audit(item.input, item.files["download"], style, MIMIC_SIZES, queue.weights_dir, stop, method=job.options.method, device=queue.device)
        summary[AFTER_REUPLOAD] = after_reupload(checked)
    except (StylecloakError, Cancelled) as exc:
        log.warning("%s: the re-upload check did not run (%s)", item.name, job.public(str(exc), item) or "cancelled")
    queue.update(item, status="done", summary=summary)


def _estimate(queue: Queue, job: Job, protector: Protector) -> None:
    """Before protecting: each image's expected TP from a quick trial cloak, and its warnings (a bad file is left
    for the protect step to report)."""
    queue.update(job, phase="checking how well each image can be protected (a few seconds an image)")
    for item in job.items:
        if job.cancel.is_set():
            break
        if item.status != "queued":
            continue
        try:
            assessment = protector.estimate(load_image(item.input, max_pixels=queue.max_pixels))
        except StylecloakError:
            continue
        queue.update(item, expected=assessment.expected(job.options.intensity), estimate=assessment.warnings(job.options.intensity))
    queue.update(job, phase="")


def _task(job: Job, index: int) -> Task:
    """Where an image's protected copy goes (generated name, the user's image format) and its views beside it."""
    item = job.items[index]
    suffix = Path(item.name).suffix.lower()
    download = Path(f"{item.id}{suffix if suffix in IMAGE_EXTENSIONS else '.png'}")
    return Task(index, item.input, job.folder / download, views=view_paths(job.folder, download, VIEWS))


def _message(job: Job, item: Item, entry: BatchItem) -> str:
    """A failure in the user's words: their file's name, the server's disk, the server's log."""
    if entry.cause in ("save", "disk-full", "unexpected"):
        log.warning("protecting %s (%s) failed: %s", item.name, item.id, entry.error)
    if entry.cause == "disk-full":
        return f"{item.name}: the server's disk is full, so the protected copy could not be saved; free some space and try again"
    if entry.cause == "save":
        return f"{item.name}: the protected copy could not be saved; see the server's log"
    if entry.cause == "unexpected":
        return f"{item.name}: unexpected error; see the server's log"
    return job.public(entry.error or "", item)


def finite(value):
    """``value`` with every non-finite float (e.g. PSNR inf of an unchanged image), at any depth, as None: JSON has no inf."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value
