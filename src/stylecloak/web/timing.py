"""Time estimates for the page: how long images take, from the pace this server has measured.

An optimisation step costs about the same per pixel of the working copy (the image brought down to the
preset's working size), so the pace is kept as seconds per step per working megapixel: a moving average over
the images this server has finished, or the running image's own pace until one has finished, or before that the
speed probe the worker runs once its models are loaded (:func:`~stylecloak.cloak.pace.probe`).
"""

from __future__ import annotations

import threading
import time

from ..cloak.pace import work_megapixels
from .records import Item, Job

SMOOTHING = 0.3
"""Weight of the newest image in the moving average."""


class Pace:
    """Seconds per optimisation step per working megapixel measured on this server (thread-safe)."""

    def __init__(self, work_size: int | None):
        self.work_size = work_size
        self._rate: float | None = None
        self._probed: float | None = None
        self._lock = threading.Lock()

    @property
    def rate(self) -> float | None:
        """The pace of the images finished here, else the speed probe's, else None."""
        with self._lock:
            return self._rate if self._rate is not None else self._probed

    def probed(self, rate: float) -> None:
        """The speed probe's pace (:func:`~stylecloak.cloak.pace.probe`): the estimate until an image has finished."""
        with self._lock:
            self._probed = rate

    def add(self, item: Item, now: float | None = None) -> None:
        """Fold in a finished image's pace (it needs its size, steps and start)."""
        rate = self.of(item, now)
        if rate is None:
            return
        with self._lock:
            self._rate = rate if self._rate is None else (1 - SMOOTHING) * self._rate + SMOOTHING * rate

    def of(self, item: Item, now: float | None = None) -> float | None:
        """An image's own pace so far, or None before its first step."""
        if item.started is None or item.step < 1:
            return None
        elapsed = (time.monotonic() if now is None else now) - item.started
        return elapsed / item.step / work_megapixels(item.width, item.height, self.work_size)

    def seconds(self, sizes: list[tuple[int, int]], steps: int, rate: float | None = None) -> float | None:
        """Expected seconds for images of ``sizes`` (width, height) at ``steps`` each, or None with no pace yet."""
        rate = self.rate if rate is None else rate
        if rate is None:
            return None
        return sum(steps * work_megapixels(w, h, self.work_size) * rate for w, h in sizes)

    def left(self, job: Job, steps: int, now: float | None = None) -> float | None:
        """Seconds until ``job`` finishes (``steps``: each waiting image's preset), or None with no pace yet."""
        running = next((i for i in job.items if i.status == "running"), None)
        live = self.of(running, now) if running is not None else None
        with self._lock:
            rate = self._rate or live or self._probed
        if rate is None:
            return None
        waiting = [(i.width, i.height) for i in job.items if i.status == "queued"]
        total = self.seconds(waiting, steps, rate) or 0.0
        if running is not None:
            own = live if live is not None else rate
            total += max(running.total - running.step, 0) * own * work_megapixels(running.width, running.height, self.work_size)
        return round(total, 1)
