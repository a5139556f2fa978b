"""Where files come from and go: walking input folders, mirroring them into the output folder, checks."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from stylecloak.errors import ImageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"})


def check_out_dir(out_dir: str | Path) -> None:
    """Raise :class:`ImageError` when ``out_dir`` cannot be the output folder (a file stands there)."""
    out_dir = Path(out_dir)
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                raise ImageError(f"{path}: is a file, not a folder; pass --out a folder (it is created if missing)")
            return


def output_suffix(suffix: str) -> str:
    """Return the suffix a cloaked copy of a file with *suffix* gets (GIF is written as PNG)."""
    return ".png" if suffix.lower() == ".gif" else suffix


def output_path(source: Path, out_dir: Path, root: Path | None = None) -> Path:
    """Mirror *source*'s path relative to *root* (default: its folder) inside *out_dir*."""
    source, out_dir = Path(source), Path(out_dir)
    if root is None:
        relative = Path(source.name)
    else:
        try:
            relative = source.relative_to(root)
        except ValueError:
            try:
                relative = source.resolve().relative_to(Path(root).resolve())
            except ValueError:
                raise ImageError(f"{source}: is not inside {root}; pass the folder that contains it as root") from None
    return out_dir / relative.with_suffix(output_suffix(relative.suffix))


def iter_images(paths: Iterable[str | Path], *, exclude: str | Path | None = None) -> Iterator[tuple[Path, Path]]:
    """Yield (file, root) for each file given and each image found under each folder given.

    Folders are walked recursively in sorted order; only :data:`IMAGE_EXTENSIONS` are
    yielded and hidden files and folders are skipped, and so is the folder *exclude*
    (the output folder, when it lies inside an input folder). A file given directly is
    yielded whatever its extension, with its parent as root (missing paths too, so that
    :func:`load_image` reports them).
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    for item in paths:
        top = Path(item)
        if not top.is_dir():
            yield top, top.parent
            continue
        for folder, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (Path(folder) / d).resolve() != skip)
            for filename in sorted(filenames):
                if not filename.startswith(".") and Path(filename).suffix.lower() in IMAGE_EXTENSIONS:
                    yield Path(folder) / filename, top


def same_file(source: Path, dest: Path) -> bool:
    if source.resolve() == dest.resolve():
        return True
    try:
        return os.path.samefile(source, dest)
    except OSError:
        return False
