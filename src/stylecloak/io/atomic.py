"""The one atomic writer: a file appears complete under its name, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_file(dest: str | Path, mode: str = "wb", suffix: str = ".tmp") -> Iterator[IO[Any]]:
    """A temporary file beside ``dest`` (its path is ``.name``) that replaces ``dest`` when the block ends.

    On success the file is flushed, fsynced, given the permissions a new file gets under the umask and
    renamed over ``dest``; on any failure (in the block or after) it is removed and the error propagates.
    Creating the folder or the temporary file raises :class:`OSError` before the block runs.

    >>> with atomic_file("out/report.json", "w") as f:
    ...     json.dump(data, f)
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    file = tempfile.NamedTemporaryFile(mode, dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix, delete=False)  # noqa: SIM115 -- closed by `with file` below, before the rename
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(file.name, 0o666 & ~_umask())
        os.replace(file.name, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(file.name)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
