"""The installed package's version: the one source is pyproject.toml, through the installed metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stylecloak")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
