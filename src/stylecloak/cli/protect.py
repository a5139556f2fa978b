"""``stylecloak protect`` and ``stylecloak styles``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
import torch
from click.core import ParameterSource
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..api import Protector, provenance, settings_dict
from ..audit.reupload import after_reupload, short_audit
from ..backbones import DEFAULT_BACKBONE, FAMILIES
from ..cloak import METHODS, get_method
from ..cloak.pace import batch_seconds, duration_words, probe
from ..config import DEFAULT_METHOD, MIMIC_SIZES, QUALITY, ProtectSettings
from ..device import DEVICES, resolve_device
from ..engines import ENGINES, ProtectorSpec, RayEngine
from ..errors import ConfigError, StylecloakError
from ..io import METADATA_MODES, OPTOUTS, probe_image
from ..io.credentials import Identity, local_identity, require_c2pa
from ..perceptual import PERCEPTUAL
from ..plan import Plan, PlanError, plan_batch
from ..runner import BatchItem, BatchReport, run_plan
from ..styles import all_styles, parse_style_dirs
from ..verdict import AFTER_REUPLOAD, protection_verdict
from . import console, errors, fail, main, write_json
from .options import choice_option, intensity_option, precision_option


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Output folder (inputs' folders are mirrored).")
@intensity_option("How much change is allowed, named for how it looks: barely-visible, subtle or visible-up-close (also called low, default, high).")
@choice_option("--quality", QUALITY, "default", "How long/robustly to optimise.")
@choice_option("--method", METHODS, DEFAULT_METHOD, " ".join(f"{name}: {m.summary}." for name, m in METHODS.items()) + " All use the same caps (--intensity).")
@click.option("--style", "style", default="auto", show_default=True, help="Target style name, or auto (from the artist profile). Glaze only.")
@click.option("--style-dir", "style_dirs", multiple=True, metavar="NAME=DIR", help="Add a target style from a folder of images.")
@click.option("--artist", default="default", show_default=True, help="Artist name (selects the profile).")
@click.option("--profile", type=click.Path(path_type=Path), help="Artist profile file (default: in the user config folder).")
@click.option("--backbones", default=DEFAULT_BACKBONE, show_default=True, help="Comma-separated encoders to attack (ensemble).")
@click.option(
    "--against",
    metavar=",".join(FAMILIES),
    help="Comma-separated model families to protect against, by the tiny encoder of each one's latent space (sets "
    "--backbones: flux2=taef2, flux1=taef1, sdxl=taesdxl, sd15=taesd, sd3=taesd3). Encoders not bundled download on "
    "first use, or come from STYLECLOAK_WEIGHTS.",
)
@click.option("--weights-dir", type=click.Path(path_type=Path), envvar="STYLECLOAK_WEIGHTS", help="Folder with weight files [env: STYLECLOAK_WEIGHTS].")
@choice_option(
    "--perceptual",
    PERCEPTUAL,
    "auto",
    "Distance the budget is measured in (auto: LPIPS-AlexNet if the lpips package and weights are present, else EfficientNet-Lite0).",
)
@click.option("--steps", type=click.IntRange(1), help="Override the preset's number of optimisation steps.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--preview", is_flag=True, help="Also write NAME.preview.png (what the model sees: before/after/target) under --preview-dir.")
@click.option(
    "--preview-dir", type=click.Path(path_type=Path), help="Folder for the previews, mirroring the inputs' folders (default: OUT/previews); implies --preview."
)
@click.option("--report", type=click.Path(path_type=Path), help="Write all numbers to this JSON file.")
@choice_option(
    "--metadata",
    METADATA_MODES,
    "minimal",
    "What outputs keep of the input's metadata. minimal: colour profile, creator and copyright (no GPS position, "
    "comments, descriptions, camera or software); strip: only the colour profile; keep: all of it.",
)
@click.option(
    "--optout",
    type=click.Choice(list(OPTOUTS)),
    help="The 'no AI training' wish written into every output: genai (no generative AI training), ai (no AI or "
    "machine-learning training), all (no data mining at all, search-engine indexing included), none.  [default: genai]",
)
@click.option("--no-optout-metadata", is_flag=True, help="Same as --optout none.")
@click.option("--creator", help="Write this name as the outputs' creator (dc:creator); --artist only names the profile.")
@click.option("--rights", help="Write this copyright or usage notice as the outputs' rights (dc:rights).")
@click.option(
    "--record-settings",
    is_flag=True,
    help="Also write the target style, method and settings into each output's metadata (the report and the output "
    "folder's journal always hold them; naming the target can help a mimic undo the cloak).",
)
@click.option(
    "--c2pa",
    "c2pa",
    is_flag=True,
    help="Sign Content Credentials (C2PA) into each output: a tamper-evident 'no AI training' statement. Uses "
    "--c2pa-cert/--c2pa-key, or a local certificate made once in your config folder. Needs: pip install 'stylecloak[c2pa]'.",
)
@click.option("--c2pa-cert", type=click.Path(path_type=Path), help="Your signing certificate chain (PEM, EC P-256); implies --c2pa.")
@click.option("--c2pa-key", type=click.Path(path_type=Path), help="The private key of --c2pa-cert (PEM).")
@click.option("--device", default="auto", show_default=True, metavar="|".join(DEVICES), help="Where the models run (auto: CUDA, then MPS, then CPU).")
@choice_option("--engine", ENGINES, "local", "local: one image after another here; ray: spread over a Ray cluster.")
@click.option("--address", help="Ray cluster to join (HOST:PORT of `ray start --head`, or auto); default: start a local Ray. With --engine ray.")
@click.option("--workers", type=click.IntRange(1), help="Ray workers, each with its own models (default: one per 2 CPUs). With --engine ray.")
@click.option("--threads", type=click.IntRange(1), help="PyTorch threads per image (default: all cores here; CPU bytes depend on it).")
@precision_option
def protect(
    images,
    out_dir,
    intensity,
    quality,
    method,
    style,
    style_dirs,
    artist,
    profile,
    backbones,
    against,
    weights_dir,
    perceptual,
    steps,
    seed,
    preview,
    preview_dir,
    report,
    metadata,
    optout,
    no_optout_metadata,
    creator,
    rights,
    record_settings,
    c2pa,
    c2pa_cert,
    c2pa_key,
    device,
    engine,
    address,
    workers,
    threads,
    precision,
):
    """Cloak IMAGES (files or folders) into --out.

    Your originals are never written to: before any work, every file the batch would write is checked,
    and the run is refused (exit code 2) if one would land on an input, on another file of the batch, or
    on a file in --out that stylecloak did not write.

    \b
    Examples:
      stylecloak protect painting.jpg --out protected/
      stylecloak protect portfolio/ --out protected/ --artist me --quality fast
      stylecloak protect painting.jpg --out protected/ --method mist
      stylecloak protect painting.jpg --out protected/ --against sdxl,flux2
      stylecloak protect art/ --out protected/ --metadata strip --optout ai --creator "Ada Lovelace"
      STYLECLOAK_WEIGHTS=~/models stylecloak protect a.png --out o/ --report r.json
      stylecloak protect /shared/art --out /shared/protected --engine ray --address auto --device cuda
    """
    plan = _plan(images, out_dir, preview, preview_dir)  # before loading any model
    try:
        _check_options(method, style, engine, address, workers, optout, no_optout_metadata, against)
        if threads:
            torch.set_num_threads(threads)
        settings = ProtectSettings(
            intensity=intensity,
            quality=quality,
            method=method,
            backbones=tuple(b.strip() for b in backbones.split(",") if b.strip()),
            against=tuple(f.strip() for f in (against or "").split(",") if f.strip()),
            target_style=None if style == "auto" else style,
            perceptual=perceptual,
            seed=seed,
            precision=precision,
            optout="none" if no_optout_metadata else optout or "genai",
            overrides={"steps": steps} if steps else {},
            metadata=metadata,
            record_settings=record_settings,
            creator=creator,
            rights=rights,
            credentials=_signing_identity(c2pa, c2pa_cert, c2pa_key),
        )
        user_styles = parse_style_dirs(style_dirs)
        protector = Protector(settings, weights_dir=weights_dir, styles=user_styles, device=device if engine == "local" else _driver_device(device))
        protector = protector.with_settings(protector.resolve_target([t.input for t in plan.tasks], artist=artist, profile=profile))
        _announce(protector)
        if engine == "local":
            _forecast(protector, plan)
        spec = ProtectorSpec(protector.settings, weights_dir, user_styles, device)
        with RayEngine(spec, address=address, workers=workers, threads=threads) if engine == "ray" else contextlib.nullcontext() as ray_engine:
            result = _run(protector, plan, ray_engine, weights_dir)
    except StylecloakError as exc:
        fail(str(exc))
    _finish(result, protector, report)


def _plan(images: tuple[Path, ...], out_dir: Path, preview: bool, preview_dir: Path | None) -> Plan:
    """Every file the batch would write, checked against the originals; a refusal lists each problem (exit code 2)."""
    try:
        return plan_batch(images, out_dir, views=("preview",) if preview or preview_dir else (), view_dir=preview_dir)
    except PlanError as exc:
        for problem in exc.problems:
            errors.print(f"[red]Error:[/red] {escape(problem)}", highlight=False)
        sys.exit(2)
    except StylecloakError as exc:
        fail(str(exc))


def _check_options(
    method: str, style: str, engine: str, address: str | None, workers: int | None, optout: str | None, no_optout_metadata: bool, against: str | None
) -> None:
    """Options that contradict each other, refused before any model loads."""
    if engine == "local" and (address or workers):
        raise ConfigError("--address and --workers are for the Ray engine; add --engine ray")
    chosen = get_method(method)
    if not chosen.needs_style and style != "auto":
        raise ConfigError(f"--style is for --method glaze; {method} has a fixed target ({chosen.target_label(None)}): drop --style")
    if no_optout_metadata and optout not in (None, "none"):
        raise ConfigError(f"--no-optout-metadata means --optout none, not --optout {optout}: give one of them")
    if against is not None and click.get_current_context().get_parameter_source("backbones") != ParameterSource.DEFAULT:
        raise ConfigError("--against names the backbones by model family: give --against or --backbones, not both")


def _announce(protector: Protector) -> None:
    """The run in one line: its target style, method, steps, presets and budget."""
    s, settings = protector.cloak_settings, protector.settings
    console.print(
        f"target style: [bold]{settings.target_style}[/bold]  (method {settings.method}, {s.steps} steps, intensity {settings.intensity}, quality {settings.quality}, budget {s.budget} {settings.perceptual})",
        highlight=False,
    )


def _forecast(protector: Protector, plan: Plan) -> None:
    """Before a batch of several images: about how long it will take here, from a short speed probe."""
    sizes = [size for task in plan.tasks if (size := _size(task.input)) is not None]
    if len(sizes) > 1:
        rate = probe(protector.backbones, protector.cloak_settings, protector.device)
        console.print(f"{duration_words(batch_seconds(sizes, protector.cloak_settings, rate))} for {len(sizes)} images", highlight=False)


def _size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header; None for a file the batch will report as unreadable."""
    try:
        return probe_image(path)[1:]
    except StylecloakError:
        return None


def _finish(result: BatchReport, protector: Protector, report: Path | None) -> None:
    """The report (if asked for) and the batch's tally; exit code 1 if any image failed."""
    if report:
        settings = protector.settings
        record = {"settings": settings_dict(settings), "target_style": settings.target_style, "provenance": provenance(settings)}
        write_json(report, record | {"images": [i.record() for i in result.items]})
    done = sum(i.status == "done" for i in result.items)
    skipped = sum(i.status == "skipped" for i in result.items)
    console.print(f"{done} protected, {skipped} already done, {len(result.failed)} failed", highlight=False)
    if result.failed:
        sys.exit(1)


def _saved_line(saved: dict) -> str:
    """The saved file's numbers in words: what a JPEG or lossy WebP keeps of the cloak, and its size."""
    tp = "–" if saved["target_progress"] is None else f"{saved['target_progress']:.2f}"
    size = f"{saved['output_bytes'] / 1000:,.0f} KB"
    if saved["input_bytes"]:
        size += f" ({saved['output_bytes'] / saved['input_bytes']:.2f}× the input's {saved['input_bytes'] / 1000:,.0f} KB)"
    return f"TP {tp}  PSNR {saved['psnr_db']:.1f} dB  {size}"


def _signing_identity(c2pa: bool, cert: Path | None, key: Path | None) -> Identity | None:
    """The Content Credentials identity the options ask for: the artist's files, the local one, or none."""
    if (cert is None) != (key is None):
        raise ConfigError("--c2pa-cert and --c2pa-key go together: give both, or neither for the local certificate")
    if cert is None and not c2pa:
        return None
    require_c2pa()  # before any work: signing would fail on every file
    return Identity(cert, key) if cert is not None and key is not None else local_identity()


def _driver_device(device: str) -> str:
    """The Ray driver's device (for choosing the target style): the workers' one where it exists here, else the CPU."""
    try:
        return str(resolve_device(device))
    except ConfigError:
        return "cpu"


def _run(protector: Protector, plan: Plan, engine: RayEngine | None, weights_dir: Path | None):
    """Protect the plan's images with two bars, this image's steps and the whole batch's images with the time left;
    each finished image gets its protection gauge (:func:`_gauge`)."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        batch = bar.add_task("all images", total=len(plan.tasks))
        task = None if engine else bar.add_task("", total=protector.cloak_settings.steps)

        def factory(item: BatchItem, index: int):
            assert task is not None  # progress is reported only where the bar has a step line
            bar.reset(task, total=protector.cloak_settings.steps, description=item.input.name)
            return lambda step, total, info: bar.update(task, completed=step, total=total)

        def on_event(kind: str, item: BatchItem, index: int, total: int) -> None:
            tag = f"[{index + 1}/{total}]"
            if kind in ("done", "skipped", "failed", "cancelled"):
                bar.update(batch, advance=1)
            if kind == "done":
                s = item.summary
                assert s is not None  # a done item has its numbers
                bar.console.print(
                    f"{tag} {item.input} -> {item.output}  TP {s['target_progress']:.2f} (worst of {'/'.join(s['target_progress_by_size'])} px: {s['worst_size']})  d {s['perceptual_distance']:.3f}  PSNR {s['psnr_db']:.1f} dB  {s['seconds']:.1f} s",
                    highlight=False,
                )
                if "saved" in s:
                    bar.console.print(f"{tag} saved file: {_saved_line(s['saved'])}", highlight=False)
                if engine is None:
                    bar.console.print(f"{tag} {_gauge(protector, item, weights_dir)}", highlight=False)
                for warning in s.get("warnings", []):
                    bar.console.print(f"{tag} [yellow]warning:[/yellow] {escape(warning)}", highlight=False)
            elif kind == "skipped":
                bar.console.print(f"{tag} {item.input}: already done, skipped", highlight=False)
            elif kind == "warning":
                bar.console.print(f"{tag} [yellow]warning:[/yellow] {escape(item.warning or '')}", highlight=False)
            elif kind == "failed":
                (errors if console.quiet else bar.console).print(f"{tag} [red]failed[/red] {escape(item.error or '')}", highlight=False)

        return run_plan(plan, protector, on_event=on_event, progress_factory=None if engine else factory, engine=engine)


def _gauge(protector: Protector, item: BatchItem, weights_dir: Path | None) -> str:
    """The protection gauge in plain words, from a short check of what survives a re-upload (JPEG, half size, the
    repost trips) at the mimic sizes; the check's numbers join the item's summary (and so the report)."""
    target = protector.settings.decided_style
    assert item.output is not None and item.summary is not None  # a done item has its file and numbers
    try:
        checked = short_audit(item.input, item.output, target, MIMIC_SIZES, weights_dir, method=protector.settings.method, device=protector.device)
    except StylecloakError as exc:
        return f"protection not checked after a re-upload ({escape(str(exc))}); judge it by TP above"
    item.summary = {**item.summary, AFTER_REUPLOAD: after_reupload(checked)}
    word, percent = protection_verdict(item.summary)
    colour = {"strong": "green", "moderate": "yellow", "weak": "red"}[word]
    return (
        f"protection: [{colour}]{word}[/{colour}], {percent}% of the way to '{target}' after a re-upload (worst of JPEG, half size, repost; worst mimic size)"
    )


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
