"""The cluster engine: a batch's images spread over Ray actors (this process's engine is
:class:`~stylecloak.runner.LocalEngine`).

Each worker runs the runner's per-image work, :func:`~stylecloak.runner.protect_file` (protect → save
atomically → views); :mod:`stylecloak.runner` plans the batch, skips what its journal says is done and
journals what finishes, in the driver only. The Ray engine loads the models once per worker (a Ray
actor), retries an image whose worker died, and needs inputs and outputs on a filesystem every node sees.

>>> protector = protector.with_settings(protector.resolve_target(["art/"], artist="me"))
>>> with RayEngine(ProtectorSpec(protector.settings, weights_dir="models"), workers=4) as engine:
...     report = run_batch(["art/"], "protected/", protector, engine=engine)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .api import Protector
from .config import ProtectSettings
from .device import cpu_cores
from .errors import ConfigError
from .runner import Outcome, Task, protect_file
from .styles import Style

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ProtectorSpec:
    """How to build a :class:`Protector` in another process: settings (their target style decided by
    :meth:`Protector.resolve_target`), weights folder, user styles, device."""

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

    def protect(self, task: Task) -> Outcome:
        return protect_file(self.protector, task)


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
                # workers' OpenMP threads wait passively, as the CLI's do: several workers share a machine's cores
                env = {"env_vars": {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}}
                if self.address:
                    ray.init(address=self.address, runtime_env=env, log_to_driver=False, configure_logging=False)
                else:
                    ray.init(num_cpus=cpu_cores(), include_dashboard=False, runtime_env=env, log_to_driver=False, configure_logging=False)
            except ConnectionError as exc:
                raise ConfigError(
                    f"--address {self.address}: cannot connect to a Ray cluster ({exc}); start one with `ray start --head` or leave out --address"
                ) from None
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

    def run(self, tasks, *, on_start, progress_factory=None):
        """Keep every worker busy with one image; yield outcomes as they finish. Per-step progress is not reported."""
        import ray
        from ray.exceptions import ActorDiedError, RayError

        if not self.actors:
            raise RuntimeError("use RayEngine as a context manager: with RayEngine(spec) as engine: ...")
        todo, idle = list(reversed(tasks)), list(self.actors)
        running: dict = {}  # object ref -> (task, actor)
        while todo or running:
            while todo and idle:
                task, actor = todo.pop(), idle.pop()
                sent = replace(task, input=task.input.absolute(), output=task.output.absolute(), views={k: v.absolute() for k, v in task.views.items()})
                running[actor.protect.remote(sent)] = (task, actor)
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


def _local_paths(outcome: Outcome, task: Task) -> Outcome:
    """The outcome with the driver's own paths (the worker was sent absolute ones)."""

    output = task.output if outcome.output is not None else None
    return replace(outcome, task=task, output=output, views={k: task.views[k] for k in outcome.views})


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
