"""Pairing originals with their cloaked copies, file by file or folder by folder."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..errors import ImageError
from ..io import iter_images, output_suffix


class Pair(NamedTuple):
    original: Path
    cloaked: Path


def pair_files(originals: str | Path, cloaked: str | Path) -> tuple[list[Pair], list[str]]:
    """Pair two files, or the files of two folders by relative name; returns (pairs, warnings).

    A cloaked ``.png`` stands for a ``.gif`` original (protect writes GIFs as PNG); protect's
    ``*.preview.png`` files are ignored; files without a partner become warnings.
    """
    o, c = Path(originals), Path(cloaked)
    for p in (o, c):
        if not p.exists():
            raise ImageError(f"{p}: not found; pass two image files or two folders (originals, cloaked)")
    if o.is_file() and c.is_file():
        return [Pair(o, c)], []
    if not (o.is_dir() and c.is_dir()):
        raise ImageError(f"{o}, {c}: pass two files or two folders, not one of each")
    found = {p.relative_to(c): p for p, _ in iter_images([c]) if not p.name.endswith(".preview.png")}
    pairs, warnings, used = [], [], set()
    for path, _ in iter_images([o]):
        rel = path.relative_to(o)
        match = next((r for r in (rel, rel.with_suffix(output_suffix(rel.suffix))) if r in found), None)
        if match is None:
            warnings.append(f"{path}: no cloaked copy at {c / rel}; skipped")
        else:
            pairs.append(Pair(path, found[match]))
            used.add(match)
    warnings += [f"{p}: no original at {o / r}; skipped" for r, p in found.items() if r not in used]
    if not pairs:
        raise ImageError(f"{o}, {c}: no file names in common; cloaked copies must keep their originals' relative names")
    return pairs, warnings
