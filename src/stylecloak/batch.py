"""Batch runs: walk folders, mirror them under the output folder, resume after a kill, never stop on a bad file.

A journal (``OUT/.stylecloak/done.jsonl``) records each finished file by input content hash and
settings hash; a later run with the same settings skips those files. Outputs are written atomically,
so a killed run leaves either the old state or the finished file, never a partial one. The images
themselves are cloaked by an engine (:mod:`stylecloak.engines`: this process, or a Ray cluster); the
journal is written here, by the driver only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .api import Protector, ProtectResult, settings_dict
from .engines import Engine, LocalEngine, Outcome, Task
from .errors import StylecloakError
from .imageio import iter_images, output_path

JOURNAL = Path(".stylecloak") / "done.jsonl"


@dataclass
class BatchItem:
    """The outcome for one input file."""

    input: Path
    output: Path | None = None
    status: str = "pending"
    """"done", "skipped" (already done by an earlier run) or "failed"."""
    error: str | None = None
    result: ProtectResult | None = None
    """The full result (local engine only)."""
    summary: dict | None = None
    """The result's numbers (:meth:`ProtectResult.summary`), from any engine."""
    preview: Path | None = None

    def record(self) -> dict:
        data = {"input": str(self.input), "output": str(self.output) if self.output else None, "status": self.status}
        if self.error:
            data["error"] = self.error
        if self.summary is not None:
            data.update({k: v for k, v in self.summary.items() if k != "input"})
        if self.preview:
            data["preview"] = str(self.preview)
        return data


@dataclass
class BatchReport:
    items: list[BatchItem] = field(default_factory=list)
    target_style: str | None = None

    @property
    def failed(self) -> list[BatchItem]:
        return [i for i in self.items if i.status == "failed"]


Event = Callable[[str, BatchItem, int, int], None]
"""Called with ("start" | "done" | "skipped" | "failed", item, index, total)."""


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def settings_hash(protector: Protector, style: str) -> str:
    data = settings_dict(protector.settings) | {"resolved_style": style}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Journal:
    """Append-only record of finished files; a torn last line (killed mid-write) is ignored."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / JOURNAL
        self.done: dict[tuple[str, str], str] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.done[(entry["input_sha256"], entry["settings"])] = entry["output"]
                except (json.JSONDecodeError, KeyError):
                    continue

    def finished(self, digest: str, settings: str, output: Path) -> bool:
        return self.done.get((digest, settings)) == str(output) and output.exists()

    def add(self, digest: str, settings: str, output: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps({"input_sha256": digest, "settings": settings, "output": str(output)}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done[(digest, settings)] = str(output)


def run_batch(
    inputs: list[str | Path],
    out_dir: str | Path,
    protector: Protector,
    style: str,
    *,
    preview: bool = False,
    on_event: Event | None = None,
    progress_factory: Callable[[BatchItem], Callable] | None = None,
    engine: Engine | None = None,
) -> BatchReport:
    """Protect every image under ``inputs`` into ``out_dir`` (mirrored), skipping files already done.

    ``engine`` does the cloaking (default: :class:`~stylecloak.engines.LocalEngine` on ``protector``);
    ``progress_factory`` gives per-step progress where the engine reports it.
    """
    out_dir = Path(out_dir)
    files = list(iter_images(inputs))
    journal = Journal(out_dir)
    key = settings_hash(protector, style)
    report = BatchReport(target_style=style)
    emit = on_event or (lambda *a: None)
    tasks, digests = [], {}
    for index, (path, root) in enumerate(files):
        item = BatchItem(input=path)
        report.items.append(item)
        try:
            item.output = output_path(path, out_dir, root)
            digest = file_hash(path)
        except (StylecloakError, OSError) as exc:
            _fail(item, str(exc) if isinstance(exc, StylecloakError) else f"{path}: {exc}", emit, index, len(files))
            continue
        if journal.finished(digest, key, item.output):
            item.status = "skipped"
            emit("skipped", item, index, len(files))
            continue
        tasks.append(Task(index, path, item.output))
        digests[index] = digest

    def started(task: Task) -> None:
        emit("start", report.items[task.index], task.index, len(files))

    def progress(task: Task) -> Callable:
        return progress_factory(report.items[task.index])

    engine = engine or LocalEngine(protector)
    for outcome in engine.run(tasks, style, preview=preview, on_start=started, progress_factory=progress if progress_factory else None):
        index = outcome.task.index
        item = report.items[index]
        if outcome.error is not None:
            _fail(item, outcome.error, emit, index, len(files))
            continue
        try:
            journal.add(digests[index], key, outcome.output)
        except OSError as exc:
            _fail(item, f"{journal.path}: cannot record {outcome.output} ({exc}); check the output folder", emit, index, len(files))
            continue
        _finish(item, outcome)
        emit("done", item, index, len(files))
    return report


def _fail(item: BatchItem, error: str, emit: Event, index: int, total: int) -> None:
    item.status, item.error = "failed", error
    emit("failed", item, index, total)


def _finish(item: BatchItem, outcome: Outcome) -> None:
    item.status, item.output, item.preview = "done", outcome.output, outcome.preview
    item.summary, item.result = outcome.summary, outcome.result
