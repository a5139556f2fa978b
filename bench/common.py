"""Options and set-up every benchmark shares: output folder, paintings, weights, threads; and the one
shape of a results file (:func:`write_results`) that ``bench/report.py`` renders into the docs."""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from stylecloak.audit import read_manifest
from stylecloak.config import ROBUST

SHARED = Path(__file__).resolve().parents[2] / "shared"


def add_try_option(ap: argparse.ArgumentParser, what: str) -> None:
    """``--try FIELD=VALUE,...`` (repeatable): also measure ``what`` with these CloakSettings overrides (:func:`overrides`)."""
    ap.add_argument(
        "--try",
        dest="tries",
        action="append",
        default=[],
        metavar="FIELD=VALUE,...",
        help=f"Also measure {what} with these CloakSettings overrides (JSON values), e.g. --try latent_target=true.",
    )


def overrides(spec: str) -> dict:
    """``field=value,...`` (JSON values) as CloakSettings overrides; ``eot.FIELD=value`` changes a field of the
    default preset's EOT mix (:data:`~stylecloak.config.ROBUST`; a JSON list is a range)."""
    fields = {key: json.loads(value) for key, value in (item.split("=", 1) for item in spec.split(","))}
    eot = {key.removeprefix("eot."): tuple(v) if isinstance(v, list) else v for key, v in fields.items() if key.startswith("eot.")}
    return {key: v for key, v in fields.items() if not key.startswith("eot.")} | ({"eot": replace(ROBUST, **eot)} if eot else {})


def add_painting_options(ap: argparse.ArgumentParser, count: int, size: int, size_help: str) -> None:
    """``--count`` paintings at ``--size`` px, cloaked toward ``--style`` with the ``--intensity`` and ``--quality`` presets."""
    ap.add_argument("--count", type=int, default=count)
    ap.add_argument("--size", type=int, default=size, help=size_help)
    ap.add_argument("--style", default="woodcut")
    ap.add_argument("--intensity", default="default")
    ap.add_argument("--quality", default="default")


def add_shared_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--out", type=Path, help="Output folder (default: a new temporary folder).")
    ap.add_argument("--paintings", type=Path, default=SHARED / "data" / "paintings")
    ap.add_argument("--weights-dir", type=Path, default=Path(os.environ.get("STYLECLOAK_WEIGHTS", SHARED / "models")))
    ap.add_argument("--threads", type=int, default=2)


def set_up(args: argparse.Namespace, prefix: str) -> Path:
    """Apply ``--threads`` and return the output folder (``--out``, or a new temporary one)."""
    torch.set_num_threads(args.threads)
    return args.out or Path(tempfile.mkdtemp(prefix=prefix))


def artist_originals(args: argparse.Namespace, folder: Path) -> list[Path]:
    """The first ``--count`` works of ``--artist`` (manifest order), resized to ``--size`` long side as PNGs in ``folder``."""
    works = [p for p in read_manifest(args.paintings) if p.artist == args.artist][: args.count]
    if len(works) < args.count:
        sys.exit(f"{args.paintings}: only {len(works)} works by {args.artist!r}; lower --count or pick another artist")
    folder.mkdir(parents=True, exist_ok=True)
    originals = []
    for p in works:
        im = Image.open(p.path).convert("RGB")
        im.thumbnail((args.size, args.size), Image.LANCZOS)
        dest = folder / f"{p.path.stem}.png"
        im.save(dest)
        originals.append(dest)
    return originals


SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "neon", "asimd")
"""The /proc/cpuinfo flags that decide the encoders' speed and precision (bf16 runs natively only with
avx512_bf16 or amx_bf16): recorded with every result."""


def cpu_info(cpuinfo: str | None = None) -> dict:
    """CPU model, the :data:`SIMD_FLAGS` it has, and its logical cores, from /proc/cpuinfo where there is one."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {
        "model": fields.get("model name") or platform.processor() or platform.machine(),
        "flags": [f for f in SIMD_FLAGS if f in flags],
        "cores": os.cpu_count(),
    }


def machine() -> dict:
    """Where a benchmark ran: CPU, GPU (name, or None), torch version and its thread count."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_info(), "gpu": gpu, "torch": torch.__version__, "threads": torch.get_num_threads()}


@functools.cache
def git_commit() -> str | None:
    """The commit checked out when first asked (as this module is imported: a benchmark records the commit it started
    from), with ``+dirty`` when tracked files differed from it; None outside a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


git_commit()


def results_record(bench: str, rows: list[dict], **extra) -> dict:
    """A benchmark's results in the shape ``bench/report.py`` renders: what ran (command, commit, date),
    where (:func:`machine`), the rows, and any ``extra`` fields (settings, notes)."""
    return {
        "bench": bench,
        "command": "python " + shlex.join(sys.argv),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "machine": machine(),
        **extra,
        "rows": rows,
    }


def write_results(path: Path, bench: str, rows: list[dict], **extra) -> Path:
    """Write :func:`results_record` to ``path`` (copy it into ``bench/results/`` to publish it in the docs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results_record(bench, rows, **extra), indent=1, default=str) + "\n")
    print(f"results: {path}", flush=True)
    return path
