"""The web app's records: what the user chose (:class:`JobOptions`), a job and its images, as the page polls them."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..cloak import get_method
from ..config import DEFAULT_METHOD, ProtectSettings
from ..errors import ConfigError
from ..styles import all_styles

AUTO = "auto"
"""Style name meaning: the artist profile's target style (chosen the first time)."""
ACTIVE = ("queued", "running")
"""Statuses of a job or image that is not finished."""


@dataclass(frozen=True)
class JobOptions:
    """What the user chose on the page."""

    intensity: str = "default"
    quality: str = "default"
    style: str = AUTO
    artist: str = "default"
    method: str = DEFAULT_METHOD
    """Under the page's "Advanced" disclosure: a name in :data:`stylecloak.cloak.METHODS`."""
    metadata: str = "minimal"
    """Advanced: what the copies keep of the originals' metadata (keep, minimal, strip)."""
    optout: str = "genai"
    """Advanced: the "no AI training" wish written into the copies (genai, ai, all, none)."""

    def check(self) -> None:
        """Raise :class:`ConfigError` for an unknown preset, method, metadata mode, opt-out or style, or an unusable artist name."""
        # the presets, method and metadata choices are checked where they live
        ProtectSettings(intensity=self.intensity, quality=self.quality, metadata=self.metadata, optout=self.optout)
        get_method(self.method)
        if self.style != AUTO and self.style not in all_styles():
            raise ConfigError(f"unknown target style {self.style!r}; choose auto or one of the listed styles")
        if not self.artist or len(self.artist) > 64:
            raise ConfigError("the artist name must have 1 to 64 characters")


@dataclass(frozen=True)
class Arrival:
    """One uploaded file as the upload check left it: stored in the job's folder, its size, or why it was refused."""

    name: str
    """The client's file name reduced to a safe basename."""
    stored: str
    """Its file name inside the job's folder."""
    width: int = 0
    height: int = 0
    error: str | None = None
    """Why it cannot be protected (a one-line message naming the file); None for a usable image."""


@dataclass
class Item:
    """One uploaded image of a job."""

    id: str
    name: str
    """The client's file name reduced to a safe basename: shown and used for downloads only."""
    input: Path
    width: int = 0
    height: int = 0
    status: str = "queued"
    """queued, running, checking (what survives a re-upload), done, failed or cancelled."""
    step: int = 0
    total: int = 0
    started: float | None = None
    """When its first optimisation step began (monotonic seconds): its own pace once it runs."""
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

    def snapshot(self) -> dict:
        """The JSON-ready fields the page reads."""
        keys = ("id", "name", "width", "height", "status", "step", "total", "error", "warning", "expected", "estimate", "summary")
        return {**{k: getattr(self, k) for k in keys}, "files": sorted(self.files), "download_name": self.download_name}


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

    @property
    def finished(self) -> bool:
        return self.status not in ACTIVE

    def snapshot(self, ahead: int | None) -> dict:
        """The JSON-ready status the page polls; ``ahead``: jobs before it in the queue (queued jobs only)."""
        return {
            "id": self.id,
            "status": self.status,
            "ahead": ahead,
            "phase": self.phase,
            "created": self.created,
            "options": asdict(self.options),
            "target_style": self.target_style,
            "items": [item.snapshot() for item in self.items],
        }

    def public(self, message: str, item: Item | None = None) -> str:
        """An error message with the server's file paths replaced by the user's names."""
        for other in self.items if item is None else [item]:
            message = message.replace(str(other.input), other.name)
        return message.replace(str(self.folder) + os.sep, "")
