"""The output folder's journal: which inputs were protected, with which settings, toward which style.

``OUT/.stylecloak/done.jsonl`` records each finished file by input content hash and settings hash, with
the target style, method, backbones and presets that :func:`~stylecloak.api.provenance` names; a later batch with
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
CLAIMS = Path(".stylecloak") / "claimed.jsonl"
"""The files each batch was about to write, one JSON string a line, so that a file written just before a
crash (and not yet journalled) still counts as stylecloak's own."""


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Journal:
    """Append-only record of finished files; a torn last line (killed mid-write) is ignored.

    Each line: input_sha256, settings (hash), output, its ``path`` relative to the output folder, the
    ``views`` written with it, and :func:`~stylecloak.api.provenance`'s targetStyle, method, backbones, intensity and quality.
    :data:`CLAIMS` lists the files a batch is about to write. Paths are compared resolved, however ``--out``
    is spelled; lines of older versions (no ``path``) count too, their ``output`` resolved when read.
    """

    def __init__(self, out_dir: Path):
        self.folder = Path(out_dir).resolve()
        self.path = Path(out_dir) / JOURNAL
        self.claims = Path(out_dir) / CLAIMS
        self.done: dict[tuple[str, str], str] = {}
        self.ours: set[str] = set()
        """Every file stylecloak wrote or claimed here, as :meth:`key` gives it."""
        self.entries: list[dict] = []
        for line in _lines(self.claims):
            try:
                self.ours.add(str(json.loads(line)))
            except json.JSONDecodeError:
                continue
        for line in _lines(self.path):
            try:
                entry = json.loads(line)
                path = entry.get("path") or self.key(Path(entry["output"]))
                self.done[(entry["input_sha256"], entry["settings"])] = path
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                continue
            self.ours.add(path)
            self.ours.update(str(p) for p in (entry.get("views") or {}).values())
            self.entries.append(entry)

    def key(self, path: Path) -> str:
        """``path`` resolved, relative to the output folder where it lies inside it (POSIX form)."""
        resolved = Path(path).resolve()
        try:
            return resolved.relative_to(self.folder).as_posix()
        except ValueError:
            return resolved.as_posix()

    def is_ours(self, path: Path) -> bool:
        """Whether stylecloak wrote (or was about to write) ``path`` for this output folder."""
        return self.key(path) in self.ours

    def finished(self, digest: str, settings: str, output: Path) -> bool:
        return self.done.get((digest, settings)) == self.key(output) and output.exists()

    def claim(self, paths: list[Path]) -> None:
        """Record that this batch is about to write ``paths`` (before any is written)."""
        if paths:
            keys = [self.key(p) for p in paths]
            _append(self.claims, keys)
            self.ours.update(keys)

    def add(self, digest: str, output: Path, record: dict[str, str], views: dict[str, Path] | None = None) -> None:
        """Record a finished file and its ``views``; ``record`` is its :func:`~stylecloak.api.provenance`."""
        entry: dict = {"input_sha256": digest, "output": str(Path(output).resolve()), "path": self.key(output), **record}
        if views:
            entry["views"] = {kind: self.key(p) for kind, p in views.items()}
        _append(self.path, [entry])
        self.done[(digest, record["settings"])] = entry["path"]
        self.ours.update([entry["path"], *entry.get("views", {}).values()])
        self.entries.append(entry)


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def _append(path: Path, values: list) -> None:
    """``values`` as JSON lines, fsynced; a torn last line left by a crash is ended first so it cannot swallow them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        torn = False
        if f.seek(0, os.SEEK_END):
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        f.write((b"\n" if torn else b"") + b"".join(json.dumps(v).encode() + b"\n" for v in values))
        f.flush()
        os.fsync(f.fileno())


def recorded_provenance(cloaked: list[Path]) -> dict[str, str] | None:
    """What protect recorded for these protected files (target style, method, backbones, intensity and quality presets, settings).

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
