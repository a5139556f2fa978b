"""Fixed-style cloaks keep their decoded pixels: a change of code structure must not change what is saved."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.cloak_pixels import METHODS, SOURCES, STORE, cloak_all, sha256
from helpers import PAINTINGS

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def remade(weights_dir, painting_files):
    return cloak_all(PAINTINGS, weights_dir)


@pytest.mark.parametrize("case", SOURCES)
def test_saved_pixels_equal_the_fixtures(remade, case):
    stored = np.load(STORE)
    source = remade[case]
    assert sha256(source) == str(stored[f"{case}/sha256"]), f"input of {case} changed: the fixture no longer applies"
    for method in METHODS:
        expected = source.astype(np.int16) + stored[f"{case}/{method}"]
        got = remade[f"{case}/{method}"]
        assert got.shape == expected.shape
        changed = np.argwhere(got != expected)
        assert changed.size == 0, f"{case}/{method}: {len(changed)} decoded values differ, first at {changed[0].tolist()}"
