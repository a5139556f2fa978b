"""``stylecloak audit``: measure what cloaks achieve, what they cost and what survives countermeasures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..api import given_target
from ..audit import (
    ADAPTIVE,
    LEARNED,
    AuditReport,
    AuditSettings,
    CleanerSettings,
    MimicSettings,
    RobustSettings,
    audit,
    pair_files,
    parse_countermeasures,
)
from ..audit.portfolio import (
    DEFAULT_FRACTIONS,
    fraction_key,
    parse_fractions,
    plot_portfolio,
)
from ..backbones import DEFAULT_BACKBONE
from ..backbones.families import FAMILIES, measurable
from ..cloak import METHODS, get_method
from ..config import DEFAULT_METHOD, MIMIC_SIZES
from ..device import DEVICES, resolve_device
from ..errors import ConfigError, StylecloakError
from ..io import recorded_provenance
from ..styles import all_styles, load_profile, parse_style_dirs
from . import console, fail, main, write_json
from .options import budget_option


def _names(spec: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in spec.split(",") if n.strip())


@main.command(name="audit")
@click.argument("originals", type=click.Path(path_type=Path))
@click.argument("cloaked", type=click.Path(path_type=Path))
@click.option("--style", help="Target style the cloaks aimed at (default: what protect recorded in the files / output folder).")
@click.option(
    "--method", type=click.Choice(list(METHODS)), help=f"Protection method the cloaks were made with [default: as recorded by protect, else {DEFAULT_METHOD}]."
)
@click.option("--profile", type=click.Path(path_type=Path), help="Artist profile holding the target style.")
@click.option("--style-dir", "style_dirs", multiple=True, metavar="NAME=DIR", help="A user target style from a folder of images.")
@click.option("--backbones", help=f"Comma-separated encoders the cloaks were made against [default: as recorded by protect, else {DEFAULT_BACKBONE}].")
@click.option("--transfer", default="taesana", show_default=True, help="Comma-separated encoders not optimised against ('' for none).")
@click.option(
    "--against",
    metavar=",".join(FAMILIES),
    help="Also measure these model families' encoders (flux2, flux1, sdxl, sd15, sd3); those whose weights are not on "
    "this machine are listed as not measured (nothing is downloaded).",
)
@click.option("--weights-dir", type=click.Path(path_type=Path), envvar="STYLECLOAK_WEIGHTS", help="Folder with weight files [env: STYLECLOAK_WEIGHTS].")
@click.option(
    "--mimic-sizes",
    default=",".join(map(str, MIMIC_SIZES)),
    show_default=True,
    help="Comma-separated long sides (px) mimics train at; each is measured and the worst is the headline.",
)
@click.option("--work-size", type=int, help="Measure at this one long side only (alias for --mimic-sizes N).")
@click.option("--countermeasures", default="all", show_default=True, help="all, none, or a comma-separated list (e.g. jpeg75,impress).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random countermeasures.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the full report as JSON.")
@click.option("--markdown", type=click.Path(path_type=Path), help="Write the report as Markdown.")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a bar chart (PNG) of TP per countermeasure.")
@click.option("--mimic/--no-mimic", default=False, show_default=True, help="Also run the latent style-mimic proxy (one artist's works).")
@click.option("--artist", help="Whose works the originals are (default: inferred from the paintings' MANIFEST.csv).")
@click.option(
    "--paintings",
    type=click.Path(path_type=Path),
    envvar="STYLECLOAK_PAINTINGS",
    help="Reference paintings with MANIFEST.csv, for --mimic [env: STYLECLOAK_PAINTINGS].",
)
@click.option(
    "--cloaked-fraction",
    "fractions",
    default=",".join(map(fraction_key, DEFAULT_FRACTIONS)),
    show_default=True,
    help="With --mimic: shares of the artist's works the mimic sees cloaked (the rest original).",
)
@click.option("--portfolio-draws", type=int, default=4, show_default=True, help="Random choices of which works are cloaked, averaged per share.")
@budget_option("--robust-pairs", RobustSettings.pairs, f"{ADAPTIVE}: works (from --paintings, never the audited ones) the mimic cloaks to train on.")
@budget_option("--robust-steps", RobustSettings.steps, f"{ADAPTIVE}: fine-tuning steps of the mimic's encoder copies.")
@budget_option("--robust-size", RobustSettings.pair_size, f"{ADAPTIVE}: long side (px) of the mimic's training pairs.")
@budget_option(
    "--cleaner-works",
    CleanerSettings.works,
    f"{LEARNED}: works (from --paintings, never the audited ones) the attacker cloaks toward each of its target styles to train on.",
)
@budget_option("--cleaner-steps", CleanerSettings.steps, f"{LEARNED}: training steps of the attacker's cleaner.")
@budget_option("--cleaner-size", CleanerSettings.pair_size, f"{LEARNED}: long side (px) of the attacker's training pairs.")
@click.option(
    "--cleaner-unknown-target",
    is_flag=True,
    help=f"{LEARNED}: the attacker does not know the target style (chosen per artist, kept private) and cloaks toward other styles only; "
    "by default it knows it (the worst case).",
)
@click.option("--device", default="auto", show_default=True, metavar="|".join(DEVICES), help="Where the models run (auto: CUDA, then MPS, then CPU).")
def audit_command(
    originals,
    cloaked,
    style,
    method,
    profile,
    style_dirs,
    backbones,
    transfer,
    against,
    weights_dir,
    mimic_sizes,
    work_size,
    countermeasures,
    seed,
    json_path,
    markdown,
    plot,
    mimic,
    artist,
    paintings,
    fractions,
    portfolio_draws,
    robust_pairs,
    robust_steps,
    robust_size,
    cleaner_works,
    cleaner_steps,
    cleaner_size,
    cleaner_unknown_target,
    device,
):
    """Compare ORIGINALS with their CLOAKED copies (two files, or two folders with the same names).

    Reports target progress on the attacked encoders, transfer to others, the cost (PSNR, SSIM,
    perceptual distance), and the same after each countermeasure a mimic might apply. The target
    style and backbones are those protect recorded (XMP, OUT/.stylecloak/done.jsonl) unless given.

    \b
    Examples:
      stylecloak audit art/ protected/
      stylecloak audit art/ protected/ --style cubist-facets --json audit.json
      stylecloak audit a.png protected/a.png --profile me.json --countermeasures jpeg75,impress
      stylecloak audit art/ protected/ --style woodcut --mimic-sizes 512,1024
      stylecloak audit monet/ cloaked/ --style woodcut --mimic --paintings paintings/ --plot tp.png
      stylecloak audit monet/ cloaked/ --style woodcut --mimic --paintings P --cloaked-fraction 0.25,1 --countermeasures none,robust_encoder
      stylecloak audit art/ protected/ --countermeasures none,learned_cleaner --paintings paintings/
    """
    try:
        if plot and importlib.util.find_spec("matplotlib") is None:  # fail before the audit's minutes of work
            raise ConfigError("--plot needs matplotlib; install it with: pip install 'stylecloak[plot]'")
        pairs, warnings = pair_files(originals, cloaked)
        cms = parse_countermeasures(countermeasures)
        recorded = None if style and backbones and method and LEARNED not in cms else recorded_provenance([p.cloaked for p in pairs])
        method = method or (recorded or {}).get("method") or DEFAULT_METHOD
        attacked = _names(backbones or (recorded or {}).get("backbones") or DEFAULT_BACKBONE)
        families, absent = measurable(_names(against or ""), weights_dir)
        warnings += absent
        styles = parse_style_dirs(style_dirs)
        settings = AuditSettings(
            target_style=given_target(get_method(method), style, all_styles(styles)) or _target(profile, recorded),
            method=method,
            backbones=attacked,
            transfer=tuple(dict.fromkeys(n for n in (*_names(transfer), *families) if n not in attacked)),
            mimic_sizes=(work_size,) if work_size else _sizes(mimic_sizes),
            countermeasures=cms,
            seed=seed,
            robust=RobustSettings(pairs=robust_pairs, steps=robust_steps, pair_size=robust_size, crop=min(RobustSettings.crop, robust_size), seed=seed),
            cleaner=_cleaner(cleaner_works, cleaner_steps, cleaner_size, seed, recorded, knows_target=not cleaner_unknown_target),
        )
        study = _study(settings, mimic, paintings, artist, fractions, portfolio_draws)
        for w in warnings:
            console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
        report = _run(pairs, settings, study, weights_dir, styles, resolve_device(device), paintings)
    except StylecloakError as exc:
        fail(str(exc))
    report.warnings[:0] = warnings
    _print(report)
    _write(report, json_path, markdown, plot)


def _study(settings: AuditSettings, mimic: bool, paintings: Path | None, artist: str | None, fractions: str, draws: int) -> MimicSettings | None:
    """The mimic proxy's settings with --mimic (None without); refused where the works it needs are not given."""
    if mimic:
        if paintings is None:
            raise ConfigError("--mimic needs reference paintings: pass --paintings DIR (a folder with MANIFEST.csv)")
        measured = tuple(c for c in ("none", "jpeg75", "impress", ADAPTIVE) if c == "none" or c in settings.countermeasures)
        return MimicSettings(paintings=paintings, artist=artist, countermeasures=measured, fractions=parse_fractions(fractions), draws=draws)
    for name in (ADAPTIVE, LEARNED):
        if name in settings.countermeasures and paintings is None:
            raise ConfigError(f"{name} needs works to make the attacker's training pairs from: pass --paintings DIR (a folder with MANIFEST.csv)")
    return None


def _cleaner(works: int, steps: int, size: int, seed: int, recorded: dict[str, str] | None, *, knows_target: bool = True) -> CleanerSettings:
    """The learned attacker's settings: it cloaks with the preset protect recorded (else the defaults)."""
    recorded = recorded or {}
    return CleanerSettings(
        works=works,
        knows_target=knows_target,
        steps=steps,
        pair_size=size,
        patch=min(CleanerSettings.patch, size // 4 * 4),
        seed=seed,
        intensity=recorded.get("intensity") or CleanerSettings.intensity,
        quality=recorded.get("quality") or CleanerSettings.quality,
    )


def _write(report: AuditReport, json_path: Path | None, markdown: Path | None, plot: Path | None) -> None:
    """The report's files that were asked for (JSON, Markdown, plots), each named once written."""
    if json_path:
        write_json(json_path, report.to_dict())
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(report.to_markdown())
    portfolio_plot = None
    if plot:
        report.plot(plot)
        if report.mimic and "by_fraction" in report.mimic:
            portfolio_plot = plot_portfolio(report.mimic, plot.with_name(f"{plot.stem}-portfolio{plot.suffix}"))
    for label, path in (("JSON", json_path), ("Markdown", markdown), ("plot", plot), ("portfolio plot", portfolio_plot)):
        if path:
            console.print(f"{label}: {path}", highlight=False)


def _sizes(spec: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in _names(spec))
    except ValueError:
        raise ConfigError(f"--mimic-sizes {spec!r}: give comma-separated whole numbers of pixels, e.g. 512,768,1024") from None


def _target(profile: Path | None, recorded: dict[str, str] | None) -> str:
    """The target style protect aimed at, where --style does not name it: the --profile's, else the one recorded."""
    if profile is None:
        if recorded:
            return recorded["targetStyle"]
        raise ConfigError(
            "no target style: the protected files hold no record of it (protect writes it into their XMP and OUT/.stylecloak/done.jsonl); "
            "pass --style NAME or --profile PATH (the artist profile used by protect)"
        )
    found = load_profile(profile)
    if found is None:
        raise ConfigError(f"{profile}: profile not found; pass the --profile protect used, or --style NAME")
    return found.target_style


def _run(pairs, settings: AuditSettings, study: MimicSettings | None, weights_dir, styles, device, paintings) -> AuditReport:
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("auditing", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=label)

        if ADAPTIVE in settings.countermeasures:
            bar.update(task, description=f"{ADAPTIVE}: the mimic cloaks {settings.robust.pairs} works and robust-trains its encoders")
        elif LEARNED in settings.countermeasures:
            bar.update(task, description=f"{LEARNED}: the attacker cloaks works of its own")
        report = audit(pairs, settings, mimic=study, weights_dir=weights_dir, styles=styles, progress=progress, device=device, robust_works=paintings)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    return report


def _cell(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _print(report: AuditReport) -> None:
    s, st = report.summary, report.settings
    sizes = list(s["sizes"])
    table = Table(title=f"Protection audit: {s['images']} image(s), target {st.target_style}; worst mimic size {s['worst_size']} px")
    table.add_column("countermeasure")
    for k in sizes:
        table.add_column(f"TP at {k} px", justify="right")
    table.add_column(f"worst TP ({', '.join(st.backbones)})", justify="right")
    table.add_column(f"worst transfer ({', '.join(st.transfer) or '–'})", justify="right")
    for (name, by_size), (_, tp, tr) in zip(report.size_rows(), report.rows()):
        table.add_row(name, *(_cell(by_size[k]) for k in sizes), _cell(tp), _cell(tr))
    console.print(table)
    console.print(
        f"cost: PSNR {s['psnr_db']:.1f} dB, SSIM {s['ssim']:.3f}, perceptual {s['perceptual_distance']:.3f}; "
        f"view change {s['view_change']:.3f} (worst size); {report.seconds:.0f} s ({s['seconds_per_image']:.1f} s per image)",
        highlight=False,
    )
    if report.mimic:
        m = report.mimic
        mt = Table(
            title=f"Latent style-mimic proxy: {m['artist']} (base rate {m['base_rate']:.2f}, base score {m['base_score']:.2f}, "
            f"judge LOO top-3 {m['judge']['loo_accuracy']:.2f})"
        )
        for col in ("countermeasure", "recognised clean", "recognised cloaked", "protection", "victim score clean", "victim score cloaked", "score drop"):
            mt.add_column(col, justify="left" if col == "countermeasure" else "right")
        for name, v in m["countermeasures"].items():
            cells = ("recognised_clean", "recognised_cloaked", "protection", "victim_score_clean", "victim_score_cloaked", "score_drop")
            mt.add_row(name, *(_cell(v[c]) for c in cells))
        console.print(mt)
        if "by_fraction" in m:
            ft = Table(
                title=f"Score drop (top-3 protection) by share of the portfolio cloaked ({m['portfolio']['works']} works, {m['portfolio']['draws']} draws)"
            )
            ft.add_column("share cloaked")
            for name in m["countermeasures"]:
                ft.add_column(name, justify="right")
            for f, v in m["by_fraction"].items():
                ft.add_row(f"{m['portfolio']['cloaked_share'][f]:.2f}", *(f"{_cell(b['score_drop'])} ({_cell(b['protection'])})" for b in v.values()))
            console.print(ft)
    if report.robust_encoder:
        entry = s["countermeasures"].get(ADAPTIVE, {})
        tps = ", ".join(f"{e['encoder']} {e['pair_tp_before']:.2f} → {e['pair_tp_after']:.2f}" for e in report.robust_encoder["encoders"])
        console.print(
            f"{ADAPTIVE}: TP on the mimic's own pairs {tps}; clean round trip {_cell(entry.get('clean_roundtrip_psnr_db'))} dB PSNR "
            f"({report.robust_encoder['seconds']:.0f} s of training)",
            highlight=False,
        )
    if report.learned_cleaner and report.detection:
        entry, record, d = s["countermeasures"].get(LEARNED, {}), report.learned_cleaner, report.detection
        console.print(
            f"{LEARNED}: {record['parameters']:,} parameters, {record['train_pairs']} pairs, {record['steps']} steps; cleaning a clean image "
            f"{_cell(entry.get('cleaned_clean_psnr_db'))} dB PSNR. Detector: AUC {d['auc']:.2f} ({d['auc_ci'][0]:.2f}–{d['auc_ci'][1]:.2f}), "
            f"TPR at 1 % FPR {d['tpr_at_1pct_fpr']:.2f} over {d['test_pairs']} pairs, {d['negatives']} clean crops",
            highlight=False,
        )
