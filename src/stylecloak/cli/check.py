"""``stylecloak check``: how well each image can be protected, before spending minutes protecting it."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import track

from ..api import Protector
from ..config import ProtectSettings, intensity_key
from ..errors import StylecloakError
from ..io import iter_images, load_image
from ..runner import describe
from ..styles import parse_style_dirs
from ..verdict import MODERATE
from . import console, errors, fail, main, write_json
from .options import intensity_option, precision_option


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@intensity_option("The intensity you plan to protect at (as for protect).")
@click.option("--style", "style", default="auto", show_default=True, help="Target style name, or auto (from the artist profile).")
@click.option("--style-dir", "style_dirs", multiple=True, metavar="NAME=DIR", help="Add a target style from a folder of images.")
@click.option("--artist", default="default", show_default=True, help="Artist name (selects the profile).")
@click.option("--profile", type=click.Path(path_type=Path), help="Artist profile file (default: in the user config folder).")
@click.option("--weights-dir", type=click.Path(path_type=Path), envvar="STYLECLOAK_WEIGHTS", help="Folder with weight files [env: STYLECLOAK_WEIGHTS].")
@click.option("--report", type=click.Path(path_type=Path), help="Write the estimates to this JSON file.")
@precision_option
def check(images, intensity, style, style_dirs, artist, profile, weights_dir, report, precision):
    """Estimate how well IMAGES (files or folders) can be protected, without protecting them.

    A quick trial cloak on a small copy (about 2 s an image on a laptop CPU) predicts the target
    progress (TP) the full cloak will reach at the worst mimic size, and flags images where it is
    expected to be weak (line art and flat colour often are). Writes nothing but --report.

    \b
    Examples:
      stylecloak check art/
      stylecloak check sketch.png --intensity high --report estimate.json
    """
    try:
        intensity = intensity_key(intensity)
        protector = Protector(
            ProtectSettings(intensity=intensity, target_style=None if style == "auto" else style, precision=precision),
            weights_dir=weights_dir,
            styles=parse_style_dirs(style_dirs),
        )
        protector = protector.with_settings(protector.resolve_target(images, artist=artist, profile=profile))
        target = protector.settings.target_style
    except StylecloakError as exc:
        fail(str(exc))
    console.print(f"target style: [bold]{target}[/bold]; expected TP at intensity {intensity} (weak below {MODERATE})", highlight=False)
    records: list[dict] = []
    failed = 0
    for path, _ in track(list(iter_images(images)), description="trial cloaks", console=console, transient=True):
        try:
            assessment = protector.estimate(load_image(path))
        except Exception as exc:  # noqa: BLE001 (one bad file never stops the check)
            failed += 1
            errors.print(f"[red]Error:[/red] {escape(describe(path, exc))}", highlight=False)
            records.append({"input": str(path), "error": describe(path, exc)})
            continue
        expected, warnings = assessment.expected(intensity), assessment.warnings(intensity)
        records.append(
            {
                "input": str(path),
                "expected_target_progress": round(expected, 4) if expected is not None else None,
                "pilot_target_progress": assessment.pilot,
                "texture": assessment.texture,
                "warnings": warnings,
            }
        )
        verdict = "[yellow]weak[/yellow]" if warnings else "ok"
        guess = f"expected TP ~{expected:.2f} ({verdict})" if expected is not None else f"not calibrated at intensity {intensity} (trial TP {assessment.pilot})"
        console.print(f"{escape(str(path))}: {guess}", highlight=False)
        for warning in warnings:
            console.print(f"  [yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    if report:
        write_json(report, {"target_style": target, "intensity": intensity, "images": records})
    console.print(f"{len(records) - failed} checked, {failed} failed", highlight=False)
    if failed:
        sys.exit(1)
