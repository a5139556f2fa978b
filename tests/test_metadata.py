"""What a protected file carries besides its pixels, as exiftool reads it back: the metadata modes (keep, minimal,
strip), the opt-out values, creator and rights, provenance only when asked for, and XMP too large for a JPEG.

The copies are written through the save path with a fake cloak, so these tests need no weights."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, PngImagePlugin

from stylecloak.config import ProtectSettings
from stylecloak.errors import ConfigError
from stylecloak.io import (
    NS_STYLECLOAK,
    LoadedImage,
    OutputMetadata,
    load_image,
    read_xmp,
    save_image,
)
from stylecloak.io.metadata import METADATA_MODES, output_xmp
from stylecloak.io.xmp import JPEG_XMP_MAX, PLUS_VOCAB

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed (apt-get install libimage-exiftool-perl)")
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
SECRET = "/home/jane/private"
"""A path only the input's free-text fields name."""
FORMATS = [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")]
RECORD = {"targetStyle": "woodcut", "method": "glaze", "backbones": "taef2", "settings": "0123456789abcdef"}


def xmp(description: str = f"exported from {SECRET}") -> bytes:
    """An XMP packet as painting apps write it: creator, a free-text description, the tool and a GPS position."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:exif="http://ns.adobe.com/exif/1.0/" xmp:CreatorTool="PaintApp 2.1" exif:GPSLatitude="52,31.2N">'
        "<dc:creator><rdf:Seq><rdf:li>Ada Painter</rdf:li></rdf:Seq></dc:creator>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt></dc:description>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def exif() -> bytes:
    """EXIF with creator and copyright, and what the artist did not choose to share: GPS, software, free text."""
    tags = Image.Exif()
    tags[0x013B], tags[0x8298] = "Ada Painter", "(c) 2025 Ada Painter"
    tags[0x0131], tags[0x010E] = "PaintApp 2.1", f"saved in {SECRET}"
    gps = tags.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    tags.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00" + f"exported from {SECRET}".encode()  # UserComment
    return tags.tobytes()


def artwork(folder: Path, fmt: str, suffix: str, packet: bytes | None = None) -> Path:
    """An input image with an ICC profile, EXIF, XMP and the format's own comments."""
    path = folder / f"art{suffix}"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    options: dict = {"icc_profile": SRGB_ICC, "exif": exif()}
    packet = xmp() if packet is None else packet
    if fmt == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Author", "Ada Painter")
        text.add_text("Comment", f"exported from {SECRET}")
        text.add_itxt("XML:com.adobe.xmp", packet.decode())
        options["pnginfo"] = text
    else:
        options["xmp"] = packet
    if fmt == "JPEG":
        options["comment"] = f"exported from {SECRET}".encode()
    if fmt == "WEBP":
        options["lossless"] = True
    Image.fromarray(pixels).save(path, format=fmt, **options)
    return path


def fake_cloak(image: LoadedImage) -> torch.Tensor:
    noise = torch.from_numpy(np.random.default_rng(1).uniform(-0.02, 0.02, image.rgb.shape).astype(np.float32))
    return (image.rgb + noise).clamp(0, 1)


def protect_copy(src: Path, out: Path, metadata: OutputMetadata, warnings: list[str] | None = None) -> Path:
    image = load_image(src)
    return save_image(image, fake_cloak(image), out, metadata=metadata, warn=(warnings if warnings is not None else []).append)


def exiftool(path: Path) -> dict:
    """exiftool's view of a file (-n: the values as stored, e.g. the PLUS vocabulary URI), without its file facts."""
    result = subprocess.run([EXIFTOOL, "-j", "-n", "-G1", str(path)], capture_output=True, text=True, check=True)
    return {k: v for k, v in json.loads(result.stdout)[0].items() if not k.startswith(("System:", "ExifTool:", "Composite:"))}


def icc(path: Path) -> bytes | None:
    with Image.open(path) as im:
        return im.info.get("icc_profile")


@needs_exiftool
@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
@pytest.mark.parametrize(
    ("optout", "term", "words"),
    [
        ("genai", "DMI-PROHIBITED-GENAIMLTRAINING", "train generative AI"),
        ("ai", "DMI-PROHIBITED-AIMLTRAINING", "train any AI or machine-learning model"),
        ("all", "DMI-PROHIBITED", "no search-engine indexing"),
    ],
)
def test_exiftool_reads_the_optout_creator_and_rights(tmp_path: Path, fmt: str, suffix: str, optout: str, term: str, words: str) -> None:
    src = artwork(tmp_path, fmt, suffix)
    choice = OutputMetadata(mode="strip", optout=optout, creator="Ada Lovelace", rights="© 2025 Ada Lovelace, all rights reserved")
    seen = exiftool(protect_copy(src, tmp_path / "out" / src.name, choice))
    assert seen["XMP-plus:DataMining"] == PLUS_VOCAB + term
    assert words in seen["XMP-plus:OtherConstraints"] and "rights are reserved" in seen["XMP-plus:OtherConstraints"]
    assert seen["XMP-tdm:Reservation"] == 1
    assert seen["XMP-dc:Creator"] == "Ada Lovelace" and seen["XMP-dc:Rights"] == "© 2025 Ada Lovelace, all rights reserved"


@needs_exiftool
@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_no_optout_and_no_creator_unless_asked_for(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = artwork(tmp_path, fmt, suffix)
    seen = exiftool(protect_copy(src, tmp_path / "out" / src.name, OutputMetadata(mode="strip", optout="none")))
    assert not [k for k in seen if k.startswith("XMP")]  # strip leaves nothing of the input's XMP and none was asked for


@needs_exiftool
@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_minimal_drops_gps_and_free_text_and_keeps_creator_copyright_and_colour(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = artwork(tmp_path, fmt, suffix)
    out = protect_copy(src, tmp_path / "out" / src.name, OutputMetadata())
    seen = exiftool(out)
    assert SECRET not in json.dumps(seen) and "PaintApp" not in json.dumps(seen)
    assert not [k for k in seen if "GPS" in k]
    assert seen["IFD0:Artist"] == "Ada Painter" and seen["IFD0:Copyright"] == "(c) 2025 Ada Painter"
    assert seen["XMP-dc:Creator"] == "Ada Painter"  # the input's own creator is kept
    assert seen["XMP-plus:DataMining"] == PLUS_VOCAB + "DMI-PROHIBITED-GENAIMLTRAINING"
    assert icc(out) == SRGB_ICC


@needs_exiftool
@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_keep_copies_everything_and_strip_nothing_but_the_colour_profile(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = artwork(tmp_path, fmt, suffix)
    kept = protect_copy(src, tmp_path / "keep" / src.name, OutputMetadata(mode="keep"))
    seen = exiftool(kept)
    assert seen["GPS:GPSLatitudeRef"] == "N" and seen["IFD0:Software"] == "PaintApp 2.1"
    assert SECRET in seen["ExifIFD:UserComment"] and SECRET in seen["XMP-dc:Description"]
    if fmt != "WEBP":  # WebP has no comment field of its own
        assert SECRET in seen["PNG:Comment" if fmt == "PNG" else "File:Comment"]
    stripped = protect_copy(src, tmp_path / "strip" / src.name, OutputMetadata(mode="strip"))
    seen = exiftool(stripped)
    assert SECRET not in json.dumps(seen) and "Ada Painter" not in json.dumps(seen)
    assert not [k for k in seen if k.startswith(("IFD0", "ExifIFD", "GPS", "PNG:Author", "PNG:Comment"))]
    assert seen["XMP-plus:DataMining"] == PLUS_VOCAB + "DMI-PROHIBITED-GENAIMLTRAINING"  # strip never removes the opt-out
    assert icc(kept) == icc(stripped) == SRGB_ICC


@pytest.mark.parametrize(("fmt", "suffix"), [*FORMATS, ("TIFF", ".tif")])
def test_provenance_only_with_record_settings(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = tmp_path / f"in{suffix}"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src, format=fmt)
    for record in (False, True):
        metadata = ProtectSettings(record_settings=record).output_metadata(RECORD)
        out = protect_copy(src, tmp_path / f"{record}{suffix}", metadata)
        packet = read_xmp(out) or b""
        assert (NS_STYLECLOAK.encode() in packet) is record
        assert (b"woodcut" in packet) is record
        assert b"DMI-PROHIBITED-GENAIMLTRAINING" in packet


def test_an_earlier_record_in_the_input_is_not_copied(tmp_path: Path) -> None:
    """Protecting a file protected before: its recorded target does not travel into the new copy."""
    src = tmp_path / "once.png"
    protect_copy(artwork(tmp_path, "PNG", ".png"), src, OutputMetadata(provenance=RECORD))
    assert b"woodcut" in (read_xmp(src) or b"")
    for mode in ("minimal", "strip"):
        assert b"woodcut" not in (read_xmp(protect_copy(src, tmp_path / mode / "twice.png", OutputMetadata(mode=mode))) or b"")


def big_xmp_jpeg(folder: Path) -> Path:
    """A JPEG whose valid XMP packet nearly fills its APP1 segment: merged with the opt-out it no longer fits one."""
    filler = "x" * (JPEG_XMP_MAX - len(xmp("")) - 64)
    packet = xmp(filler)
    assert JPEG_XMP_MAX - 200 < len(packet) <= JPEG_XMP_MAX
    path = folder / "big.jpg"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(path, xmp=packet)
    assert load_image(path).info["xmp"].strip(b"\x00") == packet  # read in full
    return path


@pytest.mark.parametrize("optout", ["genai", "none"])
def test_a_jpeg_with_a_large_xmp_packet_is_protected_with_a_warning(tmp_path: Path, optout: str) -> None:
    src = big_xmp_jpeg(tmp_path)
    warnings: list[str] = []
    out = protect_copy(src, tmp_path / "keep" / "big.jpg", OutputMetadata(mode="keep", optout=optout, provenance=RECORD), warnings)
    (warning,) = warnings
    assert str(src) in warning and "too large for a JPEG" in warning
    packet = read_xmp(out) or b""
    assert b"xxxxxxxx" not in packet and b"Ada Painter" not in packet  # the input's XMP was left out...
    assert (b"DMI-PROHIBITED-GENAIMLTRAINING" in packet) is (optout == "genai") and b"woodcut" in packet  # ...ours kept
    warnings.clear()
    out = protect_copy(src, tmp_path / "minimal" / "big.jpg", OutputMetadata(optout=optout), warnings)
    assert warnings == [] and b"Ada Painter" in (read_xmp(out) or b"")  # minimal keeps the creator, which fits
    Image.open(out).load()


def test_choices_are_checked_with_messages_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match="keep, minimal, strip"):
        OutputMetadata(mode="everything")
    with pytest.raises(ConfigError, match="genai, ai, all, none"):
        ProtectSettings(optout="yes")
    with pytest.raises(ConfigError, match="genai, ai, all, none"):
        ProtectSettings(optout=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--creator"):
        ProtectSettings(creator="Ada\nSet-Cookie: x")
    with pytest.raises(ConfigError, match="--rights"):
        ProtectSettings(rights="  ")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode), st.sampled_from(["keep", "minimal", "strip"]))
def test_any_input_xmp_gives_well_formed_packets_with_the_optout(data: bytes, mode: str) -> None:
    packets = output_xmp(data, OutputMetadata(mode=mode))
    assert packets
    for packet in packets:
        ET.fromstring(packet)  # well-formed XML, whatever the input held
        assert b"DMI-PROHIBITED-GENAIMLTRAINING" in packet
    assert output_xmp(data, OutputMetadata(mode=mode, optout="none")) in ([], [data])  # nothing added, junk not copied


def _exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """EXIF whose IFD0 holds Artist and links to an IFD1 with a JPEG thumbnail, as cameras and editors write it."""
    ifd0, ifd1 = 8, 8 + 2 + 12 + 4
    data = ifd1 + 2 + 2 * 12 + 4
    tiff = b"II*\x00" + struct.pack("<I", ifd0)
    tiff += struct.pack("<H", 1) + struct.pack("<HHI", 0x013B, 2, 3) + b"me\x00\x00" + struct.pack("<I", ifd1)
    tiff += struct.pack("<H", 2) + struct.pack("<HHII", 0x0201, 4, 1, data) + struct.pack("<HHII", 0x0202, 4, 1, len(thumbnail))
    return b"Exif\x00\x00" + tiff + struct.pack("<I", 0) + thumbnail


@pytest.mark.parametrize("mode", METADATA_MODES)
def test_no_mode_copies_the_exif_thumbnail_of_the_uncloaked_original(tmp_path: Path, mode: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(buffer, "JPEG")
    thumbnail = buffer.getvalue()
    src = tmp_path / "art.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(src, exif=_exif_with_thumbnail(thumbnail))
    assert thumbnail[-64:] in src.read_bytes()
    out = protect_copy(src, tmp_path / "out" / "art.jpg", OutputMetadata(mode=mode))
    assert thumbnail[-64:] not in out.read_bytes()
    if mode == "keep":
        assert Image.open(out).getexif().get(0x013B) == "me"
