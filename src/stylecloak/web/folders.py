"""The job queue's files on disk: server folders left by dead servers, disk usage, portable download names."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

PREFIX = "stylecloak-web-"
"""Name prefix of each server's temporary folder (a ``.lock`` inside is held while the server runs)."""
STALE_UNLOCKED = 24 * 3600.0
"""A server folder without a lock file (older versions) is removed once untouched this long."""


def portable_name(name: str) -> str:
    """``name`` with the characters Windows refuses in file names (``:<>"|?*``, controls) replaced by ``_``."""
    return re.sub(r'[:<>"|?*\x00-\x1f\\/]', "_", name).rstrip(" .") or "image"


def remove_stale_folders(parent: str | Path | None = None) -> list[Path]:
    """Delete the temporary folders of stylecloak servers that are no longer running; return them.

    A running server holds the lock file inside its folder; a folder whose lock can be taken was left
    by a server that crashed. Folders without a lock file are removed once untouched for a day.
    """
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        lock = folder / ".lock"
        if not folder.is_dir() or folder.is_symlink():
            continue
        if lock.exists():
            try:
                with FileLock(lock, timeout=0):
                    shutil.rmtree(folder, ignore_errors=True)
            except Timeout:  # its server is running
                continue
        elif time.time() - folder.stat().st_mtime < STALE_UNLOCKED:
            continue
        else:
            shutil.rmtree(folder, ignore_errors=True)
        log.info("removed %s, left behind by a stylecloak server that stopped without cleaning up", folder)
        removed.append(folder)
    return removed


def disk_usage(root: Path) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # deleted meanwhile
                continue
    return total
