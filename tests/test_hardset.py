"""The hard set: deterministic drawings whose pixels have the properties that make each class hard."""

from __future__ import annotations

import numpy as np
import pytest

from bench.hardset import PIECES, draw, hard_set
from stylecloak.errors import ConfigError


@pytest.fixture(scope="module")
def pieces():
    return hard_set(96)


def test_every_piece_is_deterministic_and_four_by_three(pieces):
    again = hard_set(96)
    for name, piece in pieces.items():
        assert piece.image.size == (96, 72) and piece.image.mode == "RGB"
        assert np.array_equal(np.asarray(piece.image), np.asarray(again[name].image)), name
    assert not np.array_equal(np.asarray(draw("architecture", 96, seed=1).image), np.asarray(pieces["architecture"].image))


def test_line_art_is_ink_on_mostly_empty_paper(pieces):
    for name, piece in pieces.items():
        if piece.style_class != "line art":
            continue
        a = np.asarray(draw(name, 256).image, np.float32).mean(-1)
        assert (a > 235).mean() > 0.6, name  # mostly paper
        assert (a < 160).mean() > 0.005, name  # with dark lines (thin ones turn grey when downsampled)


def test_flat_colour_is_few_colours_and_soft_painting_has_no_edges(pieces):
    poster = np.asarray(draw("poster", 256).image).reshape(-1, 3)
    _, counts = np.unique(poster, axis=0, return_counts=True)
    assert np.sort(counts)[::-1][:5].sum() / counts.sum() > 0.85  # five inks cover the poster (the rest: antialiased edges)
    soft = np.asarray(draw("soft-painting", 256).image, np.float32)
    assert np.abs(np.diff(soft, axis=0)).max() < 40 and np.abs(np.diff(soft, axis=1)).max() < 40


def test_bad_name_or_size_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown hard-set piece 'manga'"):
        draw("manga")
    with pytest.raises(ConfigError, match="too small"):
        draw("poster", 8)
    assert set(PIECES) == set(hard_set(32))
