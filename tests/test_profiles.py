"""Artist profiles never collide: one file per artist name, whatever its script, and profiles saved under the
earlier naming found only where they record this very artist."""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stylecloak.styles.profile import ArtistProfile, default_profile_path, find_profile, load_profile, profile_key, save_profile

KEY = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*-[0-9a-f]{12}")


def nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(("a", "b"), [("山田 花子", "佐藤 美咲"), ("José", "Jos?"), ("a b", "a_b"), ("Ada", "ada")])
def test_different_artists_get_different_profiles(a: str, b: str) -> None:
    assert default_profile_path(a) != default_profile_path(b)
    assert default_profile_path(a).name.lower() != default_profile_path(b).name.lower()  # also on case-insensitive disks


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_profile_keys_are_injective_and_filename_safe(a: str, b: str) -> None:
    assume(nfc(a) != nfc(b))
    assert profile_key(a) != profile_key(b)
    for name in (a, b):
        key = profile_key(name)
        assert KEY.fullmatch(key) and len(key) <= 53, key
        assert profile_key(unicodedata.normalize("NFD", name)) == key  # the same name typed another way: the same artist


def old(folder: Path, name: str, artist: str, style: str = "woodcut") -> Path:
    """A profile saved under the earlier naming (``name``) by ``artist``."""
    return save_profile(ArtistProfile(artist=artist, target_style=style, backbone="taef2", seed=0), folder / name)


def test_an_earlier_profile_of_this_artist_is_still_found(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monet = old(tmp_path, "claude-monet.json", "claude-monet")
    jose = old(tmp_path, "Jos_.json", "José")
    with caplog.at_level(logging.WARNING, logger="stylecloak"):
        assert find_profile("claude-monet", tmp_path) == monet
        assert find_profile("José", tmp_path) == jose
        assert find_profile(unicodedata.normalize("NFD", "José"), tmp_path) == jose
    assert caplog.records == []
    new = save_profile(ArtistProfile("José", "mosaic", "taef2", 0), default_profile_path("José", tmp_path))
    assert find_profile("José", tmp_path) == new  # a profile under the new key wins


def test_an_earlier_profile_of_another_artist_is_not_adopted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    jose = old(tmp_path, "Jos_.json", "José")
    with caplog.at_level(logging.WARNING, logger="stylecloak"):
        assert find_profile("Jos?", tmp_path) == default_profile_path("Jos?", tmp_path)
    (notice,) = caplog.messages
    assert str(jose) in notice and "'José'" in notice and "--profile" in notice and "\n" not in notice


@pytest.mark.parametrize("artist", ["山田 花子", "佐藤 美咲"])
def test_the_shared_profile_is_never_adopted_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture, artist: str) -> None:
    shared = old(tmp_path, "_.json", "山田 花子", style="mosaic")
    with caplog.at_level(logging.WARNING, logger="stylecloak"):
        path = find_profile(artist, tmp_path)
    assert path == default_profile_path(artist, tmp_path) and not path.exists()
    (notice,) = caplog.messages
    assert str(shared) in notice and "no Latin letters" in notice and f"--profile {shared}" in notice and "mosaic" in notice
    assert load_profile(shared).target_style == "mosaic"  # left as it was
