"""``stylecloak demo``: paint the built-in sample, protect it, audit it, and say what happened in five lines."""

from __future__ import annotations

import time
from pathlib import Path

import click
from PIL import Image
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..api import Protector, settings_dict
from ..audit.reupload import short_audit
from ..config import MIMIC_SIZES, ProtectSettings
from ..errors import StylecloakError
from ..io import OutputMetadata, load_image, save_image
from ..runner import BatchItem
from ..sample import paint_sample
from . import console, fail, main, write_json
from .options import precision_option

DEMO_STYLE = "woodcut"
"""The demo's target: the style Glaze's selection (``Protector.choose_target``, seed 0) picks for the sample.
Fixed here because running the selection would add about 25 s to a short demo."""

DEMO_SIZE = 512
"""The sample's default width: a first run in a minute or two on a 2-core CPU (docs/devices.md)."""


@main.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default="stylecloak-demo",
    show_default=True,
    help="Folder for the demo's files (files of the same names are replaced).",
)
@click.option("--open", "open_files", is_flag=True, help="Open the protected image and the model's view when done.")
@click.option("--weights-dir", type=click.Path(path_type=Path), envvar="STYLECLOAK_WEIGHTS", help="Folder with weight files [env: STYLECLOAK_WEIGHTS].")
@click.option(
    "--size",
    type=click.IntRange(32, 4096),
    default=DEMO_SIZE,
    show_default=True,
    help="Width of the sample (px). 1024 shows the cloak at every mimic size (512/768/1024 px) but takes several minutes on a laptop CPU.",
)
@click.option("--steps", type=click.IntRange(1), hidden=True, help="Override the preset's number of optimisation steps.")
@precision_option
def demo(out_dir: Path, open_files: bool, weights_dir: Path | None, size: int, steps: int | None, precision: str) -> None:
    """Protect a built-in sample painting and show what the cloak does (a minute or two on a laptop CPU).

    Paints a sample landscape, protects it with the default preset, checks what survives a mimic's
    clean-up (JPEG, downscaling) at the sizes mimics train at, and writes everything into --out.
    The sample is 512 px wide so that the first run is quick; mimics that train at 768 or 1024 px see
    a 512 px image at its own size. --size 1024 protects and checks all three sizes (several minutes
    on a CPU, seconds on a GPU).

    \b
    Examples:
      stylecloak demo
      stylecloak demo --out ~/stylecloak-demo --open
      stylecloak demo --size 1024
    """
    start = time.perf_counter()
    paths = {
        k: out_dir / f
        for k, f in (
            ("original", "original.png"),
            ("protected", "protected.png"),
            ("preview", "what-the-model-sees.png"),
            ("report", "report.json"),
            ("audit", "audit.json"),
        )
    }
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("painting the sample", total=None)
            _save_png(paint_sample(size), paths["original"])
            original = load_image(paths["original"])

            protector = _protector(weights_dir, steps, precision)
            bar.update(task, description="protecting", total=protector.cloak_settings.steps, completed=0)
            result = protector.protect(original, progress=lambda step, total, info: bar.update(task, completed=step, total=total))
            result.save(paths["protected"])
            _save_png(result.preview(), paths["preview"])
            item = BatchItem(input=paths["original"], output=paths["protected"], status="done", summary=result.summary(), views={"preview": paths["preview"]})
            write_json(paths["report"], {"settings": settings_dict(protector.settings), "target_style": DEMO_STYLE, "images": [item.record()]})

            checked = short_audit(
                paths["original"],
                paths["protected"],
                DEMO_STYLE,
                MIMIC_SIZES,
                weights_dir,
                lambda label, done, total: bar.update(task, description=f"checking: {label}", completed=done, total=total),
            )
            write_json(paths["audit"], checked)
    except StylecloakError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{out_dir}: cannot write the demo's files ({exc.strerror or exc}); choose another --out folder")
    for line in summary_lines(paths, result.summary(), checked, time.perf_counter() - start):
        click.echo(line)
    if open_files:
        for key in ("protected", "preview"):
            if click.launch(str(paths[key])) != 0:
                console.print(f"[yellow]warning:[/yellow] could not open {paths[key]}; open it with any image viewer", highlight=False)


def _protector(weights_dir: Path | None, steps: int | None, precision: str) -> Protector:
    """The demo's protector: the default presets toward :data:`DEMO_STYLE`."""
    return Protector(ProtectSettings(target_style=DEMO_STYLE, precision=precision, overrides={"steps": steps} if steps else {}), weights_dir=weights_dir)


def _save_png(image: Image.Image, path: Path) -> Path:
    """Write a PIL image as PNG with the package's atomic writer (no opt-out metadata: not a protected file)."""
    loaded = load_image(image)
    return save_image(loaded, loaded.rgb, path, metadata=OutputMetadata(optout="none"), format="PNG")


def summary_lines(paths: dict[str, Path], protected: dict, checked: dict, seconds: float) -> list[str]:
    """Five lines in plain words: what was made, what it achieved, where each file is."""
    sizes, worst, style = "/".join(checked["sizes"]), checked["worst"], checked["target_style"]
    return [
        f"1. Sample painting ({protected['width']}×{protected['height']} px, drawn by stylecloak): {paths['original']}",
        f"2. Protected copy, PSNR {protected['psnr_db']:.1f} dB (a change people barely see): {paths['protected']}",
        (
            f"3. What the AI model sees: at the training size where the cloak is weakest ({protected['worst_size']} px) its view "
            f"moved {protected['target_progress']:.0%} of the way to the '{style}' style (picture: original, protected, target): {paths['preview']}"
        ),
        (
            f"4. After a mimic's clean-up, checked at {sizes} px{_larger_hint(checked)}: still {worst['jpeg75']:.0%} of the way "
            f"after JPEG q75 and {worst['downscale_half']:.0%} after halving the size (worst size): {paths['audit']}"
        ),
        f"5. All numbers: {paths['report']} (done in {seconds:.0f} s). Next: stylecloak protect YOUR-ART/ --out protected/",
    ]


def _larger_hint(checked: dict) -> str:
    """Say so when the sample is smaller than the largest mimic size (it is then seen only at its own size)."""
    largest = max(MIMIC_SIZES)
    if max(map(int, checked["sizes"])) >= largest:
        return ""
    return f" (the sample's size; mimics training larger see it at that size; --size {largest} checks {'/'.join(map(str, MIMIC_SIZES))} px)"
