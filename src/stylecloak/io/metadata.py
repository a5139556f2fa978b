"""Image metadata: what reading keeps of ICC, EXIF (orientation reset), dpi and JPEG settings, and the XMP
packets writing adds (the "no AI training" opt-out and what protect did)."""

from __future__ import annotations

import io
import math
import re
import struct
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, JpegImagePlugin

ORIENTATION = 0x0112
# TIFF layout tags that describe the old file's pixel storage, plus XMP and ICC which
# travel separately; they must not be copied into the EXIF of a new file.
TIFF_LAYOUT_TAGS = frozenset(
    {254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322}
    | {323, 324, 325, 330, 338, 339, 347, 513, 514, 530, 531, 532, 700, 34675}
)
_IJG_LUMA_SUM = 3688  # sum of the JPEG Annex K luminance quantisation table (quality 50)
APP1_XMP = b"http://ns.adobe.com/xap/1.0/\x00"

_NS_X = "adobe:ns:meta/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_NS_XML = "http://www.w3.org/XML/1998/namespace"
_NS_PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
_NS_TDM = "http://www.w3.org/ns/tdmrep/"
_DMI_PROHIBITED = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"
OPTOUT = {f"{{{_NS_PLUS}}}DataMining": _DMI_PROHIBITED, f"{{{_NS_TDM}}}reservation": "1"}
NS_STYLECLOAK = "urn:stylecloak:xmp:1.0#"
"""XMP namespace (prefix ``stylecloak``) of what protect did: targetStyle, method, backbones, settings."""
_XMP_MAX_DEPTH = 64  # deeper packets are treated as malformed (and would exhaust recursion)


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
        text = {
            k: v
            for k, v in getattr(src, "text", {}).items()
            if k != "XML:com.adobe.xmp" and not k.startswith("Raw profile type")
        }
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
        raw = raw if raw.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + raw
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





def xmp_optout_packet(existing: bytes | None = None) -> bytes:
    """Return an XMP packet that prohibits text-and-data mining and AI training.

    Sets IPTC PLUS ``plus:DataMining`` to DMI-PROHIBITED and the W3C TDMRep
    ``tdm:reservation`` to 1. Properties of *existing* (an XMP packet) are kept, with
    its own values of these two replaced; an unparseable *existing* is replaced.
    """
    return xmp_packet(existing, OPTOUT)


def xmp_values(data: bytes | None, namespace: str = NS_STYLECLOAK) -> dict[str, str]:
    """The simple properties of *namespace* in an XMP packet (elements or attributes), by local name."""
    parsed = _parse_xmp(data) if data else None
    found: dict[str, str] = {}
    for description in parsed[1].findall(f"{{{_NS_RDF}}}Description") if parsed else []:
        pairs = [*description.attrib.items(), *((child.tag, child.text or "") for child in description)]
        for key, value in pairs:
            if key.startswith(f"{{{namespace}}}"):
                found[key.split("}", 1)[1]] = value
    return found


def xmp_packet(existing: bytes | None, properties: dict[str, str]) -> bytes:
    """Return an XMP packet with *properties* ({"{namespace}name": value}) set on top of *existing*'s.

    Properties of *existing* are kept, with its own values of these replaced; an unparseable
    *existing* is replaced.
    """
    parsed = _parse_xmp(existing) if existing else None
    if parsed is None:
        root = ET.Element(f"{{{_NS_X}}}xmpmeta")
        rdf = ET.SubElement(root, f"{{{_NS_RDF}}}RDF")
        prefixes: dict[str, str] = {}
    else:
        root, rdf, prefixes = parsed
    descriptions = rdf.findall(f"{{{_NS_RDF}}}Description")
    for description in descriptions:
        for key in properties:
            description.attrib.pop(key, None)
            for old in description.findall(key):
                description.remove(old)
    if descriptions:
        target = descriptions[0]
    else:
        target = ET.SubElement(rdf, f"{{{_NS_RDF}}}Description", {f"{{{_NS_RDF}}}about": ""})
    for key, value in properties.items():
        ET.SubElement(target, key).text = value
    body = _serialise(root, prefixes)
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>'.encode()


def _parse_xmp(data: bytes) -> tuple[ET.Element, ET.Element, dict[str, str]] | None:
    """Parse an XMP packet into (root, rdf:RDF, namespace prefixes), or None if unusable."""
    data = data.strip(b"\x00 \t\r\n")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None
    prefixes: dict[str, str] = {}
    depth = 0
    try:
        events = ET.iterparse(io.BytesIO(data), events=("start-ns", "start", "end"))
        for event, item in events:
            if event == "start-ns":
                prefixes.setdefault(item[1], item[0])
            depth += {"start": 1, "end": -1}.get(event, 0)
            if depth > _XMP_MAX_DEPTH:
                return None
        root = events.root  # type: ignore[attr-defined]
    except (ET.ParseError, ValueError, LookupError):
        return None
    rdf = root if root.tag == f"{{{_NS_RDF}}}RDF" else root.find(f".//{{{_NS_RDF}}}RDF")
    return None if rdf is None else (root, rdf, prefixes)


def _serialise(root: ET.Element, known: dict[str, str]) -> str:
    """Serialise *root*, declaring every namespace on it and reusing the original prefixes."""
    wanted = {_NS_X: "x", _NS_RDF: "rdf", _NS_PLUS: "plus", _NS_TDM: "tdm", NS_STYLECLOAK: "stylecloak"} | known
    prefixes = {_NS_XML: "xml"}
    for element in root.iter():
        for name in (element.tag, *element.attrib):
            uri = name[1:].split("}", 1)[0] if name.startswith("{") else None
            if uri is None or uri in prefixes:
                continue
            prefix, taken = wanted.get(uri, ""), set(prefixes.values())
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", prefix) or prefix in taken or prefix.lower().startswith("xml"):
                prefix = next(f"ns{i}" for i in range(len(taken) + 1) if f"ns{i}" not in taken)
            prefixes[uri] = prefix

    def qname(name: str) -> str:
        if not name.startswith("{"):
            return name
        uri, local = name[1:].split("}", 1)
        return f"{prefixes[uri]}:{local}"

    def emit(element: ET.Element, declarations: str = "") -> str:
        tag = qname(element.tag)
        attrs = declarations + "".join(f" {qname(k)}={quoteattr(v)}" for k, v in element.attrib.items())
        inner = escape(element.text or "") + "".join(emit(child) for child in element)
        tail = escape(element.tail or "")
        return f"<{tag}{attrs}>{inner}</{tag}>{tail}" if inner else f"<{tag}{attrs}/>{tail}"

    return emit(root, "".join(f" xmlns:{p}={quoteattr(uri)}" for uri, p in prefixes.items() if uri != _NS_XML))
