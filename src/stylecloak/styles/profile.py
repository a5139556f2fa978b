"""The artist profile: the target style chosen once for an artist and reused for all later works.

Profiles live in the user config folder under a key that differs for every artist name (:func:`profile_key`).
Profiles saved under the earlier scheme, which gave different names one file (every name without Latin letters
shared ``_.json``), are still found where the file records this very artist (:func:`find_profile`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from platformdirs import user_config_dir

from ..errors import ConfigError
from ..io.atomic import atomic_file

log = logging.getLogger(__name__)

PROFILE_VERSION = 1
_SLUG_CHARS = 40


@dataclass(frozen=True)
class ArtistProfile:
    """The persisted choice of target style for one artist."""

    artist: str
    target_style: str
    backbone: str
    seed: int
    distances: dict[str, float] = field(default_factory=dict)
    band: tuple[float, float] = (0.0, 0.0)
    created: str = ""
    version: int = PROFILE_VERSION


def profile_key(artist: str) -> str:
    """A filename-safe key that differs for every artist name: a readable ASCII slug of the name plus 12 hex digits
    of the SHA-256 of its NFC form (so a name typed with composed or decomposed accents is the same artist):
    ``"José Martí"`` → ``jose-marti-`` and 12 hex digits; ``"山田 花子"`` → ``artist-`` and 12 hex digits.
    """
    name = unicodedata.normalize("NFC", artist)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower())[:_SLUG_CHARS].strip("-") or "artist"
    return f"{slug}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def default_profile_path(artist: str = "default", folder: str | Path | None = None) -> Path:
    """Where the profile of ``artist`` is saved: ``folder`` (default: the user config folder's ``profiles``) / key.json."""
    root = Path(folder) if folder is not None else Path(user_config_dir("stylecloak")) / "profiles"
    return root / f"{profile_key(artist)}.json"


def find_profile(artist: str = "default", folder: str | Path | None = None) -> Path:
    """The profile file to use for ``artist``: :func:`default_profile_path`, or a profile saved under the earlier
    scheme when that file records this very artist and its name was the artist's own (not one that names made only
    of non-Latin letters or punctuation shared, like ``_.json``). An earlier file that is not adopted is named in a
    one-line notice (logged), with how to use it anyway."""
    path = default_profile_path(artist, folder)
    if path.exists():
        return path
    name = unicodedata.normalize("NFC", artist)
    forms = (artist, name, unicodedata.normalize("NFD", artist))  # the name as typed then, in either form
    for old in dict.fromkeys(_earlier_path(path.parent, form) for form in forms):
        try:
            previous = load_profile(old) if old.is_file() else None
        except ConfigError:
            continue
        if previous is None:
            continue
        shared = not re.search(r"[A-Za-z0-9]", old.stem)
        if not shared and unicodedata.normalize("NFC", previous.artist) == name:
            return old
        whose = "an earlier profile shared by artists whose names have no Latin letters" if shared else "an earlier profile"
        log.warning(
            "%s: %s, made for %r (target style %s), is not used for %r; a new profile is chosen; pass --profile %s to keep that target style",
            old,
            whose,
            previous.artist,
            previous.target_style,
            artist,
            old,
        )
    return path


def _earlier_path(folder: Path, artist: str) -> Path:
    """Where the earlier scheme saved the profile of ``artist`` (a file that several names could share)."""
    return folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', artist) or 'default'}.json"


def load_profile(path: str | Path) -> ArtistProfile | None:
    """The profile at ``path``, or None when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        data["band"] = tuple(data.get("band", (0.0, 0.0)))
        return ArtistProfile(**data)
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise ConfigError(f"{path}: not a stylecloak artist profile ({exc}); delete it or pass another --profile") from exc


def save_profile(profile: ArtistProfile, path: str | Path) -> Path:
    """Write the profile atomically."""
    path = Path(path)
    with atomic_file(path, "w") as f:
        json.dump(asdict(profile), f, indent=2)
    return path
