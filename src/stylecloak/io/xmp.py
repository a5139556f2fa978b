"""XMP packets: the "no AI training" opt-out vocabulary, reading simple properties, and merging properties
into an existing packet (keeping its prefixes, dropping what a filter rejects)."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from stylecloak.errors import ConfigError

APP1_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
JPEG_XMP_MAX = 0xFFFF - 2 - len(APP1_XMP)
"""Largest XMP packet (bytes) one JPEG APP1 segment holds."""

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
NS_TDM = "http://www.w3.org/ns/tdmrep/"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
NS_STYLECLOAK = "urn:stylecloak:xmp:1.0#"
"""XMP namespace (prefix ``stylecloak``) of what protect did: targetStyle, method, backbones, intensity, quality, settings."""
_PREFIXES = {NS_X: "x", NS_RDF: "rdf", NS_PLUS: "plus", NS_TDM: "tdm", NS_DC: "dc", NS_STYLECLOAK: "stylecloak"}
_XMP_MAX_DEPTH = 64  # deeper packets are treated as malformed (and would exhaust recursion)

PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
_RESERVED = "Text and data mining rights are reserved."
OPTOUTS: dict[str, tuple[str, str] | None] = {
    "genai": ("DMI-PROHIBITED-GENAIMLTRAINING", f"Do not use this image to train generative AI models. {_RESERVED}"),
    "ai": ("DMI-PROHIBITED-AIMLTRAINING", f"Do not use this image to train any AI or machine-learning model. {_RESERVED}"),
    "all": (
        "DMI-PROHIBITED",
        f"Do not use this image for any data mining: no AI or machine-learning training and no search-engine indexing. {_RESERVED}",
    ),
    "none": None,
}
"""``--optout``: the IPTC Photo Metadata (2023.1) / PLUS Data Mining value, a term of :data:`PLUS_VOCAB`, and the
plain-words ``plus:OtherConstraints`` of each choice; ``none`` writes no opt-out."""


@dataclass(frozen=True)
class LangAlt:
    """An XMP language alternative (``rdf:Alt``) of one ``x-default`` text: dc:rights, plus:OtherConstraints."""

    text: str


@dataclass(frozen=True)
class Seq:
    """An XMP ordered array (``rdf:Seq``): dc:creator."""

    items: tuple[str, ...]


XmpValue = str | LangAlt | Seq


def optout_properties(optout: str = "genai") -> dict[str, XmpValue]:
    """The XMP properties of an ``--optout`` choice (:data:`OPTOUTS`): ``plus:DataMining``,
    ``plus:OtherConstraints`` and the W3C TDMRep ``tdm:reservation`` = 1; none for ``none``."""
    if optout not in OPTOUTS:
        raise ConfigError(f"unknown opt-out {optout!r}; choose one of {', '.join(OPTOUTS)}")
    chosen = OPTOUTS[optout]
    if chosen is None:
        return {}
    term, words = chosen
    return {f"{{{NS_PLUS}}}DataMining": PLUS_VOCAB + term, f"{{{NS_PLUS}}}OtherConstraints": LangAlt(words), f"{{{NS_TDM}}}reservation": "1"}


def xmp_optout_packet(existing: bytes | None = None, optout: str = "genai") -> bytes:
    """Return an XMP packet with the opt-out of *optout* (:func:`optout_properties`) on top of *existing*'s
    properties, its own values of these replaced; an unparseable *existing* is replaced."""
    return xmp_packet(existing, optout_properties(optout))


def xmp_values(data: bytes | None, namespace: str = NS_STYLECLOAK) -> dict[str, str]:
    """The simple properties of *namespace* in an XMP packet (elements or attributes), by local name."""
    parsed = _parse_xmp(data) if data else None
    found: dict[str, str] = {}
    for description in parsed[1].findall(f"{{{NS_RDF}}}Description") if parsed else []:
        pairs = [*description.attrib.items(), *((child.tag, child.text or "") for child in description)]
        for key, value in pairs:
            if key.startswith(f"{{{namespace}}}"):
                found[key.split("}", 1)[1]] = value
    return found


def xmp_packet(existing: bytes | None, properties: dict[str, XmpValue], keep: Callable[[str], bool] | None = None) -> bytes:
    """Return an XMP packet with *properties* ({"{namespace}name": value}) set on top of *existing*'s.

    Properties of *existing* are kept where *keep* (given the "{namespace}name") accepts them, all when
    *keep* is None, with its own values of *properties* replaced; an unparseable *existing* is replaced.
    """
    parsed = _parse_xmp(existing) if existing else None
    if parsed is None:
        root = ET.Element(f"{{{NS_X}}}xmpmeta")
        rdf = ET.SubElement(root, f"{{{NS_RDF}}}RDF")
        prefixes: dict[str, str] = {}
    else:
        root, rdf, prefixes = parsed
    descriptions = rdf.findall(f"{{{NS_RDF}}}Description")
    for description in descriptions:
        dropped = [k for k in description.attrib if k in properties or (keep and not k.startswith(f"{{{NS_RDF}}}") and not keep(k))]
        for key in dropped:
            del description.attrib[key]
        for old in [c for c in description if c.tag in properties or (keep and not keep(c.tag))]:
            description.remove(old)
    if descriptions:
        target = descriptions[0]
    else:
        target = ET.SubElement(rdf, f"{{{NS_RDF}}}Description", {f"{{{NS_RDF}}}about": ""})
    for key, value in properties.items():
        _add(target, key, value)
    body = _serialise(root, prefixes)
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>'.encode()


def has_properties(data: bytes) -> bool:
    """Whether an XMP packet holds any property (an empty ``rdf:Description`` holds none)."""
    parsed = _parse_xmp(data)
    descriptions = parsed[1].iter(f"{{{NS_RDF}}}Description") if parsed else ()
    return any(len(d) or any(not k.startswith(f"{{{NS_RDF}}}") for k in d.attrib) for d in descriptions)


def _add(parent: ET.Element, key: str, value: XmpValue) -> None:
    element = ET.SubElement(parent, key)
    if isinstance(value, str):
        element.text = value
        return
    kind, items = ("Alt", (value.text,)) if isinstance(value, LangAlt) else ("Seq", value.items)
    container = ET.SubElement(element, f"{{{NS_RDF}}}{kind}")
    for item in items:
        ET.SubElement(container, f"{{{NS_RDF}}}li", {f"{{{NS_XML}}}lang": "x-default"} if kind == "Alt" else {}).text = item


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
    rdf = root if root.tag == f"{{{NS_RDF}}}RDF" else root.find(f".//{{{NS_RDF}}}RDF")
    return None if rdf is None else (root, rdf, prefixes)


def _serialise(root: ET.Element, known: dict[str, str]) -> str:
    """Serialise *root*, declaring every namespace on it and reusing the original prefixes."""
    wanted = _PREFIXES | known
    prefixes = {NS_XML: "xml"}
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

    return emit(root, "".join(f" xmlns:{p}={quoteattr(uri)}" for uri, p in prefixes.items() if uri != NS_XML))
