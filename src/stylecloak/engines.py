"""Where a batch's images are cloaked: one after another in this process, or spread over a Ray cluster.

Both engines run the same per-image work, :func:`protect_file` (protect → save atomically → preview);
:mod:`stylecloak.batch` plans the batch, skips what its journal says is done and journals what
finishes, in the driver only. The Ray engine loads the models once per worker (a Ray actor), retries
an image whose worker died, and needs inputs and outputs on a filesystem every node sees.

>>> with RayEngine(ProtectorSpec(settings, weights_dir="models"), workers=4) as engine:
...     report = run_batch(["art/"], "protected/", protector, "woodcut", engine=engine)
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import torch

from .api import Protector, ProtectResult
from .cloak import Progress
from .config import ProtectSettings
from .errors import ConfigError, StylecloakError
from .io import frames_warning, load_image, save_png
from .styles import Style

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Task:
    """One image to cloak: ``index`` in the batch, the input file and the (mirrored) output path."""

    index: int
    input: Path
    output: Path


@dataclass(frozen=True)
class Outcome:
    """What became of a task: the files written and the result's numbers, or the error."""

    task: Task
    output: Path | None = None
    preview: Path | None = None
    summary: dict | None = None
    error: str | None = None
    warning: str | None = None
    """A one-line warning about the input (e.g. only the first frame of an animation is used)."""
    result: ProtectResult | None = None
    """The full result (models, tensors): local engine only, never sent between processes."""


def protect_file(protector: Protector, task: Task, style: str, *, preview: bool = False, progress: Progress | None = None) -> Outcome:
    """The per-image work of every engine: cloak ``task.input``, save it atomically, optionally its preview.
    Any error (a bad file, a full disk, running out of memory) becomes the outcome's one-line ``error``."""
    warning = None
    try:
        source = load_image(task.input)
        warning = frames_warning(source)
        result = protector.protect(source, style, progress)
        output = result.save(task.output)
        shown = save_png(result.preview(), output.with_name(output.stem + ".preview.png")) if preview else None
        return Outcome(task, output, shown, result.summary(), warning=warning, result=result)
    except Exception as exc:
        log.debug("%s failed", task.input, exc_info=exc)
        return Outcome(task, error=describe(task.input, exc), warning=warning)


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
    if isinstance(exc, MemoryError) or any(m in str(exc).lower() for m in ("out of memory", "not enough memory")):  # torch's OOM is a RuntimeError
        return f"{path}: not enough memory; close other programs or use a smaller image"
    return f"{path}: unexpected error ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); run with --verbose for details"


ProgressFactory = Callable[[Task], Progress]


class Engine(Protocol):
    def run(self, tasks: list[Task], style: str, *, preview: bool, on_start: Callable[[Task], None], progress_factory: ProgressFactory | None) -> Iterator[Outcome]:
        """Cloak ``tasks``, yielding each outcome as it finishes (in any order)."""


class LocalEngine:
    """Images one after another in this process, with per-step progress."""

    def __init__(self, protector: Protector):
        self.protector = protector

    def run(self, tasks, style, *, preview, on_start, progress_factory=None):
        for task in tasks:
            on_start(task)
            yield protect_file(self.protector, task, style, preview=preview, progress=progress_factory(task) if progress_factory else None)


@dataclass(frozen=True)
class ProtectorSpec:
    """How to build a :class:`Protector` in another process: settings, weights folder, user styles, device."""

    settings: ProtectSettings
    weights_dir: Path | None = None
    styles: dict[str, Style] | None = None
    device: str = "auto"

    def build(self) -> Protector:
        return Protector(self.settings, weights_dir=self.weights_dir, styles=self.styles, device=self.device)

    def absolute(self) -> ProtectorSpec:
        """The same spec with absolute paths (a Ray worker's working folder is not the driver's)."""
        styles = {n: replace(s, folder=s.folder and s.folder.absolute(), files=tuple(f.absolute() for f in s.files)) for n, s in (self.styles or {}).items()}
        return replace(self, weights_dir=self.weights_dir and Path(self.weights_dir).absolute(), styles=styles or None)


class _Worker:
    """A Ray actor: loads the models once, then cloaks one image per call."""

    def __init__(self, spec: ProtectorSpec, threads: int):
        torch.set_num_threads(threads)
        self.protector = spec.build()

    def protect(self, task: Task, style: str, preview: bool) -> Outcome:
        return replace(protect_file(self.protector, task, style, preview=preview), result=None)


class RayEngine:
    """Images spread over Ray actors, ``workers`` of them, each with its own copy of the models.

    Without ``address`` a local Ray is started (and stopped on exit) with one CPU per core; with it,
    an existing cluster is joined (``"auto"``, or ``HOST:PORT`` of ``ray start --head``). Default
    ``workers``: one per two of the cluster's CPUs. A worker that dies mid-image is restarted and the
    image retried, up to ``retries`` times; with ``device="cuda"`` each worker takes one GPU.

    ``threads`` is PyTorch's thread count in each worker. CPU results depend on it in the last bits
    (the reductions inside convolutions are split per thread), so the default is this process's own
    count, the one the local engine uses: the same bytes as ``--engine local`` on this machine. Each
    worker reserves its share of the CPUs from Ray's scheduler (at most ``threads``); where
    ``workers × threads`` exceeds the cores, pass a smaller ``threads`` (and the same ``--threads``
    to a local run whose bytes should match).
    """

    def __init__(self, spec: ProtectorSpec, *, address: str | None = None, workers: int | None = None, threads: int | None = None, retries: int = 3):
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers {workers}: give at least 1")
        if threads is not None and threads < 1:
            raise ConfigError(f"--threads {threads}: give at least 1")
        self.spec = spec.absolute()
        self.address, self.workers, self.threads, self.retries = address, workers, threads, retries
        self.actors: list = []
        self._started = False

    def __enter__(self) -> RayEngine:  # noqa: PYI034 -- typing.Self needs Python 3.11
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(f"the Ray engine needs the 'ray' extra ({exc.name} is missing); install it with: pip install 'stylecloak[ray]'") from None
        if not ray.is_initialized():
            try:
                if self.address:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                else:
                    ray.init(num_cpus=cpu_cores(), include_dashboard=False, log_to_driver=False, configure_logging=False)
            except ConnectionError as exc:
                raise ConfigError(f"--address {self.address}: cannot connect to a Ray cluster ({exc}); start one with `ray start --head` or leave out --address") from None
            self._started = True
        cpus = ray.cluster_resources().get("CPU", 1.0)
        workers = self.workers or max(1, int(cpus) // 2)
        threads = self.threads or torch.get_num_threads()
        share = round(min(threads, cpus / workers), 4)
        gpus = 1 if self.spec.device.startswith("cuda") else 0
        actor = ray.remote(num_cpus=share, num_gpus=gpus, max_restarts=self.retries, max_task_retries=self.retries)(_Worker)
        self.actors = [actor.remote(self.spec, threads) for _ in range(workers)]
        return self

    def __exit__(self, *exc) -> None:
        import ray

        for a in self.actors:
            ray.kill(a)
        self.actors = []
        if self._started:
            ray.shutdown()
            self._started = False

    def run(self, tasks, style, *, preview, on_start, progress_factory=None):
        """Keep every worker busy with one image; yield outcomes as they finish. Per-step progress is not reported."""
        import ray
        from ray.exceptions import ActorDiedError, RayError

        if not self.actors:
            raise RuntimeError("use RayEngine as a context manager: with RayEngine(spec) as engine: ...")
        todo, idle, running = list(reversed(tasks)), list(self.actors), {}
        while todo or running:
            while todo and idle:
                task, actor = todo.pop(), idle.pop()
                sent = replace(task, input=task.input.absolute(), output=task.output.absolute())
                running[actor.protect.remote(sent, style, preview)] = (task, actor)
                on_start(task)
            [ref], _ = ray.wait(list(running), num_returns=1)
            task, actor = running.pop(ref)
            try:
                outcome = _local_paths(ray.get(ref), task)
                idle.append(actor)
            except ActorDiedError as exc:  # restarted and retried `retries` times: this worker is gone
                outcome = Outcome(task, error=f"{task.input}: its Ray worker died {self.retries + 1} times ({_last_line(exc)})")
                if not idle and not running:
                    yield from (Outcome(t, error=f"{t.input}: no Ray worker left ({_last_line(exc)})") for t in reversed(todo))
                    todo = []
            except RayError as exc:
                outcome = Outcome(task, error=f"{task.input}: {_last_line(exc)}")
                idle.append(actor)
            yield outcome


def cpu_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _local_paths(outcome: Outcome, task: Task) -> Outcome:
    """The outcome with the driver's own paths (the worker was sent absolute ones)."""

    def back(p: Path | None) -> Path | None:
        return task.output.parent / p.name if p is not None else None

    return replace(outcome, task=task, output=back(outcome.output), preview=back(outcome.preview))


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
