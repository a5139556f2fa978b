"""All of a job's protected images in one zip, under portable, distinct names."""

from __future__ import annotations

import secrets
import zipfile
from pathlib import Path

from .folders import portable_name


def write_zip(folder: Path, entries: list[tuple[Path, str]]) -> Path | None:
    """A new zip in ``folder`` of ``entries`` — (file, name in the zip) — or None when a file is gone (its job was
    deleted meanwhile). The caller deletes the zip."""
    path = folder / f"zip-{secrets.token_hex(8)}.zip"
    used: set[str] = set()
    try:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for source, name in entries:
                name = portable_name(name)
                stem, suffix, n = Path(name).stem, Path(name).suffix, 1
                while name in used:
                    n += 1
                    name = f"{stem}-{n}{suffix}"
                used.add(name)
                archive.write(source, name)
    except OSError:
        path.unlink(missing_ok=True)
        return None
    return path
