"""Batch runs: walk folders, mirror them under the output folder, resume after a kill, never stop on a bad file.

A journal (``OUT/.stylecloak/done.jsonl``) records each finished file by input content hash and
settings hash; a later run with the same settings skips those files. Outputs are written atomically,
so a killed run leaves either the old state or the finished file, never a partial one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .api import Protector, ProtectResult, settings_dict
from .errors import StylecloakError
from .imageio import iter_images, load_image, output_path

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
    preview: Path | None = None

    def record(self) -> dict:
        data = {"input": str(self.input), "output": str(self.output) if self.output else None, "status": self.status}
        if self.error:
            data["error"] = self.error
        if self.result is not None:
            data.update({k: v for k, v in self.result.summary().items() if k != "input"})
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
) -> BatchReport:
    """Protect every image under ``inputs`` into ``out_dir`` (mirrored), skipping files already done."""
    out_dir = Path(out_dir)
    files = list(iter_images(inputs))
    journal = Journal(out_dir)
    key = settings_hash(protector, style)
    report = BatchReport(target_style=style)
    emit = on_event or (lambda *a: None)
    for index, (path, root) in enumerate(files):
        item = BatchItem(input=path)
        report.items.append(item)
        try:
            item.output = output_path(path, out_dir, root)
            digest = file_hash(path)
            if journal.finished(digest, key, item.output):
                item.status = "skipped"
                emit("skipped", item, index, len(files))
                continue
            emit("start", item, index, len(files))
            result = protector.protect(load_image(path), style, progress_factory(item) if progress_factory else None)
            item.output = result.save(item.output)
            if preview:
                item.preview = _save_preview(result, item.output)
            item.result, item.status = result, "done"
            journal.add(digest, key, item.output)
            emit("done", item, index, len(files))
        except (StylecloakError, OSError) as exc:
            item.status, item.error = "failed", str(exc) if isinstance(exc, StylecloakError) else f"{path}: {exc}"
            emit("failed", item, index, len(files))
    return report


def _save_preview(result: ProtectResult, output: Path) -> Path:
    dest = output.with_name(output.stem + ".preview.png")
    tmp = dest.with_name(f".{dest.name}.tmp")
    result.preview().save(tmp, format="PNG")
    os.replace(tmp, dest)
    return dest
