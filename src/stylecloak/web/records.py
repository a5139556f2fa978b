"""The web app's records: what the user chose (:class:`JobOptions`), a job and its images, as the page polls them."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cloak import get_method
from ..config import DEFAULT_METHOD, ProtectSettings
from ..errors import ConfigError
from ..styles import all_styles

AUTO = "auto"
"""Style name meaning: the artist profile's target style (chosen the first time)."""


@dataclass(frozen=True)
class JobOptions:
    """What the user chose on the page."""

    intensity: str = "default"
    quality: str = "default"
    style: str = AUTO
    artist: str = "default"
    method: str = DEFAULT_METHOD
    """Under the page's "Advanced" disclosure: a name in :data:`stylecloak.cloak.METHODS`."""

    def __post_init__(self) -> None:
        """Raise :class:`ConfigError` for an unknown preset, method or style, or an unusable artist name."""
        ProtectSettings(intensity=self.intensity, quality=self.quality)  # the presets and method are checked where they live
        get_method(self.method)
        if self.style != AUTO and self.style not in all_styles():
            raise ConfigError(f"unknown target style {self.style!r}; choose auto or one of the listed styles")
        if not self.artist or len(self.artist) > 64:
            raise ConfigError("the artist name must have 1 to 64 characters")


@dataclass
class Item:
    """One uploaded image of a job."""

    id: str
    name: str
    """The client's file name reduced to a safe basename: shown and used for downloads only."""
    input: Path
    status: str = "queued"
    """queued, running, done, failed or cancelled."""
    step: int = 0
    total: int = 0
    error: str | None = None
    warning: str | None = None
    expected: float | None = None
    """Before protecting: the TP the trial cloak predicts (:meth:`~stylecloak.api.Protector.estimate`)."""
    estimate: list[str] = field(default_factory=list)
    """Before protecting: the estimate's warnings (expected weak protection)."""
    summary: dict | None = None
    files: dict[str, Path] = field(default_factory=dict)
    """Once done: "download" (the protected image) and the :data:`~stylecloak.runner.VIEWS`."""

    @property
    def download_name(self) -> str:
        out = self.files.get("download")
        suffix = out.suffix if out else Path(self.name).suffix
        return f"{Path(self.name).stem}-protected{suffix}"


@dataclass
class Job:
    """Several images protected with the same options, in one folder."""

    id: str
    folder: Path
    options: JobOptions
    items: list[Item]
    status: str = "queued"
    """queued, running, done or cancelled (failures are per image)."""
    phase: str = ""
    target_style: str | None = None
    created: float = field(default_factory=time.time)
    touched: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False
