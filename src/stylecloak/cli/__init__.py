"""The ``stylecloak`` command: a thin layer over the library (options, progress, errors → exit 1).

Each sub-command lives in its own module and registers itself on :data:`main`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from .. import __version__
from ..backbones import weights
from ..io import atomic_file

console = Console(stderr=True, soft_wrap=True)
"""Progress and results; silent with ``--quiet``."""
errors = Console(stderr=True, soft_wrap=True)
"""Errors: shown even with ``--quiet``."""


def fail(message: str) -> None:
    """Print ``Error: message`` and exit with status 1."""
    errors.print(f"[red]Error:[/red] {escape(message)}", highlight=False)
    sys.exit(1)


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically."""
    with atomic_file(path, "w") as f:
        json.dump(data, f, indent=2, default=str)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__)
@click.option("-v", "--verbose", is_flag=True, help="Also show the library's log (downloads, choices, tracebacks of failed files).")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.pass_context
def main(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """Protect artwork from AI style mimicry with Glaze-style cloaks.

    New here? `stylecloak serve --open` opens the app in your web browser; `stylecloak demo` protects a
    built-in sample painting and explains the result.

    \b
    Examples:
      stylecloak serve --open
      stylecloak demo
      stylecloak check art/
      stylecloak protect art/ --out protected/
      stylecloak protect piece.png --out out/ --style cubist-facets --preview --report r.json
      stylecloak -q protect art/ --out protected/
      stylecloak styles
    """
    if verbose and quiet:
        raise click.UsageError("choose either --verbose or --quiet")
    if ctx.invoked_subcommand is None:  # `stylecloak` alone: how to start, then the usual help
        if interactive():
            click.echo("To protect your images in the web browser, run:  stylecloak serve --open\n")
        click.echo(ctx.get_help())
        ctx.exit()
    console.quiet = quiet
    handler = RichHandler(console=errors, show_path=False, show_time=False)
    ctx.with_resource(_logging(handler, logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING))
    if not quiet:
        ctx.with_resource(_download_bars())


def interactive() -> bool:
    """Whether a person is at the terminal (standard input and output are both a terminal)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@contextmanager
def _logging(handler: logging.Handler, level: int) -> Iterator[None]:
    """Send the library's log records (``stylecloak.*``) to ``handler`` while a command runs."""
    logger = logging.getLogger("stylecloak")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


@contextmanager
def _download_bars() -> Iterator[None]:
    """Draw weight downloads as rich progress bars (shown only while a download runs)."""
    columns = (TextColumn("downloading {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    bars = Progress(*columns, console=console)

    def factory(name: str) -> weights.DownloadProgress:
        bars.start()
        task = bars.add_task(name, total=None)

        def report(done: int, total: int) -> None:
            bars.update(task, completed=done, total=total or None)
            if total and done >= total and bars.finished:
                bars.stop()  # before any other live display (protect's bars) starts

        return report

    token = weights.download_progress.set(factory)
    try:
        yield
    finally:
        weights.download_progress.reset(token)
        bars.stop()


from . import audit as _audit  # noqa: F401  (registers commands)
from . import check as _check  # noqa: F401
from . import demo as _demo  # noqa: F401
from . import protect as _protect  # noqa: F401
from . import serve as _serve  # noqa: F401
from . import verify as _verify  # noqa: F401
