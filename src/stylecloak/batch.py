"""Batch runs: walk folders, mirror them under the output folder, resume after a kill, never stop on a bad file.

A journal (``OUT/.stylecloak/done.jsonl``) records each finished file by input content hash and
settings hash, with the target style, method and backbones (what ``audit`` reads); a later run with the
same settings skips those files. Outputs are written atomically, so a killed run leaves either the old
state or the finished file, never a partial one. The output folder is never walked as an input. The images themselves
are cloaked by an engine (:mod:`stylecloak.engines`: this process, or a Ray cluster); the journal is
written here, by the driver only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .api import Protector, ProtectResult, provenance
from .engines import Engine, LocalEngine, Outcome, Task, describe
from .errors import ConfigError, ImageError, StylecloakError
from .io import check_output, iter_images, output_path, read_xmp, xmp_values

JOURNAL = Path(".stylecloak") / "done.jsonl"


@dataclass
class BatchItem:
    """The outcome for one input file."""

    input: Path
    output: Path | None = None
    status: str = "pending"
    """"done", "skipped" (already done by an earlier run) or "failed"."""
    error: str | None = None
    warning: str | None = None
    result: ProtectResult | None = None
    """The full result (local engine only)."""
    summary: dict | None = None
    """The result's numbers (:meth:`ProtectResult.summary`), from any engine."""
    preview: Path | None = None

    def record(self) -> dict:
        data = {"input": str(self.input), "output": str(self.output) if self.output else None, "status": self.status}
        if self.error:
            data["error"] = self.error
        if self.warning:
            data["warning"] = self.warning
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
"""Called with ("start" | "warning" | "done" | "skipped" | "failed", item, index, total)."""


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def settings_hash(protector: Protector, style: str) -> str:
    return provenance(protector.settings, style)["settings"]


def recorded_provenance(cloaked: list[Path]) -> dict[str, str] | None:
    """What protect recorded for these protected files (target style, method, backbones, settings).

    Read from each file's XMP, else from the journal of the output folder that holds it. None when
    nothing was recorded; :class:`ConfigError` when the files were protected toward different styles.
    """
    found: dict[str, dict[str, str]] = {}
    journals: dict[Path, Journal] = {}
    for path in cloaked:
        try:
            record = xmp_values(read_xmp(path))
        except ImageError:
            record = {}
        if "targetStyle" not in record:
            record = _journal_record(path, journals)
        if record.get("targetStyle"):
            found.setdefault(record["targetStyle"], record)
    if len(found) > 1:
        raise ConfigError(f"the protected files aim at different target styles ({', '.join(sorted(found))}); audit them separately or pass --style")
    return next(iter(found.values()), None)


def _journal_record(path: Path, journals: dict[Path, Journal]) -> dict[str, str]:
    for folder in Path(path).resolve().parents:
        if (folder / JOURNAL).exists():
            journal = journals.setdefault(folder, Journal(folder))
            relative = Path(path).resolve().relative_to(folder).as_posix()
            return next((e for e in reversed(journal.entries) if e.get("path") == relative), {})
    return {}


def check_out_dir(out_dir: str | Path) -> None:
    """Raise :class:`ImageError` when ``out_dir`` cannot be the output folder (a file stands there)."""
    out_dir = Path(out_dir)
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                raise ImageError(f"{path}: is a file, not a folder; pass --out a folder (it is created if missing)")
            return


class Journal:
    """Append-only record of finished files; a torn last line (killed mid-write) is ignored.

    Each line: input_sha256, settings (hash), output, and :func:`~stylecloak.api.provenance`'s
    targetStyle, method and backbones.
    """

    def __init__(self, out_dir: Path):
        self.path = out_dir / JOURNAL
        self.done: dict[tuple[str, str], str] = {}
        self.entries: list[dict] = []
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.done[(entry["input_sha256"], entry["settings"])] = entry["output"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
                self.entries.append(entry)

    def finished(self, digest: str, settings: str, output: Path) -> bool:
        return self.done.get((digest, settings)) == str(output) and output.exists()

    def add(self, digest: str, output: Path, record: dict[str, str]) -> None:
        """Record a finished file; ``record`` is its :func:`~stylecloak.api.provenance`."""
        relative = output.relative_to(self.path.parent.parent).as_posix()
        entry = {"input_sha256": digest, "output": str(output), "path": relative, **record}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done[(digest, record["settings"])] = str(output)
        self.entries.append(entry)


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

    Each file's problems are caught, reported as a failed item, and the batch goes on. ``engine`` does the cloaking (default: :class:`~stylecloak.engines.LocalEngine` on ``protector``);
    ``progress_factory`` gives per-step progress where the engine reports it.
    """
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    files = list(iter_images(inputs, exclude=out_dir))
    journal = Journal(out_dir)
    record = provenance(protector.settings, style)
    report = BatchReport(target_style=style)
    emit = on_event or (lambda *a: None)
    tasks, digests = [], {}
    for index, (path, root) in enumerate(files):
        item = BatchItem(input=path)
        report.items.append(item)
        try:
            item.output = output_path(path, out_dir, root)
            check_output(path, item.output)
            digest = file_hash(path)
        except (StylecloakError, OSError) as exc:  # one bad file must not stop the batch
            _fail(item, describe(path, exc), emit, index, len(files))
            continue
        if journal.finished(digest, record["settings"], item.output):
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
        if outcome.warning:
            item.warning = outcome.warning
            emit("warning", item, index, len(files))
        if outcome.error is not None:
            _fail(item, outcome.error, emit, index, len(files))
            continue
        try:
            journal.add(digests[index], outcome.output, record)
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
