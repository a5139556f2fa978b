"""The artist profile: the target style chosen once for an artist and reused for all later works."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from platformdirs import user_config_dir

from ..errors import ConfigError
from ..io.atomic import atomic_file

PROFILE_VERSION = 1


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


def default_profile_path(artist: str = "default") -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", artist) or "default"
    return Path(user_config_dir("stylecloak")) / "profiles" / f"{safe}.json"


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
