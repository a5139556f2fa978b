"""The ``stylecloak`` command: a thin layer over the library (options, progress, errors → exit 1).

Each sub-command lives in its own module and registers itself on :data:`main`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console

from .. import __version__

console = Console(stderr=True, soft_wrap=True)


def fail(message: str) -> None:
    """Print ``Error: message`` and exit with status 1."""
    console.print(f"[red]Error:[/red] {message}", highlight=False)
    sys.exit(1)


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__)
def main() -> None:
    """Protect artwork from AI style mimicry with Glaze-style cloaks.

    New here? Run `stylecloak demo`: it protects a built-in sample painting and explains the result.

    \b
    Examples:
      stylecloak demo
      stylecloak protect art/ --out protected/
      stylecloak protect piece.png --out out/ --style cubist-facets --preview --report r.json
      stylecloak styles
    """


from . import audit as _audit  # noqa: F401
from . import demo as _demo  # noqa: F401
from . import protect as _protect  # noqa: F401  (registers commands)
from . import serve as _serve  # noqa: F401
