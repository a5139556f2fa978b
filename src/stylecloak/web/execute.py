"""Running one web job: choose the target style, then the runner's loop over its images.

The queue (:mod:`.jobs`) calls :func:`run_job` from its one worker thread; the runner's events set progress
and results on the job's records under the queue's lock, so the status the page polls is always whole.
Error messages name the user's files, never the server's paths.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import StylecloakError
from ..io import IMAGE_EXTENSIONS, load_image
from ..runner import VIEWS, BatchItem, Cancelled, LocalEngine, Task, run
from ..styles import default_profile_path
from .records import AUTO, Item, Job

if TYPE_CHECKING:
    from ..api import Protector

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    """What a job's run needs of the queue (:class:`~.jobs.JobQueue`): its protectors, limits and locked updates."""

    max_pixels: int
    profile_dir: Path | None

    def protector(self, intensity: str, quality: str, method: str) -> Protector: ...
    def update(self, record: Job | Item, **changes: object) -> None: ...
    def fail_rest(self, job: Job, message: str) -> None: ...
    def public(self, message: str, job: Job, item: Item | None = None) -> str: ...


def run_job(queue: JobQueue, job: Job) -> None:
    """Protect every image of ``job`` with its options; failures are recorded per image."""
    try:
        protector = queue.protector(job.options.intensity, job.options.quality, job.options.method)
        style = protector.method.target_label(job.options.style)
        if style == AUTO:
            queue.update(job, phase=f"choosing the target style for artist {job.options.artist!r} (first time: about a minute)")
            inputs = [item.input for item in job.items]
            style = protector.choose_target(inputs, artist=job.options.artist, profile=_profile(queue, job.options.artist), max_pixels=queue.max_pixels).target_style
        queue.update(job, phase="", target_style=style)
    except StylecloakError as exc:
        queue.fail_rest(job, queue.public(str(exc), job))
        return
    if protector.method.calibrated:
        _estimate(queue, job, protector, style)
    tasks = [Task(index, item.input, _download(job, item.id, item.name)) for index, item in enumerate(job.items)]
    steps = protector.cloak_settings.steps

    def on_event(kind: str, entry: BatchItem, index: int, total: int) -> None:
        item = job.items[index]
        if kind == "start":
            queue.update(item, status="running", total=steps)
        elif kind == "warning":
            queue.update(item, warning=queue.public(entry.warning or "", job, item))
        elif kind == "done":
            summary = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in (entry.summary or {}).items() if k != "input"}
            queue.update(item, status="done", files={"download": entry.output, **entry.views}, summary=summary)
        elif kind == "failed":
            queue.update(item, status="failed", error=_message(queue, job, index, entry))
        elif kind == "cancelled":
            queue.update(item, status="cancelled")

    def progress_factory(entry: BatchItem, index: int):
        item = job.items[index]

        def progress(step: int, total: int, info: dict) -> None:
            if job.cancel.is_set():
                raise Cancelled
            queue.update(item, step=step, total=total)

        return progress

    items = [BatchItem(input=item.input) for item in job.items]
    run(items, tasks, LocalEngine(protector, max_pixels=queue.max_pixels), style, views=VIEWS, on_event=on_event, progress_factory=progress_factory)


def _estimate(queue: JobQueue, job: Job, protector: Protector, style: str) -> None:
    """Before protecting: each image's expected TP from a quick trial cloak, and its warnings (a bad file is left
    for the protect step to report)."""
    queue.update(job, phase="checking how well each image can be protected (a few seconds an image)")
    for item in job.items:
        if job.cancel.is_set():
            break
        try:
            assessment = protector.estimate(load_image(item.input, max_pixels=queue.max_pixels), style)
        except StylecloakError:
            continue
        queue.update(item, expected=assessment.expected(job.options.intensity), estimate=assessment.warnings(job.options.intensity))
    queue.update(job, phase="")


def _download(job: Job, item_id: str, name: str) -> Path:
    """Where an image's protected copy goes: generated name, the user's image format."""
    suffix = Path(name).suffix.lower()
    return job.folder / f"{item_id}{suffix if suffix in IMAGE_EXTENSIONS else '.png'}"


def _message(queue: JobQueue, job: Job, index: int, entry: BatchItem) -> str:
    """A failure in the user's words: their file's name, the server's disk, the server's log."""
    item = job.items[index]
    if entry.cause in ("save", "disk-full", "unexpected"):
        log.warning("protecting %s (%s) failed: %s", item.name, item.id, entry.error)
    if entry.cause == "disk-full":
        return f"{item.name}: the server's disk is full, so the protected copy could not be saved; free some space and try again"
    if entry.cause == "save":
        return f"{item.name}: the protected copy could not be saved; see the server's log"
    if entry.cause == "unexpected":
        return f"{item.name}: unexpected error; see the server's log"
    return queue.public(entry.error or "", job, item)


def _profile(queue: JobQueue, artist: str) -> Path | None:
    return queue.profile_dir / default_profile_path(artist).name if queue.profile_dir else None
