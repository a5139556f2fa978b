"""Running one web job: choose the target style, then protect, save and preview each image in turn.

The queue (:mod:`.jobs`) calls :func:`run_job` from its one worker thread; progress and results are set on the
job's records under the queue's lock, so the status the page polls is always whole.
"""

from __future__ import annotations

import errno
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from ..api import Protector, ProtectResult, style_sample
from ..errors import ImageError, StylecloakError
from ..io import (
    IMAGE_EXTENSIONS,
    LoadedImage,
    frames_warning,
    load_image,
    save_png,
    to_pil,
)
from ..styles import default_profile_path

if TYPE_CHECKING:
    from .jobs import Item, Job, JobQueue

log = logging.getLogger(__name__)

AUTO = "auto"
"""Style name meaning: the artist profile's target style (chosen the first time)."""
VIEWS = ("before", "after", "preview")
"""Browser-friendly PNGs written for each finished image, besides the download itself."""


class _Cancelled(Exception):
    """Raised inside the progress callback to stop the optimisation of a cancelled job."""


def run_job(queue: JobQueue, job: Job) -> None:
    """Protect every image of ``job`` with its options; failures are recorded per image."""
    try:
        protector = queue.protector(job.options.intensity, job.options.quality)
        style = job.options.style
        if style == AUTO:
            queue.update(job, phase=f"choosing the target style for artist {job.options.artist!r} (first time: about a minute)")
            samples = style_sample([item.input for item in job.items], max_pixels=queue.max_pixels)
            style = protector.choose_target(samples, artist=job.options.artist, profile=_profile(queue, job.options.artist)).target_style
        queue.update(job, phase="", target_style=style)
    except StylecloakError as exc:
        queue.fail_rest(job, queue.public(str(exc), job))
        return
    for item in job.items:
        if job.cancel.is_set():
            break
        _protect(queue, job, item, protector, style)


def _protect(queue: JobQueue, job: Job, item: Item, protector: Protector, style: str) -> None:
    def progress(step: int, total: int, info: dict) -> None:
        if job.cancel.is_set():
            raise _Cancelled
        queue.update(item, step=step, total=total)

    queue.update(item, status="running", total=protector.cloak_settings.steps)
    try:
        source = load_image(item.input, max_pixels=queue.max_pixels)
        queue.update(item, warning=frames_warning(source, item.name))
        result = protector.protect(source, style, progress)
        files = _write(job, item, result)
    except _Cancelled:
        status, error, files, summary = "cancelled", None, {}, None
    except StylecloakError as exc:
        status, error, files, summary = "failed", queue.public(str(exc), job, item), {}, None
    except Exception as exc:  # keep serving the other images
        log.exception("protecting %s failed", item.input)
        status, error, files, summary = "failed", f"{item.name}: unexpected error ({type(exc).__name__}); see the server's log", {}, None
    else:
        summary = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in result.summary().items() if k != "input"}
        status, error = "done", None
    queue.update(item, status=status, error=error, files=files, summary=summary)


def _write(job: Job, item: Item, result: ProtectResult) -> dict[str, Path]:
    """Write the download and the views (each atomically); on failure remove them all and
    raise :class:`ImageError` naming the user's file."""
    suffix = Path(item.name).suffix.lower()
    files: dict[str, Path] = {}
    try:
        files["download"] = result.save(job.folder / f"{item.id}{suffix if suffix in IMAGE_EXTENSIONS else '.png'}")
        views = {"before": lambda: _view(result.source, result.source.rgb), "after": lambda: _view(result.source, result.cloaked), "preview": result.preview}
        for kind in VIEWS:
            files[kind] = save_png(views[kind](), job.folder / f"{item.id}.{kind}.png")
    except (StylecloakError, OSError) as exc:
        for path in files.values():
            path.unlink(missing_ok=True)
        log.warning("saving %s (%s) failed: %s", item.name, item.id, exc)
        cause = exc.__cause__ if isinstance(exc, StylecloakError) else exc
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ImageError(f"{item.name}: the server's disk is full, so the protected copy could not be saved; free some space and try again") from exc
        raise ImageError(f"{item.name}: the protected copy could not be saved; see the server's log") from exc
    return files


def _profile(queue: JobQueue, artist: str) -> Path | None:
    return queue.profile_dir / default_profile_path(artist).name if queue.profile_dir else None


def _view(source: LoadedImage, rgb: torch.Tensor) -> Image.Image:
    """``rgb`` as an image a browser shows (alpha kept, CMYK and 16-bit brought to 8-bit RGB)."""
    pil = to_pil(source, rgb)
    return pil if pil.mode in ("RGB", "RGBA", "L", "LA") else pil.convert("RGBA" if source.alpha is not None else "RGB")
