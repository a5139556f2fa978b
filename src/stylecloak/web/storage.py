"""The job queue's folder and its disk cap: every upload reserves room before its bytes are stored.

Files already stored (uploads of queued jobs, results) are measured on disk; an upload in progress
counts as the room it has reserved, taken in blocks ahead of its bytes. When the next block does not
fit, the oldest finished jobs are removed to make room, and the upload is refused when that is not
enough, so the folder never holds more than the cap while uploads stream in. A running job's results
are counted once written. At most ``max_uploads`` uploads stream at the same time.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from ..errors import StylecloakError
from .folders import PREFIX, disk_usage, remove_stale_folders

BLOCK = 1024 * 1024
"""Room an upload reserves at a time (less when only less is left)."""


class StorageFull(StylecloakError):
    """The jobs' files would exceed the disk cap even after removing every finished job."""


class TooManyUploads(StylecloakError):
    """As many uploads as allowed are streaming already."""


class Storage:
    """A server's own folder (locked while it runs) inside ``parent``, and the byte budget of what it holds.

    ``evict`` removes the oldest finished job and returns False when there is none; it is called with
    this object's lock held, so it must not call back into it.
    """

    def __init__(self, parent: Path, *, max_bytes: int, max_uploads: int, evict: Callable[[], bool]):
        self.max_bytes = max_bytes
        self.max_uploads = max_uploads
        self._evict = evict
        remove_stale_folders(parent)
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        self._file_lock = FileLock(self.root / ".lock")
        self._file_lock.acquire()
        self._lock = threading.Lock()
        self._reserved: dict[Path, int] = {}

    def begin(self) -> Reservation:
        """A new empty folder for an upload, with no room reserved yet; raises :class:`TooManyUploads`."""
        with self._lock:
            if len(self._reserved) >= self.max_uploads:
                raise TooManyUploads("Too many uploads at once; wait for one to finish, then try again.")
            folder = Path(tempfile.mkdtemp(prefix="upload-", dir=self.root))
            self._reserved[folder] = 0
        return Reservation(self, folder)

    def used(self) -> int:
        """Bytes stored plus bytes reserved by uploads in progress."""
        with self._lock:
            return self._used()

    def close(self) -> None:
        """Delete the folder and everything in it."""
        self._file_lock.release()  # first: Windows cannot delete a file that is held open
        shutil.rmtree(self.root, ignore_errors=True)

    def _used(self) -> int:
        return disk_usage(self.root, frozenset(self._reserved)) + sum(self._reserved.values())

    def _grow(self, folder: Path, need: int, want: int) -> int:
        """Reserve at least ``need`` and at most ``want`` more bytes for ``folder``; return how many."""
        with self._lock:
            while (used := self._used()) + need > self.max_bytes:
                if not self._evict():
                    raise StorageFull("The server's storage for jobs is full; wait for the running jobs to finish, or send fewer or smaller images.")
            granted = max(need, min(want, self.max_bytes - used))
            self._reserved[folder] += granted
            return granted

    def _end(self, folder: Path, keep: bool) -> None:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)  # before the room is released: the cap holds throughout
        with self._lock:
            self._reserved.pop(folder, None)


class Reservation:
    """Room held for one upload in progress: :meth:`take` before writing bytes into :attr:`folder`, then
    :meth:`keep` (the folder became a job's, counted by its files from now on) or :meth:`cancel`."""

    def __init__(self, storage: Storage, folder: Path):
        self.storage, self.folder = storage, folder
        self.held = self.written = 0

    def take(self, n: int) -> None:
        """Account for ``n`` more bytes about to be written; raises :class:`StorageFull` when they do not fit."""
        if self.written + n > self.held:
            need = self.written + n - self.held
            self.held += self.storage._grow(self.folder, need, max(need, BLOCK))
        self.written += n

    def keep(self) -> None:
        self.storage._end(self.folder, keep=True)

    def cancel(self) -> None:
        """Delete the folder with what was written, and release the room."""
        self.storage._end(self.folder, keep=False)
