"""Render the measurement tables in the docs from the results files in bench/results/.

A table in a Markdown file lives between two marker comments naming its results file (and, for files
shown more than one way, a view)::

    <!-- table: strength-h200 -->            bench/results/strength-h200.json, its bench's default view
    <!-- table: styles_report-256 by-class -->
    ...                                      (rewritten by this script)
    <!-- /table -->

Each table is followed by a line naming its source: the command, commit, date, CPU and its flags or GPU,
and torch version, as the results file records them (``bench/common.write_results`` writes that shape).

    python bench/report.py            # rewrite the tables in README.md and docs/
    python bench/report.py --check    # exit 1, naming each file, where a table differs from its data

Standard library only, so that CI can run it without torch.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
REQUIRED = ("bench", "commit", "date", "machine", "rows")
FENCE = re.compile(r"(^```.*?^```[^\n]*$)", re.S | re.M)
MARKER = re.compile(r"<!-- table: (?P<name>[\w.-]+)(?: (?P<view>[\w-]+))? -->\n(?P<body>.*?)<!-- /table -->", re.S)

Column = tuple[str, str, str]
"""(header, key, format): ``key`` may be dotted (``score_drop.none``); a key whose value is a dict expands
into one column per entry, headed ``header KEY``; format is a format spec, or "" for the value as text."""

HARD_SET = ("line art", "flat colour", "digital painting")
CLASS_ORDER = (*HARD_SET, "woodblock print", "painting")


class ReportError(Exception):
    """A results file or marker that cannot be rendered; the message names the file and the fix."""


def shown(path: Path) -> str:
    """``path`` relative to the repository where it lies inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def load(name: str) -> dict:
    """The results file ``bench/results/NAME.json``, checked for the fields every results file records."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise ReportError(f"{shown(path)}: no such results file; write it with bench/common.write_results or fix the marker")
    record = json.loads(path.read_text())
    missing = [k for k in REQUIRED if k not in record] + ([] if "command" in record or "commands" in record else ["command"])
    if missing:
        raise ReportError(f"{shown(path)}: missing {', '.join(missing)}; results files are written by bench/common.write_results")
    return record


def value(row: dict, key: str):
    for part in key.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row


def fmt(v, spec: str) -> str:
    if v is None:
        return "–"
    if spec and isinstance(v, (int, float)) and not isinstance(v, bool):
        return format(v, spec).replace("-", "−")
    return str(v)


def table(rows: list[dict], columns: Iterable[Column]) -> list[list[str]]:
    """Header and cells of ``rows`` under ``columns`` (dict-valued columns expanded by the first row's keys)."""
    expanded: list[Column] = []
    for header, key, spec in columns:
        first = value(rows[0], key) if rows else None
        if isinstance(first, dict):
            expanded += [(f"{header} {k}", f"{key}.{k}", spec) for k in first]
        else:
            expanded.append((header, key, spec))
    return [[h for h, _, _ in expanded]] + [[fmt(value(r, k), s) for _, k, s in expanded] for r in rows]


def by_class(record: dict) -> list[list[str]]:
    """styles_report: mean per config, intensity and style class, and the hard set (line art, flat colour, digital painting)."""
    rows = record["rows"]
    out = [["config", "intensity", "class", "images", "TP", "JPEG q75", "PSNR", "d"]]
    for config in dict.fromkeys(r["config"] for r in rows):
        for intensity in dict.fromkeys(r["intensity"] for r in rows):
            for group in (*CLASS_ORDER, "hard set"):
                classes = HARD_SET if group == "hard set" else (group,)
                sel = [r for r in rows if r["config"] == config and r["intensity"] == intensity and r["class"] in classes]
                if sel:
                    mean = {k: sum(r[k] for r in sel) / len(sel) for k in ("tp", "jpeg75", "psnr", "d")}
                    out.append(
                        [
                            config,
                            intensity,
                            group,
                            str(len(sel)),
                            fmt(mean["tp"], ".3f"),
                            fmt(mean["jpeg75"], ".3f"),
                            fmt(mean["psnr"], ".2f"),
                            fmt(mean["d"], ".3f"),
                        ]
                    )
    return out


def visibility(record: dict) -> list[list[str]]:
    """strength: the visibility referee per configuration, the mean and the worst painting."""
    rows = [{"config": name, **{f"{k}_{which}": v for which, values in seen.items() for k, v in values.items()}} for name, seen in record["visibility"].items()]
    metrics = (("PSNR dB", "psnr_db", ".2f"), ("MS-SSIM", "ms_ssim", ".3f"), ("VIF", "vif", ".3f"), ("SSIM", "ssim", ".3f"))
    return table(
        rows, [("config", "config", "")] + [(f"{name}, {which}", f"{key}_{which}", spec) for name, key, spec in metrics for which in ("mean", "worst")]
    )


def columns(*specs: str) -> Callable[[dict], list[list[str]]]:
    """The view of a results file's rows under the columns of ``specs``, each written like a format string's fields
    with their headers: ``"TP {tp:.3f} | config {config}"`` is the columns ("TP", "tp", ".3f") and ("config", "config", "")."""
    spec = tuple((header.strip(" |"), key, form or "") for text in specs for header, key, form, _ in string.Formatter().parse(text) if key)
    return lambda record: table(record["rows"], spec)


STRENGTH = "config {config} | mimic size {size} | TP {tp:.3f}"
"""The columns the strength views open with."""

SPEED = "case {case} | pixels {pixels} | s/image {seconds:.1f} | peak RSS MB {peak_rss_mb:.0f} | TP {tp:.3f} | TP after JPEG q75 {tp_jpeg75:.3f}"
"""The columns the speed views open with."""

OUTPUT_SIZE = "work {work} | input quality {input_quality:d}"
"""The columns the output_size views open with."""

VIEWS: dict[tuple[str, str | None], Callable[[dict], list[list[str]]]] = {
    ("strength", None): columns(
        STRENGTH,
        "JPEG q90 {jpeg90:.3f} | JPEG q75 {jpeg75:.3f} | ½ and back {downscale_half:.3f} | AdverseCleaner {adverse_cleaner:.3f}",
        "noisy upscale {noisy_upscale:.3f} | IMPRESS {impress:.3f} | transfer {transfer:.3f}",
    ),
    ("strength", "style"): columns(
        STRENGTH,
        "SP {sp.none:.3f} | TP JPEG q75 {jpeg75:.3f} | SP JPEG q75 {sp.jpeg75:.3f} | TP repost 1080 {repost_1080:.3f} | SP repost 1080 {sp.repost_1080:.3f}",
        "transfer TP {transfer:.3f} | s/image {seconds_per_image:.0f}",
    ),
    ("strength", "frontier"): columns(
        STRENGTH,
        "SP {sp.none:.3f} | TP repost 1080 {repost_1080:.3f} | SP repost 1080 {sp.repost_1080:.3f} | TP noisy upscale {noisy_upscale:.3f}",
        "transfer TP {transfer:.3f} | s/image {seconds_per_image:.0f}",
    ),
    ("strength", "full"): columns(
        STRENGTH,
        "SP {sp.none:.3f} | repost 1080 {repost_1080:.3f} | SP repost 1080 {sp.repost_1080:.3f} | repost 2048 {repost_2048:.3f} | JPEG q75 {jpeg75:.3f}",
        "½ and back {downscale_half:.3f} | AdverseCleaner {adverse_cleaner:.3f} | noisy upscale {noisy_upscale:.3f} | IMPRESS {impress:.3f} | transfer {transfer:.3f}",
    ),
    ("strength", "repost"): columns(
        STRENGTH,
        "SP {sp.none:.3f} | JPEG q75 {jpeg75:.3f} | repost 1080 {repost_1080:.3f} | SP repost 1080 {sp.repost_1080:.3f}",
        "repost 2048 {repost_2048:.3f} | SP repost 2048 {sp.repost_2048:.3f} | transfer {transfer:.3f} | s/image {seconds_per_image:.0f}",
    ),
    ("strength", "visibility"): visibility,
    ("strength", "attacks"): columns(
        STRENGTH,
        "JPEG q75 {jpeg75:.3f} | noisy upscale {noisy_upscale:.3f} | IMPRESS {impress:.3f} | repost 1080 {repost_1080:.3f}",
        "learned cleaner {learned_cleaner:.3f} | cleaned clean image, PSNR dB {learned_cleaner_clean_psnr_db:.1f}",
    ),
    ("cleaner_defences", None): columns(
        "condition {condition} | TP {tp:.3f} | TP after cleaner {tp_cleaned:.3f} | change {change:+.3f} | SP {sp:.3f} | SP after cleaner {sp_cleaned:.3f}",
        "removal ratio {removal:.3f} | cleaned clean image, PSNR dB {cleaned_clean_psnr_db:.1f} | cloak PSNR dB {psnr_db:.1f}",
        "attacker's pairs {train_pairs:d} | steps {steps:d} | attacker s {attacker_seconds:.0f} | cloak s/image {defender_seconds_per_image:.0f}",
    ),
    ("omega_statistics", None): columns("work {work} | SP of the latents Ω is decoded from {sp_styled_latents:.3f} | SP of Φ(Ω) {sp_omega_encoded:.3f}"),
    ("throughput", None): columns("case {case} | wall s {wall_s:.1f} | images/hour {images_per_hour:d} | same bytes as local {same_bytes_as_local}"),
    ("audit", None): columns("countermeasure {countermeasure} | target progress {tp:.2f} | transfer progress {transfer:.2f}"),
    ("methods", None): columns(
        "method {method} | budget {budget} | steps {steps:d} | PSNR dB {psnr_db:.1f} | SSIM {ssim:.3f} | perceptual {perceptual_distance:.3f}",
        "L∞ ×255 {linf:.1f} | s/image {seconds:.0f} | score drop {score_drop:+.3f} | view change {view_change:.3f} | own TP {target_progress.none:.3f}",
    ),
    ("speed", None): columns(SPEED, "PSNR {psnr_db:.2f} | speed-up {speed_up}"),
    ("speed", "again"): columns(SPEED, "PSNR {psnr_db:.2f} | same image again, s {seconds_second_image:.1f} | speed-up {speed_up}"),
    ("styles_report", None): columns(
        "config {config} | intensity {intensity} | image {image} | class {class} | TP {tp:.3f} | JPEG q75 {jpeg75:.3f} | PSNR {psnr:.2f} | d {d:.3f}",
        "trial TP {pilot:.3f} | estimate {estimate:.3f}",
    ),
    ("styles_report", "by-class"): by_class,
    ("adaptive_classical", None): columns(
        "cloak {cloak} | TP {tp:.3f} | SP {sp:.3f} | JPEG q75 {jpeg75:.3f} | noisy upscale {noisy_upscale:.3f} | repost 1080 {repost_1080:.3f} | transfer {transfer:.3f}"
    ),
    ("audit_time", None): columns(
        "pairs {pairs:d} | size px {size:d} | countermeasures {countermeasures} | precision {precision} | attacker trained, s {attacker_seconds:.0f}",
        "audit in all, s {seconds:.0f} | peak RSS MB {peak_rss_mb:.0f} | threads {threads:d}",
    ),
    ("concurrency", None): columns("OMP_WAIT_POLICY {policy} | protects at once {at_once:d} | wall s, each {seconds:.1f} | output sha256 {output_sha256}"),
    ("output_size-quality", None): columns(
        OUTPUT_SIZE,
        "saved as {saved} | saved quality {saved_quality:d} | bytes ÷ input {bytes_ratio:.2f} | PSNR dB {psnr_db:.2f} | TP of the file {tp:.3f}",
        "TP after JPEG q75 {tp_jpeg75:.3f}",
    ),
    ("output_size-native", None): columns(
        OUTPUT_SIZE,
        "input bytes {input_bytes:,d} | output bytes {output_bytes:,d} | bytes ÷ input {bytes_ratio:.2f}",
        "PNG level 6 bytes {png_level6_bytes:,d} | s {png_level6_s:.2f} | PNG optimize bytes {png_optimize_bytes:,d} | s {png_optimize_s:.2f}",
    ),
}


def source_line(name: str, record: dict) -> str:
    """Where the numbers come from, in one line under the table."""
    commands = record.get("commands") or [record["command"]]
    m = record["machine"]
    cpu = m.get("cpu") or {}
    where = m.get("gpu") or f"{cpu.get('model', 'CPU')} ({', '.join(cpu.get('flags', [])) or 'flags not recorded'})"
    threads = f", {m['threads']} threads" if m.get("threads") else ""
    torch = f"torch {m['torch']}" if m.get("torch") else "torch version not recorded"
    runs = "; ".join(f"`{c}`" for c in commands)
    note = f" {record['note']}" if record.get("note") else ""
    return f"Source: `{shown(RESULTS / (name + '.json'))}`: {runs}; commit {record['commit']}, {record['date']}; {where}{threads}; {torch}.{note}"


def render(name: str, view: str | None) -> str:
    """The Markdown that belongs between the markers of ``name`` (``view``)."""
    record = load(name)
    make = VIEWS.get((record["bench"], view))
    if make is None:
        known = ", ".join(v or "(default)" for b, v in VIEWS if b == record["bench"]) or "none"
        raise ReportError(f"{shown(RESULTS / (name + '.json'))}: no view {view or '(default)'!r} for bench {record['bench']!r}; known: {known}")
    header, *rows = make(record)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n\n" + source_line(name, record) + "\n"


def update(text: str, where: str) -> str:
    """``text`` with every marked table re-rendered."""

    def one(m: re.Match) -> str:
        try:
            body = render(m["name"], m["view"])
        except ReportError as exc:
            raise ReportError(f"{where}: {exc}") from None
        view = f" {m['view']}" if m["view"] else ""
        return f"<!-- table: {m['name']}{view} -->\n{body}<!-- /table -->"

    parts = FENCE.split(text)  # odd parts are fenced code blocks, where markers are examples, not tables
    return "".join(part if i % 2 else MARKER.sub(one, part) for i, part in enumerate(parts))


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="Change nothing; exit 1 where a table differs from its results file.")
    ap.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md and docs/**/*.md).")
    args = ap.parse_args(argv)
    stale = []
    try:
        for path in args.files or documents():
            text = path.read_text()
            new = update(text, shown(path.resolve()))
            if new != text:
                stale.append(path)
                if not args.check:
                    path.write_text(new)
    except ReportError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if args.check and stale:
        print("Error: tables differ from bench/results in " + ", ".join(shown(p.resolve()) for p in stale) + "; run python bench/report.py", file=sys.stderr)
        return 1
    for path in stale:
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
