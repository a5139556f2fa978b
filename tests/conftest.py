"""Shared fixtures in two tiers: tiny random backbones and synthetic art that run anywhere, and the real
weights and paintings from ../shared (never copied into the repo) for tests marked ``weights`` or ``paintings``.

A test that needs missing data is skipped, and fails where CI=true; there any other skip fails the run too:
a CI run that skips is not a pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import (
    PAINTINGS,
    SHARED,
    install_tiny_backbones,
    painting_crop,
    real_weights,
    to_tensor,
)

from stylecloak.sample import paint_sample
from stylecloak.styles import transfer

torch.set_num_threads(2)

NEEDS = {"weights_dir": "weights", "painting_files": "paintings", "paintings_dir": "paintings", "small_painting": "paintings"}
"""Fixture -> the marker a test using it must carry."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> None:
    """Skip for missing data, or fail in CI."""
    message = f"missing {what}"
    if in_ci():
        pytest.fail(f"{message} (a skip in CI is a failure)", pytrace=False)
    pytest.skip(message)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI, a run with skipped tests (a missing tool or package) fails; ``-rs`` lists why each was skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if in_ci() and skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"{skipped} skipped: a skip in CI is a failure", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test using the real weights or paintings carries the marker saying so (so ``-m`` selects the tiers)."""
    unmarked = [
        f"{item.nodeid} (uses {name})"
        for item in items
        for name, marker in NEEDS.items()
        if name in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None
    ]
    both = [item.nodeid for item in items if {"tiny_weights", "weights_dir"} <= set(getattr(item, "fixturenames", ()))]
    if both:
        raise pytest.UsageError("use one tier of backbones per test (tiny_weights or weights_dir):\n  " + "\n  ".join(both))
    if unmarked:
        raise pytest.UsageError("mark these tests weights/paintings:\n  " + "\n  ".join(unmarked))


_STYLE_CACHES: dict[str, dict] = {"tiny": {}, "real": {}}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Latent style statistics are cached by backbone name, which the tiny backbones share with the real ones:
    each tier gets its own cache (chosen before any fixture of the test is set up)."""
    transfer._style_cache = _STYLE_CACHES["tiny" if "tiny_weights" in getattr(item, "fixturenames", ()) else "real"]


@pytest.fixture(scope="session", autouse=True)
def offline():
    """Tests never download: a backbone a test did not provide is an error naming the file, not a fetch."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STYLECLOAK_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder whose every TAESD-family backbone is a seeded random one (:func:`helpers.tiny_backbone`),
    served from the loader's per-process cache: pass it wherever the real folder would go (in this process)."""
    folder = tmp_path_factory.mktemp("tiny-weights")
    install_tiny_backbones(folder)
    return folder


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The real weights: $STYLECLOAK_WEIGHTS, ../shared/models or the user cache."""
    found = real_weights()
    if found is None:
        missing(f"weights: put taef2_encoder.pth and taef2_decoder.pth into $STYLECLOAK_WEIGHTS or {SHARED / 'models'}")
    return found


@pytest.fixture(scope="session")
def painting_files() -> list[Path]:
    files = sorted(PAINTINGS.glob("*/*.jpg"))
    if not files:
        missing(f"paintings: none in {PAINTINGS}")
    return files


@pytest.fixture(scope="session")
def paintings_dir() -> Path:
    """The paintings folder with its MANIFEST.csv (artist, title and style of each file)."""
    if not (PAINTINGS / "MANIFEST.csv").is_file():
        missing(f"paintings: no MANIFEST.csv in {PAINTINGS}")
    return PAINTINGS


@pytest.fixture(scope="session")
def small_painting(painting_files) -> torch.Tensor:
    """A 128 px crop of a real Monet as (1,3,128,128) in [0, 1]."""
    monet = next(p for p in painting_files if "claude-monet" in str(p))
    return to_tensor(painting_crop(monet, 128))


@pytest.fixture(scope="session")
def art_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four synthetic paintings (256×192 px JPEGs), in place of real ones where the content does not matter."""
    folder = tmp_path_factory.mktemp("art")
    files = [folder / f"art-{seed}.jpg" for seed in range(4)]
    for seed, path in enumerate(files):
        paint_sample(256, seed).save(path, quality=95)
    return files


@pytest.fixture(scope="session")
def small_art() -> torch.Tensor:
    """A 128 px synthetic painting as (1,3,128,128) in [0, 1]."""
    return to_tensor(painting_crop(paint_sample(171), 128))


@pytest.fixture(autouse=True)
def originals_untouched(monkeypatch):
    """In every test: each file the runner reads as an original (CLI, web app, library batches) still has the bytes
    it had when it was last read, when the test ends. A rerun may read an input the test changed meanwhile."""
    import hashlib

    from stylecloak import runner

    seen: dict[Path, str] = {}
    load = runner.load_image

    def recording(path, *args, **kwargs):
        file = Path(path)
        if file.is_file():
            seen[file.resolve()] = hashlib.sha256(file.read_bytes()).hexdigest()
        return load(path, *args, **kwargs)

    monkeypatch.setattr(runner, "load_image", recording)
    yield
    changed = [str(p) for p, digest in seen.items() if p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() != digest]
    assert not changed, f"originals were modified: {changed}"
