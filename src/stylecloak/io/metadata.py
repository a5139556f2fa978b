"""Image metadata: what reading keeps of ICC, EXIF (orientation reset), dpi and JPEG settings; what a protected
copy carries of it (:class:`OutputMetadata`: keep, minimal or strip); and the XMP packets writing adds (the
"no AI training" opt-out, creator and rights given, and, only when asked for, what protect did)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, JpegImagePlugin

from stylecloak.errors import ConfigError

from .credentials import Identity
from .xmp import (
    APP1_XMP,
    NS_DC,
    NS_PLUS,
    NS_RDF,
    NS_RIGHTS,
    NS_STYLECLOAK,
    NS_TDM,
    LangAlt,
    Seq,
    XmpValue,
    has_properties,
    optout_properties,
    xmp_packet,
)

ORIENTATION = 0x0112
ARTIST, COPYRIGHT = 0x013B, 0x8298
# TIFF layout tags that describe the old file's pixel storage, plus XMP and ICC which
# travel separately; they must not be copied into the EXIF of a new file.
TIFF_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322} | {323, 324, 325, 330, 338, 339, 347, 513, 514, 530, 531, 532, 700, 34675}
)
_IJG_LUMA_SUM = 3688  # sum of the JPEG Annex K luminance quantisation table (quality 50)
METADATA_MODES = ("keep", "minimal", "strip")
"""``--metadata``: what a protected copy keeps of the input's metadata (:func:`output_info`)."""
MAX_TEXT = 1000
"""Longest ``creator`` / ``rights`` text (characters)."""


def collect_metadata(src: Image.Image, final: Image.Image, transposed: bool) -> dict[str, Any]:
    """Collect what saving needs from the source image's info."""
    info: dict[str, Any] = {}
    icc = src.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        info["icc_profile"] = icc
    exif = _exif_bytes(src, final, transposed)
    if exif:
        info["exif"] = exif
    xmp = xmp_bytes(src, final)
    if xmp:
        info["xmp"] = xmp
    dpi = _dpi(src.info.get("dpi"))
    if dpi:
        info["dpi"] = dpi
    if src.format in ("JPEG", "MPO"):
        sampling = JpegImagePlugin.get_sampling(src)
        if sampling != -1:
            info["subsampling"] = sampling
        quality = _jpeg_quality(src)
        if quality:
            info["quality"] = quality
        info["progressive"] = bool(src.info.get("progressive"))
        comment = src.info.get("comment")
        if isinstance(comment, bytes) and comment:
            info["comment"] = comment
    if src.format == "PNG":
        text = {k: v for k, v in getattr(src, "text", {}).items() if k != "XML:com.adobe.xmp" and not k.startswith("Raw profile type")}
        if text:
            info["text"] = text
    return info


def xmp_bytes(src: Image.Image, final: Image.Image) -> bytes | None:
    xmp = final.info.get("xmp") or final.info.get("XML:com.adobe.xmp")
    if xmp is None:  # Pillow < 11 leaves TIFF and JPEG XMP out of info
        xmp = getattr(src, "tag_v2", {}).get(700)
        for marker, data in getattr(src, "applist", []):
            if marker == "APP1" and data.startswith(APP1_XMP):
                xmp = data[len(APP1_XMP) :]
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return xmp if isinstance(xmp, bytes) and xmp.strip(b"\x00 \t\r\n") else None


def _exif_bytes(src: Image.Image, final: Image.Image, transposed: bool) -> bytes | None:
    raw = src.info.get("exif")
    if isinstance(raw, bytes) and raw:
        raw = without_thumbnail(raw if raw.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + raw)
        if not transposed:
            return raw
        patched = _reset_orientation(raw)
        if patched is not None:
            return patched
    try:
        exif = final.getexif()  # TIFF tags, PNG raw profiles, or Pillow's transposed rewrite
        for tag in TIFF_LAYOUT_TAGS | {ORIENTATION}:
            exif.pop(tag, None)
        return exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001 -- malformed EXIF (any error Pillow raises) is dropped rather than failing the image
        return None


THUMBNAIL_DATA = ((0x0201, 0x0202), (0x0111, 0x0117))
"""IFD1 (offset tag, length tag) pairs that locate a thumbnail: JPEG interchange format, and strips."""


def without_thumbnail(exif: bytes) -> bytes:
    """*exif* (``Exif\\0\\0`` + TIFF) with its IFD1 thumbnail gone: a small copy of the *original*, uncloaked
    pixels that would undo the protection. The thumbnail's bytes are zeroed in place and IFD0's link to IFD1 is
    cut, so every other offset stays valid; EXIF that does not parse is returned unchanged."""
    tiff = bytearray(exif[6:])
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    try:
        ifd0 = struct.unpack_from(order + "I", tiff, 4)[0] if order else 0
        link = ifd0 + 2 + 12 * struct.unpack_from(order + "H", tiff, ifd0)[0] if order else 0
        ifd1 = struct.unpack_from(order + "I", tiff, link)[0] if order else 0
    except struct.error:
        return exif
    if not (order and ifd1):
        return exif
    entries = _ifd_entries(tiff, order, ifd1)
    for offsets, lengths in THUMBNAIL_DATA:
        for start, size in zip(entries.get(offsets, ()), entries.get(lengths, ())):
            tiff[start : start + size] = bytes(len(tiff[start : start + size]))
    struct.pack_into(order + "I", tiff, link, 0)
    return exif[:6] + bytes(tiff)


def _ifd_entries(tiff: bytearray, order: str, offset: int) -> dict[int, tuple[int, ...]]:
    """Tag -> its SHORT/LONG values, for the entries of the IFD at *offset* (others and broken ones are skipped)."""
    found: dict[int, tuple[int, ...]] = {}
    try:
        for i in range(struct.unpack_from(order + "H", tiff, offset)[0]):
            tag, kind, count = struct.unpack_from(order + "HHI", tiff, offset + 2 + 12 * i)
            width = {3: 2, 4: 4}.get(kind)
            if width is None or count > 4096:
                continue
            where = offset + 2 + 12 * i + 8
            if count * width > 4:
                where = struct.unpack_from(order + "I", tiff, where)[0]
            found[tag] = struct.unpack_from(order + ("H" if width == 2 else "I") * count, tiff, where)
    except struct.error:
        pass
    return found


def _reset_orientation(exif: bytes) -> bytes | None:
    """Return *exif* with IFD0 Orientation set to 1 in place, or None when not found."""
    tiff = exif[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return None
    offset = struct.unpack_from(order + "I", tiff, 4)[0]
    if offset + 2 > len(tiff):
        return None
    for i in range(struct.unpack_from(order + "H", tiff, offset)[0]):
        entry = offset + 2 + 12 * i
        if entry + 12 > len(tiff):
            return None
        tag, kind, count = struct.unpack_from(order + "HHI", tiff, entry)
        if tag == ORIENTATION and kind == 3 and count == 1:
            out = bytearray(exif)
            struct.pack_into(order + "H", out, 6 + entry + 8, 1)
            return bytes(out)
    return None


def _dpi(value: Any) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return (x, y) if all(math.isfinite(v) and v > 0 for v in (x, y)) else None


def _jpeg_quality(im: Image.Image) -> int | None:
    """Estimate the IJG quality the JPEG was saved with from its luminance table."""
    tables = getattr(im, "quantization", None)
    if not tables or 0 not in tables:
        return None
    scale = 100 * float(sum(tables[0])) / _IJG_LUMA_SUM
    quality = 5000 / scale if scale > 100 else (200 - scale) / 2
    return round(min(100.0, max(1.0, quality)))


@dataclass(frozen=True)
class OutputMetadata:
    """What a protected copy carries besides its pixels (docs/privacy.md has the table per format).

    ``mode`` (:data:`METADATA_MODES`) decides what is kept of the input's metadata (:func:`output_info`);
    the opt-out (:data:`~.xmp.OPTOUTS`), ``creator`` (dc:creator), ``rights`` (dc:rights) and ``provenance``
    (:data:`NS_STYLECLOAK` properties: what protect did) are written as XMP in every mode.
    """

    mode: str = "minimal"
    optout: str = "genai"
    creator: str | None = None
    rights: str | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    """Empty unless the artist asked for it (``--record-settings``): naming the target helps an adaptive mimic."""
    credentials: Identity | None = None
    """Sign Content Credentials (C2PA, :mod:`.credentials`) with this identity after everything else is written."""

    def __post_init__(self) -> None:
        if self.mode not in METADATA_MODES:
            raise ConfigError(f"unknown metadata mode {self.mode!r}; choose one of {', '.join(METADATA_MODES)}")
        optout_properties(self.optout)
        for name, text in (("creator", self.creator), ("rights", self.rights)):
            if text is not None and not (0 < len(text.strip()) <= MAX_TEXT and text.isprintable()):
                raise ConfigError(f"--{name}: give 1 to {MAX_TEXT} printable characters on one line, or leave it out")

    def properties(self) -> dict[str, XmpValue]:
        """The XMP properties stylecloak writes: opt-out, creator, rights, provenance."""
        props: dict[str, XmpValue] = dict(optout_properties(self.optout))
        if self.creator is not None:
            props[f"{{{NS_DC}}}creator"] = Seq((self.creator.strip(),))
        if self.rights is not None:
            props[f"{{{NS_DC}}}rights"] = LangAlt(self.rights.strip())
        return props | {f"{{{NS_STYLECLOAK}}}{k}": v for k, v in self.provenance.items()}


_MINIMAL_EXIF = (ARTIST, COPYRIGHT)
_MINIMAL_TEXT = ("Author", "Copyright")  # the PNG text keywords for creator and copyright
_ENCODING = ("subsampling", "quality", "progressive", "bits", "lossless")  # how the pixels are stored, not metadata


def output_info(info: dict[str, Any], mode: str) -> dict[str, Any]:
    """What a protected copy keeps of the input's metadata (:func:`collect_metadata`) under *mode*.

    ``keep``: all of it. ``minimal``: the ICC profile, dpi, EXIF Artist and Copyright, PNG Author and
    Copyright text and the input's XMP (which :func:`output_xmp` reduces to creator and rights); GPS,
    free text (descriptions, comments, PNG text, EXIF UserComment), camera, software and dates are dropped.
    ``strip``: the ICC profile only (it is colour, not metadata). JPEG quality, subsampling, bit depth and
    WebP lossless are how the pixels are stored and always kept.
    """
    if mode == "keep":
        return dict(info)
    kept = {k: info[k] for k in (*_ENCODING, "icc_profile") if k in info}
    if mode == "strip":
        return kept
    exif = _exif_subset(info.get("exif"), _MINIMAL_EXIF)
    text = {k: v for k, v in info.get("text", {}).items() if k in _MINIMAL_TEXT}
    extra = {"dpi": info.get("dpi"), "exif": exif, "text": text, "xmp": info.get("xmp")}
    return kept | {k: v for k, v in extra.items() if v}


def output_xmp(existing: bytes | None, choice: OutputMetadata) -> list[bytes]:
    """The XMP packets a protected copy may carry, best first: the input's *existing* packet (reduced as
    ``choice.mode`` says) with :meth:`OutputMetadata.properties`, then those alone; empty when there is nothing
    to write. A format that cannot hold the first (a JPEG segment holds ~64 KB) takes the next."""
    props = choice.properties()
    ours = [xmp_packet(None, props)] if props else []
    if existing is None or choice.mode == "strip":
        return ours
    if choice.mode == "keep":
        return [xmp_packet(existing, props), *ours] if props else [existing]
    reduced = xmp_packet(existing, props, keep=_minimal_xmp)
    return [reduced, *ours] if props or has_properties(reduced) else []


def _minimal_xmp(name: str) -> bool:
    """XMP properties ``minimal`` keeps of the input's: creator, rights statements, existing AI-use wishes."""
    return name in (f"{{{NS_DC}}}creator", f"{{{NS_DC}}}rights", f"{{{NS_PLUS}}}DataMining", f"{{{NS_PLUS}}}OtherConstraints") or name.startswith(
        (f"{{{NS_RIGHTS}}}", f"{{{NS_TDM}}}", f"{{{NS_RDF}}}")
    )


def _exif_subset(exif: bytes | None, tags: tuple[int, ...]) -> bytes | None:
    """EXIF with only *tags* of IFD0, or None when none of them is there (or the EXIF does not parse)."""
    if not exif:
        return None
    try:
        parsed, kept = Image.Exif(), Image.Exif()
        parsed.load(exif)
        for tag in tags:
            if tag in parsed:
                kept[tag] = parsed[tag]
        return kept.tobytes() if len(kept) else None
    except Exception:  # noqa: BLE001 -- malformed EXIF (any error Pillow raises) is dropped rather than failing the image
        return None
