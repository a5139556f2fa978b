"""The one protect → save → journal loop that the command line, the web app and the Ray engine share.

A :class:`Task` is one input file and the paths it writes, planned and checked by :mod:`stylecloak.plan`.
An engine does each task's work, :func:`protect_file` (load → protect → save atomically → views), in this
process (:class:`LocalEngine`) or on a Ray cluster (:class:`~stylecloak.engines.RayEngine`), and yields its
:class:`Outcome`; :func:`run` journals each finished file and reports every step as an event.
:func:`run_plan` runs a planned folder batch: it skips what the output folder's journal
(:mod:`stylecloak.io.journal`) says is done and claims the rest in the journal before any is written.
One bad file never stops a run: it becomes a failed item with a one-line error.

>>> protector = protector.with_settings(protector.resolve_target(["art/"], artist="me"))
>>> report = run_batch(["art/"], "protected/", protector, views=("preview",))
>>> [item.status for item in report.items]
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from PIL import Image

from .api import NO_TARGET, Protector, ProtectResult, provenance
from .cloak import Progress
from .errors import ConfigError, StylecloakError
from .io import (
    MAX_PIXELS,
    Journal,
    file_hash,
    frames_warning,
    load_image,
    save_png,
    to_pil,
)
from .plan import Plan, Task, plan_batch

log = logging.getLogger(__name__)

VIEWS = ("before", "after", "preview")
"""PNGs that can be written beside an output as ``NAME.KIND.png``: the original and the protected image as a
browser shows them, and what the model sees (original, cloaked, target side by side)."""


class Cancelled(Exception):
    """Raised by a progress callback to stop the image it reports on, and the run."""


@dataclass(frozen=True)
class Outcome:
    """What became of a task: the files written and the result's numbers, or the error."""

    task: Task
    output: Path | None = None
    views: dict[str, Path] = field(default_factory=dict)
    summary: dict | None = None
    """The result's numbers (:meth:`ProtectResult.summary`)."""
    error: str | None = None
    """One line naming the file and the fix."""
    cause: str | None = None
    """For callers that word failures their own way: ``save`` (writing the outputs failed), ``disk-full``
    (the same, for want of space) or ``unexpected`` (a bug); None for errors the message explains."""
    warning: str | None = None
    """A one-line warning about the input (e.g. only the first frame of an animation is used, or its XMP was too large
    for the output format and left out)."""
    cancelled: bool = False


def protect_file(protector: Protector, task: Task, *, progress: Progress | None = None, max_pixels: int = MAX_PIXELS) -> Outcome:
    """Every engine's per-image work: cloak ``task.input`` toward the settings' target style, save it atomically with its
    ``views`` (:data:`VIEWS`). Any error (a bad file, a full disk, running out of memory) becomes the
    outcome's ``error``, and whatever was written for this image is removed; :class:`Cancelled` from
    ``progress`` a cancelled outcome."""
    warning = None
    try:
        source = load_image(task.input, max_pixels=max_pixels)
        warning = frames_warning(source)
        result = protector.protect(source, progress=progress)
    except Cancelled:
        return Outcome(task, warning=warning, cancelled=True)
    except Exception as exc:
        log.debug("%s failed", task.input, exc_info=exc)
        return Outcome(task, error=describe(task.input, exc), cause=None if _explained(exc) else "unexpected", warning=warning)
    written: list[Path] = []
    notes = [warning] if warning else []
    try:
        written.append(result.save(task.output, warn=notes.append))
        for kind, path in task.views.items():
            written.append(save_png(render_view(result, kind), path))
    except Exception as exc:
        for path in written:
            path.unlink(missing_ok=True)
        log.debug("saving %s failed", task.output, exc_info=exc)
        return Outcome(task, error=describe(task.input, exc), cause="disk-full" if _disk_full(exc) else "save", warning=warning)
    return Outcome(task, written[0], dict(zip(task.views, written[1:])), result.summary(), warning="; ".join(notes) or None)


def render_view(result: ProtectResult, kind: str) -> Image.Image:
    """One of :data:`VIEWS` of a result; ``before``/``after`` keep alpha and bring CMYK and 16-bit to 8-bit RGB."""
    if kind == "preview":
        return result.preview()
    pil = to_pil(result.source, result.source.rgb if kind == "before" else result.cloaked)
    return pil if pil.mode in ("RGB", "RGBA", "L", "LA") else pil.convert("RGBA" if result.source.alpha is not None else "RGB")


def describe(path: Path, exc: Exception) -> str:
    """A one-line message naming the file, for any error a file can cause."""
    if isinstance(exc, StylecloakError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"{path}: file not found; check the path"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied; check the file's and the output folder's permissions"
    if isinstance(exc, OSError):
        hint = "free some disk space" if exc.errno == errno.ENOSPC else "check the path and the output folder"
        return f"{path}: {exc.strerror or exc}; {hint}"
    if _out_of_memory(exc):
        return f"{path}: not enough memory; close other programs or use a smaller image"
    return f"{path}: unexpected error ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); run with --verbose for details"


def _out_of_memory(exc: Exception) -> bool:
    return isinstance(exc, MemoryError) or any(m in str(exc).lower() for m in ("out of memory", "not enough memory"))  # torch's OOM is a RuntimeError


def _explained(exc: Exception) -> bool:
    return isinstance(exc, (StylecloakError, OSError)) or _out_of_memory(exc)


def _disk_full(exc: BaseException) -> bool:
    cause = exc if isinstance(exc, OSError) else exc.__cause__
    return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)


ProgressFactory = Callable[[Task], Progress]


class Engine(Protocol):
    def run(self, tasks: list[Task], *, on_start: Callable[[Task], None], progress_factory: ProgressFactory | None) -> Generator[Outcome, None, None]:
        """Cloak ``tasks``, yielding each outcome as it finishes (in any order)."""


class LocalEngine:
    """Images one after another in this process, with per-step progress; ``max_pixels`` caps each input."""

    def __init__(self, protector: Protector, *, max_pixels: int = MAX_PIXELS):
        self.protector, self.max_pixels = protector, max_pixels

    def run(self, tasks, *, on_start, progress_factory=None):
        for task in tasks:
            on_start(task)
            progress = progress_factory(task) if progress_factory else None
            yield protect_file(self.protector, task, progress=progress, max_pixels=self.max_pixels)


@dataclass
class BatchItem:
    """The outcome for one input file."""

    input: Path
    output: Path | None = None
    status: str = "pending"
    """"done", "skipped" (already done by an earlier run), "failed" or "cancelled"."""
    error: str | None = None
    cause: str | None = None
    """:attr:`Outcome.cause` of a failure."""
    warning: str | None = None
    summary: dict | None = None
    """The result's numbers (:meth:`ProtectResult.summary`), from any engine."""
    views: dict[str, Path] = field(default_factory=dict)

    def record(self) -> dict:
        data = {"input": str(self.input), "output": str(self.output) if self.output else None, "status": self.status}
        if self.error:
            data["error"] = self.error
        if self.warning:
            data["warning"] = self.warning
        if self.summary is not None:
            data.update({k: v for k, v in self.summary.items() if k != "input"})
        data.update({kind: str(path) for kind, path in self.views.items()})
        return data


@dataclass
class BatchReport:
    items: list[BatchItem] = field(default_factory=list)
    target_style: str | None = None

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "failed"]


Event = Callable[[str, BatchItem, int, int], None]
"""Called with ("start" | "warning" | "done" | "skipped" | "failed" | "cancelled", item, index, total)."""


def run(
    items: list[BatchItem],
    tasks: list[Task],
    engine: Engine,
    *,
    journal: Journal | None = None,
    record: dict[str, str] | None = None,
    on_event: Event | None = None,
    progress_factory: Callable[[BatchItem, int], Progress] | None = None,
) -> None:
    """Cloak ``tasks`` (``task.index`` is the position of its item in ``items``) with ``engine``; journal each
    finished file (``task.digest``) with ``record``, its :func:`~stylecloak.api.provenance`, when both are given; set
    every item's outcome and report it to ``on_event``; ``progress_factory(item, index)`` gives an image's per-step
    progress where the engine reports it. A cancelled image ends the run."""
    emit = on_event or (lambda *a: None)

    def started(task: Task) -> None:
        emit("start", items[task.index], task.index, len(items))

    progress = None if progress_factory is None else (lambda task: progress_factory(items[task.index], task.index))
    outcomes = engine.run(tasks, on_start=started, progress_factory=progress)
    for outcome in outcomes:
        index = outcome.task.index
        item = items[index]
        if outcome.warning:
            item.warning = outcome.warning
            emit("warning", item, index, len(items))
        if outcome.cancelled:
            item.status = "cancelled"
            emit("cancelled", item, index, len(items))
            outcomes.close()
            return
        if outcome.error is None and journal is not None and record is not None and outcome.task.digest is not None and outcome.output is not None:
            try:
                journal.add(outcome.task.digest, outcome.output, record, outcome.views)
            except OSError as exc:
                outcome = Outcome(outcome.task, error=f"{journal.path}: cannot record {outcome.output} ({exc}); check the output folder", cause="save")
        if outcome.error is not None:
            _fail(item, outcome.error, outcome.cause, emit, index, len(items))
            continue
        item.status, item.output, item.views, item.summary = "done", outcome.output, outcome.views, outcome.summary
        emit("done", item, index, len(items))


def run_batch(
    inputs: list[str | Path],
    out_dir: str | Path,
    protector: Protector,
    *,
    views: Sequence[str] = (),
    view_dir: str | Path | None = None,
    on_event: Event | None = None,
    progress_factory: Callable[[BatchItem, int], Progress] | None = None,
    engine: Engine | None = None,
) -> BatchReport:
    """Protect every image under ``inputs`` into ``out_dir`` (mirrored), ``views`` under ``view_dir``: the plan
    (:func:`~stylecloak.plan.plan_batch`, which raises :class:`~stylecloak.plan.PlanError`), then :func:`run_plan`."""
    plan = plan_batch(inputs, out_dir, views=views, view_dir=view_dir)
    return run_plan(plan, protector, on_event=on_event, progress_factory=progress_factory, engine=engine)


def run_plan(
    plan: Plan,
    protector: Protector,
    *,
    on_event: Event | None = None,
    progress_factory: Callable[[BatchItem, int], Progress] | None = None,
    engine: Engine | None = None,
) -> BatchReport:
    """Protect a planned batch toward the target style its settings carry (:meth:`Protector.resolve_target`),
    skipping files already done with the same settings.

    ``engine`` does the cloaking (default: :class:`LocalEngine` on ``protector``); ``progress_factory`` gives
    per-step progress where the engine reports it.
    """
    if protector.settings.target_style is None:
        raise ConfigError(NO_TARGET)
    journal = plan.journal
    record = provenance(protector.settings)
    report = BatchReport(target_style=protector.settings.target_style)
    emit = on_event or (lambda *a: None)
    tasks = []
    for planned in plan.tasks:
        index, path = planned.index, planned.input
        item = BatchItem(input=path, output=planned.output)
        report.items.append(item)
        try:
            digest = file_hash(path)
        except OSError as exc:  # one bad file must not stop the batch
            _fail(item, describe(path, exc), None, emit, index, len(plan.tasks))
            continue
        if journal.finished(digest, record["settings"], planned.output) and all(v.exists() for v in planned.views.values()):
            item.status = "skipped"
            emit("skipped", item, index, len(plan.tasks))
            continue
        tasks.append(replace(planned, digest=digest))
    try:
        journal.claim([path for task in tasks for path in task.files()])
    except OSError as exc:
        for task in tasks:
            _fail(
                report.items[task.index],
                f"{journal.claims}: cannot be written ({exc}); check the output folder's permissions",
                "save",
                emit,
                task.index,
                len(plan.tasks),
            )
        return report
    run(report.items, tasks, engine or LocalEngine(protector), journal=journal, record=record, on_event=on_event, progress_factory=progress_factory)
    return report


def _fail(item: BatchItem, error: str, cause: str | None, emit: Event, index: int, total: int) -> None:
    item.status, item.error, item.cause = "failed", error, cause
    emit("failed", item, index, total)
