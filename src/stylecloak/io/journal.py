"""The output folder's journal: which inputs were protected, with which settings, toward which style.

``OUT/.stylecloak/done.jsonl`` records each finished file by input content hash and settings hash, with
the target style, method and backbones that :func:`~stylecloak.api.provenance` names; a later batch with
the same settings skips those files, and ``audit`` reads what protect did from it (or from each file's XMP).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import ConfigError, ImageError
from .read import read_xmp
from .xmp import xmp_values

JOURNAL = Path(".stylecloak") / "done.jsonl"


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


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
