"""Whether a PNG holds all of its pixels: Pillow fills the rows of a short image stream with zeros."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from stylecloak.errors import ImageError

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""PNG colour type → samples per pixel."""
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
"""Interlace passes: (x start, y start, x step, y step)."""
_PIECE = 1 << 20


def check_png_complete(path: Path) -> None:
    """Raise :class:`ImageError` when the first image of the PNG at ``path`` has fewer pixel bytes than its
    header declares (a truncated file). Streams the data once, holding at most 1 MiB of it."""
    with open(path, "rb") as f:
        f.seek(8)
        header = f.read(8 + 13)
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header[8:21])
        f.seek(4, 1)  # the header's CRC
        inflate, produced = zlib.decompressobj(), 0
        while not inflate.eof and len(head := f.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind != b"IDAT":
                if produced:
                    break  # the image data is over
                f.seek(length + 4, 1)
                continue
            data = f.read(length)
            f.seek(4, 1)
            try:
                while data and not inflate.eof:
                    produced += len(inflate.decompress(data, _PIECE))
                    data = inflate.unconsumed_tail
            except zlib.error:
                break  # Pillow reports a corrupt stream itself
    if produced < expected_bytes(width, height, depth * _CHANNELS.get(colour, 4), interlace == 1):
        raise ImageError(f"{path}: is truncated (its image data ends before its last row); re-export or re-download it")


def expected_bytes(width: int, height: int, bits: int, interlaced: bool) -> int:
    """The size of a PNG's filtered image data: one filter byte and the packed pixels of every row of every pass."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        cols, rows = max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy))
        if cols and rows:
            total += rows * (1 + -(-(cols * bits) // 8))
    return total
