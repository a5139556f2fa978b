"""How a protected copy's pixels are stored: JPEG quality, WebP lossy or lossless, PNG compression.

The rules keep an output about the size of its input while the cloak survives a repost (a platform's JPEG
re-encode): docs/decisions/0014-output-size.md has the measurements.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

JPEG_QUALITY_FLOOR = 90
"""A JPEG is never saved below this quality: lower ones cost the cloak more than a repost's re-encode does."""
JPEG_QUALITY_CAP = 95
"""...nor above this one: higher ones grow the file by a half or more and keep nothing a repost keeps."""
JPEG_QUALITY_UNKNOWN = JPEG_QUALITY_FLOOR
"""The quality of a JPEG written from an input whose quality cannot be estimated (no luminance table)."""
WEBP_LOSSY_QUALITY = 90
"""A lossy WebP input is saved lossy at this quality (WebP does not record the quality it was saved at);
a lossless one, or one whose encoding cannot be read, stays lossless."""
PNG_OPTIONS: dict[str, Any] = {"optimize": True}
"""PNG is written with Pillow's strongest deflate search: slightly smaller than the default for under a second more
per megapixel, small beside the cloak's own time."""


def jpeg_quality(input_quality: int | None) -> int:
    """The quality a JPEG copy is saved at: the input's own (estimated, :func:`~.metadata.collect_metadata`), kept
    between :data:`JPEG_QUALITY_FLOOR` and :data:`JPEG_QUALITY_CAP`."""
    if input_quality is None:
        return JPEG_QUALITY_UNKNOWN
    return min(JPEG_QUALITY_CAP, max(JPEG_QUALITY_FLOOR, input_quality))


def webp_options(lossless: bool | None) -> dict[str, Any]:
    """Pillow save options for a WebP copy of an input that was ``lossless`` (None: not known)."""
    if lossless is False:
        return {"lossless": False, "quality": WEBP_LOSSY_QUALITY, "method": 6}
    return {"lossless": True, "exact": True}


def webp_lossless(path: str | Path) -> bool | None:
    """Whether the WebP file at ``path`` holds lossless (VP8L) or lossy (VP8) pixels, from its chunk headers (the
    first frame of an animation); None when the file is not a readable WebP."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
                return None
            while len(header := f.read(8)) == 8:
                kind, size = header[:4], struct.unpack("<I", header[4:])[0]
                if kind in (b"VP8 ", b"VP8L"):
                    return kind == b"VP8L"
                if kind == b"ANMF":
                    f.seek(16, 1)  # the frame's position, size and timing; its image chunks follow
                    continue
                f.seek(size + (size & 1), 1)
    except OSError:
        return None
    return None
