"""The ``stylecloak`` command: a thin layer over the library (options, progress, errors → exit 1).

Each sub-command lives in its own module and registers itself on :data:`main`; a module is imported only when its
command runs (:data:`COMMANDS`), so ``stylecloak --help`` answers without loading PyTorch.

OpenMP threads wait passively here unless ``OMP_WAIT_POLICY`` says otherwise: set before PyTorch is imported, it
stops several stylecloak processes on the same cores (a protect beside the web app, Ray workers) from spinning
against each other. A program using the library sets it itself, before importing torch.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

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

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("audit", "Compare ORIGINALS with their CLOAKED copies (two files, or two folders with the same names)."),
    "check": ("check", "Estimate how well IMAGES (files or folders) can be protected, without protecting them."),
    "demo": ("demo", "Protect a built-in sample painting and show what the cloak does (a minute or two on a laptop CPU)."),
    "protect": ("protect", "Cloak IMAGES (files or folders) into --out."),
    "serve": ("serve", "Start the web app and print its address (stop with Ctrl+C); --open opens it in the browser."),
    "styles": ("protect", "List the target styles."),
    "verify": ("verify", 'Check the Content Credentials of FILES: is the signed "no AI training" statement there and intact?'),
}
"""Command name -> (the module under ``stylecloak.cli`` that defines it, its help's first line, which ``stylecloak
--help`` shows without importing the module)."""

console = Console(stderr=True, soft_wrap=True)
"""Progress and results; silent with ``--quiet``."""
errors = Console(stderr=True, soft_wrap=True)
"""Errors: shown even with ``--quiet``."""


def fail(message: str) -> NoReturn:
    """Print ``Error: message`` and exit with status 1."""
    errors.print(f"[red]Error:[/red] {escape(message)}", highlight=False)
    sys.exit(1)


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically."""
    from ..io.atomic import atomic_file

    with atomic_file(path, "w") as f:
        json.dump(data, f, indent=2, default=str)


INTERRUPTED = 130
"""Exit status after Ctrl+C, as shells report a process ended by SIGINT (128 + 2)."""


class _Group(click.Group):
    """The command group; Ctrl+C ends any command with one line and exit status 130 (outputs are written
    atomically, so nothing half-written is left behind)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            errors.print("Interrupted: files already finished are kept; run the same command again to go on.", highlight=False)
            sys.exit(INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
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
    from ..backbones import weights

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
