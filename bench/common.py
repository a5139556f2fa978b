"""Options and set-up every benchmark shares: output folder, paintings, weights, threads."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

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
