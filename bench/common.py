"""Options and set-up every benchmark shares: output folder, paintings, weights, threads."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image

from stylecloak.audit import read_manifest

SHARED = Path(__file__).resolve().parents[2] / "shared"


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
