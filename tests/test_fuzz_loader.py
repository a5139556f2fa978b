"""Property test: on any bytes, load_image returns a consistent LoadedImage or raises ImageError."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from stylecloak.errors import ImageError
from stylecloak.io import LoadedImage, load_image, xmp_optout_packet


def _seed(fmt: str, mode: str, **options: object) -> bytes:
    rgb = np.random.default_rng(7).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    im = Image.fromarray(rgb).convert(mode)
    buffer = io.BytesIO()
    im.save(buffer, format=fmt, **options)
    return buffer.getvalue()


SEEDS = {
    ".png": _seed("PNG", "RGBA"),
    ".jpg": _seed("JPEG", "RGB", quality=80),
    ".gif": _seed("GIF", "P", transparency=3),
    ".bmp": _seed("BMP", "L"),
    ".tif": _seed("TIFF", "RGB"),
    ".webp": _seed("WEBP", "RGB", lossless=True),
}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[suffix])
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            del data[max(at, 1) :]
        if not data:
            break
    return suffix, bytes(data)


inputs = st.one_of(
    mutated(),
    st.tuples(st.sampled_from(sorted(SEEDS)), st.binary(max_size=512)),
    st.tuples(st.sampled_from(sorted(SEEDS)), st.sampled_from(sorted(SEEDS.values())).map(lambda b: b[:64])),
)


def _check(image: LoadedImage) -> None:
    _, channels, height, width = image.rgb.shape
    assert channels == 3 and min(height, width) >= 16 and image.frames >= 1
    assert float(image.rgb.min()) >= 0.0 and float(image.rgb.max()) <= 1.0
    if image.alpha is not None:
        assert image.alpha.shape == (height, width)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs)
def test_load_image_never_leaks_other_exceptions(case: tuple[str, bytes]) -> None:
    suffix, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            image = load_image(path, max_pixels=4_000_000)
        except ImageError as exc:
            assert path.name in str(exc) and "\n" not in str(exc)
            return
        _check(image)


@settings(max_examples=60, deadline=None, database=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_xmp_merge_accepts_any_bytes(data: bytes) -> None:
    packet = xmp_optout_packet(data)
    assert b"DMI-PROHIBITED" in packet and b"<tdm:reservation>1</tdm:reservation>" in packet
