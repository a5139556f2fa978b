"""The job queue's files on disk: the private work folder, server folders left by dead servers, disk usage,
portable download names."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import time
from pathlib import Path

from filelock import FileLock, Timeout
from platformdirs import user_cache_dir

from ..errors import ConfigError

log = logging.getLogger(__name__)

PREFIX = "stylecloak-web-"
"""Name prefix of each server's folder inside the work folder (a ``.lock`` inside is held while the server runs)."""
STALE_UNLOCKED = 24 * 3600.0
"""A server folder without a lock file (older versions) is removed once untouched this long."""


def portable_name(name: str) -> str:
    """``name`` with the characters Windows refuses in file names (``:<>"|?*``, controls) replaced by ``_``."""
    return re.sub(r'[:<>"|?*\x00-\x1f\\/]', "_", name).rstrip(" .") or "image"


def work_folder(path: str | Path | None = None) -> Path:
    """The folder that holds the web servers' uploads and results (default: ``web`` in the user cache folder).

    Created private (owner only, mode 0700); raises :class:`ConfigError` naming the folder when it is not a
    real folder of this user that only this user can open, so no other local user can plant files in it.
    """
    folder = Path(path) if path is not None else Path(user_cache_dir("stylecloak")) / "web"
    try:
        with contextlib.suppress(FileExistsError):  # a folder (checked below), or something else in its place
            folder.mkdir(mode=0o700, parents=True)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{folder}: the web app's work folder is not a folder (a file or a link); remove it and start again")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise ConfigError(f"{folder}: the web app's work folder belongs to another user; remove it and start again")
        if stat.S_IMODE(info.st_mode) & 0o077:
            folder.chmod(0o700)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot use it as the web app's work folder ({exc.strerror or exc}); check its permissions") from None
    return folder


def remove_stale_folders(parent: Path) -> list[Path]:
    """Delete the folders of stylecloak servers under ``parent`` that are no longer running; return them.

    A running server holds the lock file inside its folder; a folder whose lock can be taken was left
    by a server that crashed. Folders without a lock file are removed once untouched for a day. A folder
    that cannot be checked (its lock is a folder, a link loop, unreadable) is left alone with a log line.
    """
    removed = []
    for folder in parent.glob(f"{PREFIX}*"):
        try:
            if not _stale(folder):
                continue
            shutil.rmtree(folder, ignore_errors=True)
        except OSError as exc:
            log.warning("left %s alone: cannot check whether its server still runs (%s)", folder, exc)
            continue
        log.info("removed %s, left behind by a stylecloak server that stopped without cleaning up", folder)
        removed.append(folder)
    return removed


def _stale(folder: Path) -> bool:
    """True for a server folder whose server no longer runs (a running server holds its lock)."""
    if not stat.S_ISDIR(folder.lstat().st_mode):
        return False
    lock = folder / ".lock"
    try:
        lock_info = lock.lstat()
    except FileNotFoundError:
        return time.time() - folder.stat().st_mtime >= STALE_UNLOCKED
    if not stat.S_ISREG(lock_info.st_mode):
        raise OSError(f"{lock.name} is not a plain file")
    try:
        with FileLock(lock, timeout=0):
            return True
    except Timeout:  # its server is running
        return False


def disk_usage(root: Path, skip: frozenset[Path] = frozenset()) -> int:
    """Bytes of the files under ``root``, leaving out the folders in ``skip``."""
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # deleted meanwhile
                continue
    return total
