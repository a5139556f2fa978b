"""The progress callbacks the library reports through; the CLI and the web app draw them.

>>> def show(step: int, total: int, info: dict) -> None: print(f"{step}/{total} loss {info['loss']:.3f}")
>>> protect("painting.png", progress=show)
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, dict], None]
"""Called after each optimisation step with (step, total steps, numbers of that step, e.g. {"loss": …})."""
DownloadProgress = Callable[[int, int], None]
"""Called with (bytes done, bytes total or 0) while a file downloads."""
AuditProgress = Callable[[str, int, int], None]
"""Called with (what was just measured, units done, units in all)."""
