"""``stylecloak verify``: read back the Content Credentials (C2PA) of protected files."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.markup import escape

from ..errors import StylecloakError
from ..io import credentials
from . import console, fail, main, write_json


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write what was found to this JSON file.")
def verify(files, json_path):
    """Check the Content Credentials of FILES: is the signed "no AI training" statement there and intact?

    Exits 1 when a file has no credentials or they fail validation (the file was changed after signing).
    A file signed with the local certificate that `protect --c2pa` makes is reported as valid but
    untrusted: its signature holds, but no public trust list vouches for the signer.
    Needs the c2pa extra: pip install 'stylecloak[c2pa]'.

    \b
    Examples:
      stylecloak verify protected/piece.png
      stylecloak verify protected/*.jpg --json credentials.json
    """
    found: dict[str, dict] = {}
    bad = 0
    try:
        for path in files:
            result = credentials.read(path)
            found[str(path)] = asdict(result)
            bad += not result.valid
            console.print(_line(path, result), highlight=False)
    except StylecloakError as exc:
        fail(str(exc))
    if json_path:
        write_json(json_path, found)
    if bad:
        sys.exit(1)


def _line(path: Path, result: credentials.Credentials) -> str:
    name = escape(str(path))
    if result.state == "none":
        return f"{name}: [yellow]no Content Credentials[/yellow] (protect with --c2pa to add them)"
    if not result.valid:
        return f"{name}: [red]invalid[/red], changed after signing or damaged: {escape('; '.join(result.failures) or result.state)}"
    trust = "trusted signer" if result.state == "Trusted" else "signer not in a public trust list"
    refused = ", ".join(k.removeprefix("cawg.") for k, v in result.training_mining.items() if v == "notAllowed")
    wishes = f"not allowed: {refused}" if refused else "no training-and-mining statement"
    return f"{name}: [green]valid[/green] ({escape(result.signer)}; {trust}); {wishes}"
