"""Shared fixtures: real weights and paintings from ../shared (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import MODELS, PAINTINGS, painting_crop, to_tensor

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    if not (MODELS / "taef2_encoder.pth").exists():
        pytest.skip(f"real weights not found in {MODELS}")
    return MODELS


@pytest.fixture(scope="session")
def painting_files() -> list[Path]:
    files = sorted(PAINTINGS.glob("*/*.jpg"))
    if not files:
        pytest.skip(f"shared paintings not found in {PAINTINGS}")
    return files


@pytest.fixture(scope="session")
def small_painting(painting_files) -> torch.Tensor:
    """A 128 px crop of a real Monet as (1,3,128,128) in [0, 1]."""
    monet = next(p for p in painting_files if "claude-monet" in str(p))
    return to_tensor(painting_crop(monet, 128))
