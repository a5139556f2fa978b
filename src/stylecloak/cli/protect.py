"""``stylecloak protect`` and ``stylecloak styles``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
import torch
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..api import Protector, provenance, settings_dict
from ..backbones import DEFAULT_BACKBONE
from ..cloak import METHODS, get_method
from ..config import DEFAULT_METHOD, INTENSITY, QUALITY, ProtectSettings
from ..device import DEVICES, resolve_device
from ..engines import ENGINES, ProtectorSpec, RayEngine
from ..errors import ConfigError, StylecloakError
from ..io import check_out_dir
from ..perceptual import PERCEPTUAL
from ..runner import BatchItem, run_batch
from ..styles import all_styles, parse_style_dirs
from . import console, errors, fail, main, write_json


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder (inputs' folders are mirrored).")
@click.option("--intensity", type=click.Choice(list(INTENSITY)), default="default", show_default=True, help="How much change is allowed.")
@click.option("--quality", type=click.Choice(list(QUALITY)), default="default", show_default=True, help="How long/robustly to optimise.")
@click.option(
    "--method",
    type=click.Choice(list(METHODS)),
    default=DEFAULT_METHOD,
    show_default=True,
    help=" ".join(f"{name}: {m.summary}." for name, m in METHODS.items()) + " All use the same caps (--intensity).",
)
@click.option("--style", "style", default="auto", show_default=True, help="Target style name, or auto (from the artist profile). Glaze only.")
@click.option("--style-dir", "style_dirs", multiple=True, metavar="NAME=DIR", help="Add a target style from a folder of images.")
@click.option("--artist", default="default", show_default=True, help="Artist name (selects the profile).")
@click.option("--profile", type=click.Path(path_type=Path), help="Artist profile file (default: in the user config folder).")
@click.option("--backbones", default=DEFAULT_BACKBONE, show_default=True, help="Comma-separated encoders to attack (ensemble).")
@click.option("--weights-dir", type=click.Path(path_type=Path), envvar="STYLECLOAK_WEIGHTS", help="Folder with weight files [env: STYLECLOAK_WEIGHTS].")
@click.option("--perceptual", type=click.Choice(list(PERCEPTUAL)), default="auto", show_default=True, help="Distance the budget is measured in (auto: LPIPS-AlexNet if the lpips package and weights are present, else EfficientNet-Lite0).")
@click.option("--steps", type=int, help="Override the preset's number of optimisation steps.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--preview", is_flag=True, help="Also write NAME.preview.png: what the model sees, before/after/target.")
@click.option("--report", type=click.Path(path_type=Path), help="Write all numbers to this JSON file.")
@click.option("--no-optout-metadata", is_flag=True, help="Do not embed the XMP 'no AI training' signals.")
@click.option("--device", default="auto", show_default=True, metavar="|".join(DEVICES), help="Where the models run (auto: CUDA, then MPS, then CPU).")
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True, help="local: one image after another here; ray: spread over a Ray cluster.")
@click.option("--address", help="Ray cluster to join (HOST:PORT of `ray start --head`, or auto); default: start a local Ray. With --engine ray.")
@click.option("--workers", type=int, help="Ray workers, each with its own models (default: one per 2 CPUs). With --engine ray.")
@click.option("--threads", type=int, help="PyTorch threads per image (default: all cores here; CPU bytes depend on it).")
def protect(images, out_dir, intensity, quality, method, style, style_dirs, artist, profile, backbones, weights_dir, perceptual, steps, seed, preview, report, no_optout_metadata, device, engine, address, workers, threads):
    """Cloak IMAGES (files or folders) into --out.

    \b
    Examples:
      stylecloak protect painting.jpg --out protected/
      stylecloak protect portfolio/ --out protected/ --artist me --quality fast
      stylecloak protect painting.jpg --out protected/ --method mist
      STYLECLOAK_WEIGHTS=../shared/models stylecloak protect a.png --out o/ --report r.json
      stylecloak protect /shared/art --out /shared/protected --engine ray --address auto --device cuda
    """
    try:
        check_out_dir(out_dir)  # before loading any model
        if engine == "local" and (address or workers):
            raise ConfigError("--address and --workers are for the Ray engine; add --engine ray")
        chosen = get_method(method)
        if not chosen.needs_style and style != "auto":
            raise ConfigError(f"--style is for --method glaze; {method} has a fixed target ({chosen.target_label(None)}): drop --style")
        if threads is not None and threads < 1:
            raise ConfigError(f"--threads {threads}: give at least 1")
        if threads:
            torch.set_num_threads(threads)
        settings = ProtectSettings(
            intensity=intensity,
            quality=quality,
            method=method,
            backbones=tuple(b.strip() for b in backbones.split(",") if b.strip()),
            target_style=None if style == "auto" else style,
            perceptual=perceptual,
            seed=seed,
            optout=not no_optout_metadata,
            overrides={"steps": steps} if steps else {},
        )
        user_styles = parse_style_dirs(style_dirs)
        protector = Protector(settings, weights_dir=weights_dir, styles=user_styles, device=device if engine == "local" else _driver_device(device))
        target = chosen.target_label(settings.target_style)
        target = target or protector.choose_target(images, artist=artist, profile=profile, exclude=out_dir).target_style
        s = protector.cloak_settings
        console.print(f"target style: [bold]{target}[/bold]  (method {method}, {s.steps} steps, intensity {intensity}, quality {quality}, budget {s.budget} {protector.settings.perceptual})", highlight=False)
        spec = ProtectorSpec(protector.settings, weights_dir, user_styles, device)
        with RayEngine(spec, address=address, workers=workers, threads=threads) if engine == "ray" else contextlib.nullcontext() as ray_engine:
            result = _run(protector, images, out_dir, target, preview, ray_engine)
    except StylecloakError as exc:
        fail(str(exc))
    if report:
        record = {"settings": settings_dict(protector.settings), "target_style": target, "provenance": provenance(protector.settings, target)}
        write_json(report, record | {"images": [i.record() for i in result.items]})
    done = sum(i.status == "done" for i in result.items)
    skipped = sum(i.status == "skipped" for i in result.items)
    console.print(f"{done} protected, {skipped} already done, {len(result.failed)} failed", highlight=False)
    if result.failed:
        sys.exit(1)


def _driver_device(device: str) -> str:
    """The Ray driver's device (for choosing the target style): the workers' one where it exists here, else the CPU."""
    try:
        return str(resolve_device(device))
    except ConfigError:
        return "cpu"


def _run(protector: Protector, images, out_dir: Path, target: str, preview: bool, engine: RayEngine | None):
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("images" if engine else "", total=None if engine else protector.cloak_settings.steps)

        def factory(item: BatchItem, index: int):
            bar.reset(task, total=protector.cloak_settings.steps, description=item.input.name)
            return lambda step, total, info: bar.update(task, completed=step, total=total)

        def on_event(kind: str, item: BatchItem, index: int, total: int) -> None:
            tag = f"[{index + 1}/{total}]"
            if engine and kind != "start":  # the Ray engine reports whole images, not steps
                bar.update(task, advance=1, total=total)
            if kind == "done":
                s = item.summary
                bar.console.print(f"{tag} {item.input} -> {item.output}  TP {s['target_progress']:.2f} (worst of {'/'.join(s['target_progress_by_size'])} px: {s['worst_size']})  d {s['perceptual_distance']:.3f}  PSNR {s['psnr_db']:.1f} dB  {s['seconds']:.1f} s", highlight=False)
                for warning in s.get("warnings", []):
                    bar.console.print(f"{tag} [yellow]warning:[/yellow] {escape(warning)}", highlight=False)
            elif kind == "skipped":
                bar.console.print(f"{tag} {item.input}: already done, skipped", highlight=False)
            elif kind == "warning":
                bar.console.print(f"{tag} [yellow]warning:[/yellow] {escape(item.warning or '')}", highlight=False)
            elif kind == "failed":
                (errors if console.quiet else bar.console).print(f"{tag} [red]failed[/red] {escape(item.error or '')}", highlight=False)

        views = ("preview",) if preview else ()
        return run_batch(list(images), out_dir, protector, target, views=views, on_event=on_event, progress_factory=None if engine else factory, engine=engine)


@main.command()
@click.option("--style-dir", "style_dirs", multiple=True, metavar="NAME=DIR", help="Also list user styles from folders.")
def styles(style_dirs):
    """List the target styles.

    \b
    Example:
      stylecloak styles --style-dir ukiyo=~/refs/ukiyo
    """
    try:
        for name, st in all_styles(parse_style_dirs(style_dirs)).items():
            click.echo(f"{name:20s} {st.description}")
    except StylecloakError as exc:
        fail(str(exc))
