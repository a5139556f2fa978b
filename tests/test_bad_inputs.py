"""A corpus of awkward and hostile inputs: each loads and round-trips, or raises ImageError naming the file."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylecloak.errors import ImageError
from stylecloak.io import load_image, save_image


def pixels(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def encode(im: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR (with a valid CRC) declares width×height but carries one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_with_size(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.fromarray(pixels()), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def gif_frames(count: int, transparency: bool = False) -> bytes:
    frames = [Image.fromarray(pixels(seed=i)).convert("P") for i in range(count)]
    options: dict[str, object] = {"transparency": 0} if transparency else {}
    if count > 1:
        options.update(save_all=True, append_images=frames[1:], duration=80, loop=0)
    return encode(frames[0], "GIF", **options)


def multipage_tiff() -> bytes:
    pages = [Image.fromarray(pixels(seed=i)) for i in range(3)]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    return encode(Image.fromarray(pixels(32, 64)), "JPEG", exif=exif.tobytes())


def transparent_rgba() -> Image.Image:
    rgba = np.dstack([pixels(), np.zeros((48, 64), np.uint8)])
    rgba[10:30, 10:40, 3] = 255
    rgba[0, 0, 3] = 1
    return Image.fromarray(rgba)


def palette_with_transparency() -> bytes:
    im = Image.fromarray(pixels()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(im, "PNG", transparency=bytes([0, 128, 255] + [255] * 13))


def bad_crc_png() -> bytes:
    data = bytearray(encode(Image.fromarray(pixels()), "PNG"))
    data[29] ^= 0xFF  # first byte of the IHDR CRC
    return bytes(data)


@dataclass(frozen=True)
class Case:
    filename: str
    build: Callable[[], bytes] | None  # None: the path is created specially (folder, fifo, missing)
    mode: str | None = None  # expected output mode when the case loads; None when it must fail
    size: tuple[int, int] = (64, 48)
    frames: int = 1
    written_as: str | None = None  # output file name when it differs from the input's
    error: str = ""  # text the ImageError message must contain besides the file name


CASES = [
    Case("zero_bytes.png", lambda: b"", error="empty"),
    Case("truncated.png", lambda: encode(Image.fromarray(pixels()), "PNG")[:2000], error="truncated"),
    Case("truncated.jpg", lambda: encode(Image.fromarray(pixels()), "JPEG")[:900], error="truncated"),
    Case("truncated.tif", lambda: encode(Image.fromarray(pixels()), "TIFF")[:3000]),
    Case("truncated.gif", lambda: gif_frames(1)[:600]),
    Case("text.png", lambda: b"Hello, this is not an image at all.\n" * 4, error="not a PNG"),
    Case("html.jpg", lambda: b"<!doctype html><title>404</title>", error="not a PNG"),
    Case("garbage_after_soi.jpg", lambda: b"\xff\xd8\xff\xe0" + os.urandom(300)),
    Case("bad_crc.png", bad_crc_png),
    Case("bomb.png", lambda: png_header_only(60000, 60000), error="decompression-bomb"),
    Case("huge_header.png", lambda: png_header_only(10500, 10000), error="exceeds the limit"),
    Case("bomb.jpg", lambda: jpeg_with_size(65000, 65000), error="decompression-bomb"),
    Case("bomb.gif", lambda: gif_frames(1)[:6] + struct.pack("<HH", 65535, 65535) + gif_frames(1)[10:]),
    Case("tiny.png", lambda: encode(Image.new("RGB", (8, 8)), "PNG"), error="too small"),
    Case("thin.png", lambda: encode(Image.new("RGB", (15, 200)), "PNG"), error="at least 16×16"),
    Case("folder.png", None, error="folder"),
    Case("missing.png", None, error="not found"),
    Case("fifo.png", None, error="not a regular file"),
    Case("animated.gif", lambda: gif_frames(3), mode="RGB", frames=3, written_as="animated.png"),
    Case("transparent.gif", lambda: gif_frames(1, transparency=True), mode="RGBA", written_as="transparent.png"),
    Case("multipage.tif", multipage_tiff, mode="RGB", frames=3),
    Case("cmyk.jpg", lambda: encode(Image.fromarray(pixels()).convert("CMYK"), "JPEG"), mode="CMYK"),
    Case("sixteen.png", lambda: encode(Image.fromarray(pixels()[..., 0].astype(np.uint16) * 257), "PNG"), mode="I;16"),
    Case("palette_trns.png", palette_with_transparency, mode="RGBA"),
    Case("palette.bmp", lambda: encode(Image.fromarray(pixels()).convert("P"), "BMP"), mode="RGB"),
    Case("gray.png", lambda: encode(Image.fromarray(pixels()[..., 1]), "PNG"), mode="L"),
    Case("onebit.png", lambda: encode(Image.fromarray(pixels()[..., 1]).convert("1"), "PNG"), mode="L"),
    Case("la.png", lambda: encode(Image.fromarray(pixels()).convert("LA"), "PNG"), mode="LA"),
    Case("rgb_key.png", lambda: encode(Image.fromarray(pixels()), "PNG", transparency=(1, 2, 3)), mode="RGBA"),
    Case("clear_areas.png", lambda: encode(transparent_rgba(), "PNG"), mode="RGBA"),
    Case("clear_areas.webp", lambda: encode(transparent_rgba(), "WEBP", lossless=True, exact=True), mode="RGBA"),
    Case("rotated.jpg", rotated_jpeg, mode="RGB", size=(32, 64)),
    Case("jpeg_named.png", lambda: encode(Image.fromarray(pixels()), "JPEG"), mode="RGB", written_as="jpeg_named.jpg"),
]


def materialise(case: Case, folder: Path) -> Path:
    path = folder / case.filename
    if case.build is not None:
        path.write_bytes(case.build())
    elif case.filename.startswith("folder"):
        path.mkdir()
    elif case.filename.startswith("fifo"):
        if not hasattr(os, "mkfifo"):
            pytest.skip("named pipes need POSIX")
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.filename for c in CASES])
def test_bad_input_loads_or_raises_image_error(tmp_path: Path, case: Case) -> None:
    source = materialise(case, tmp_path)
    started = time.perf_counter()
    if case.mode is None:
        with pytest.raises(ImageError) as caught:
            load_image(source)
        message = str(caught.value)
        assert case.filename in message and "\n" not in message
        assert case.error in message
        assert time.perf_counter() - started < 1.0
        return
    image = load_image(source)
    width, height = case.size
    assert image.rgb.shape == (1, 3, height, width) and image.frames == case.frames
    assert float(image.rgb.min()) >= 0.0 and float(image.rgb.max()) <= 1.0
    if image.alpha is not None:
        assert image.alpha.shape == (height, width)
    out = save_image(image, image.rgb, tmp_path / "out" / case.filename)
    assert out.name == (case.written_as or case.filename)
    with Image.open(out) as written:
        assert written.size == case.size
        assert written.mode == case.mode or (case.mode, written.mode) == ("I;16", "I")  # Pillow < 11 reads I
        if case.mode in ("RGBA", "LA"):
            assert image.alpha is not None
            assert np.array_equal(np.asarray(written.getchannel("A")), image.alpha)
        if image.format in ("PNG", "GIF", "WEBP", "TIFF") and case.mode in ("RGB", "RGBA"):
            with Image.open(source) as original:
                expected = np.asarray(original.convert(case.mode))
            assert np.array_equal(np.asarray(written), expected)  # lossless: exact, even under alpha 0
    assert time.perf_counter() - started < 1.0


def test_lowered_max_pixels_is_checked_before_decoding(tmp_path: Path) -> None:
    source = tmp_path / "big_enough.png"
    source.write_bytes(png_header_only(4000, 3000))  # truncated data: decoding would fail differently
    with pytest.raises(ImageError, match=r"big_enough\.png.*exceeds the limit of 1,000,000"):
        load_image(source, max_pixels=1_000_000)
