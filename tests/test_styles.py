"""Glaze target selection: the percentile band, seeding, and the artist profile."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import painting_crop, to_tensor

from stylecloak.api import Protector
from stylecloak.config import ProtectSettings
from stylecloak.errors import ConfigError
from stylecloak.styles import (
    builtin_styles,
    choose_target,
    load_profile,
    save_profile,
    style_distances,
)


def test_choice_lies_in_the_50_75_percentile_band():
    distances = {f"s{i}": float(d) for i, d in enumerate(np.linspace(1, 20, 20))}
    values = np.array(list(distances.values()))
    lo, hi = np.percentile(values, 50), np.percentile(values, 75)
    picks = {choose_target(distances, seed)[0] for seed in range(40)}
    assert all(lo <= distances[p] <= hi for p in picks)
    assert len(picks) > 1  # the seed matters
    assert choose_target(dict(reversed(distances.items())), 7) == choose_target(distances, 7)  # listing order does not matter


def test_no_candidates_is_an_error():
    with pytest.raises(ConfigError):
        choose_target({})


def test_builtin_library_has_at_least_16_distinct_deterministic_styles():
    styles = builtin_styles()
    assert len(styles) >= 16
    a = styles["woodcut"].images(64, 1)
    assert (a == styles["woodcut"].images(64, 1)).all()
    means = {name: s.images(64, 1).mean((0, 2, 3)) for name, s in styles.items()}
    names = list(means)
    assert all((means[a] - means[b]).abs().sum() > 1e-3 for i, a in enumerate(names) for b in names[i + 1 :])


@pytest.fixture(scope="module")
def artist_images(art_files):
    return [to_tensor(painting_crop(p, 96)) for p in art_files]


def test_profile_is_created_once_and_reused(tiny_weights, artist_images, tmp_path):
    protector = Protector(ProtectSettings(), weights_dir=tiny_weights)
    path = tmp_path / "artist.json"
    first = protector.choose_target(artist_images, artist="monet", profile=path)
    distances = style_distances(protector.renderer, artist_images, protector.styles)
    assert first.distances == pytest.approx(distances, rel=1e-4)
    lo, hi = np.percentile(list(distances.values()), [50, 75])
    assert lo - 1e-6 <= distances[first.target_style] <= hi + 1e-6
    assert load_profile(path).target_style == first.target_style
    # a later run with other images keeps the artist's target
    again = protector.choose_target(artist_images[:1], artist="monet", profile=path)
    assert again.target_style == first.target_style


def test_profile_round_trip_and_corrupt_profile(tmp_path):
    from stylecloak.styles import ArtistProfile

    path = save_profile(ArtistProfile("a", "woodcut", "taef2", 3, {"woodcut": 1.0}, (0.5, 1.5)), tmp_path / "p.json")
    assert load_profile(path).band == (0.5, 1.5)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="p.json"):
        load_profile(path)
