"""Round trips, metadata, opt-out XMP, atomic writes and path helpers of stylecloak.io."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, JpegImagePlugin, PngImagePlugin

from stylecloak.config import INTENSITY
from stylecloak.errors import ConfigError, ImageError
from stylecloak.io import (
    LoadedImage,
    OutputMetadata,
    iter_images,
    load_image,
    output_path,
    output_suffix,
    save_image,
    to_pil,
    xmp_optout_packet,
)
from stylecloak.io.encoding import JPEG_QUALITY_CAP, JPEG_QUALITY_FLOOR, webp_lossless

PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
TDM = "http://www.w3.org/ns/tdmrep/"
DC = "http://purl.org/dc/elements/1.1/"
GENAI = "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING"
KEEP, NO_OPTOUT = OutputMetadata(mode="keep"), OutputMetadata(optout="none")
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def colour(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def gray(h: int = 48, w: int = 64, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def alpha_mask(h: int = 48, w: int = 64) -> np.ndarray:
    a = np.zeros((h, w), np.uint8)
    a[:, w // 2 :] = 255
    a[h // 2 :, : w // 4] = 77
    return a


def exif_with(**tags: int | str) -> bytes:
    exif = Image.Exif()
    names = {"artist": 0x013B, "copyright": 0x8298, "orientation": 0x0112}
    for key, value in tags.items():
        exif[names[key]] = value
    return exif.tobytes()


def xmp_properties(data: bytes) -> dict[str, str]:
    """Map '{ns}name' to text for every rdf:Description property (elements and attributes)."""
    root = ET.fromstring(data.strip(b"\x00 \n"))
    props: dict[str, str] = {}
    for desc in root.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"):
        props.update({k: v for k, v in desc.attrib.items() if not k.endswith("}about")})
        for child in desc:
            props[child.tag] = "".join(child.itertext())
    return props


def written_xmp(path: Path) -> bytes | None:
    """The XMP packet of a file, wherever this Pillow version puts it."""
    with Image.open(path) as im:
        value = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp") or getattr(im, "tag_v2", {}).get(700)
        for marker, data in getattr(im, "applist", []):
            if marker == "APP1" and data.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
                value = data[29:]
    return value.encode() if isinstance(value, str) else value


def jpeg_xmp_marker(xmp: bytes) -> bytes:
    """An APP1 XMP segment, for Pillow's ``extra`` (``xmp=`` needs Pillow 11)."""
    body = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
    return b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body


def cloak(image: LoadedImage, seed: int = 3, amount: float = 0.03) -> torch.Tensor:
    """*image* plus uniform noise of up to ±``amount``."""
    noise = torch.from_numpy(np.random.default_rng(seed).uniform(-amount, amount, image.rgb.shape).astype(np.float32))
    return (image.rgb + noise).clamp(0, 1)


# --------------------------------------------------------------------------- round trips


def test_png_rgb_identity_is_pixel_identical(tmp_path: Path) -> None:
    pixels = colour()
    src = tmp_path / "art.png"
    Image.fromarray(pixels).save(src)
    image = load_image(src)
    assert image.rgb.shape == (1, 3, 48, 64) and image.rgb.dtype == torch.float32
    assert (image.mode, image.format, image.frames, image.alpha, image.path) == ("RGB", "PNG", 1, None, src)
    out = save_image(image, image.rgb, tmp_path / "out" / "art.png")
    with Image.open(out) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), pixels)


CASES = [
    # (format, suffix, input mode, expected output mode, lossless)
    ("PNG", ".png", "RGB", "RGB", True),
    ("PNG", ".png", "RGBA", "RGBA", True),
    ("PNG", ".png", "L", "L", True),
    ("PNG", ".png", "LA", "LA", True),
    ("TIFF", ".tif", "RGB", "RGB", True),
    ("TIFF", ".tiff", "RGBA", "RGBA", True),
    ("TIFF", ".tif", "L", "L", True),
    ("TIFF", ".tif", "LA", "LA", True),
    ("TIFF", ".tif", "CMYK", "CMYK", True),
    ("WEBP", ".webp", "RGB", "RGB", True),
    ("WEBP", ".webp", "RGBA", "RGBA", True),
    ("BMP", ".bmp", "RGB", "RGB", True),
    ("BMP", ".bmp", "L", "L", True),
    ("JPEG", ".jpg", "RGB", "RGB", False),
    ("JPEG", ".jpeg", "L", "L", False),
    ("JPEG", ".jpg", "CMYK", "CMYK", False),
]


def make(mode: str) -> Image.Image:
    rgb = Image.fromarray(colour())
    if mode in ("L", "LA"):
        base = Image.fromarray(gray())
    else:
        base = rgb.convert(mode) if mode == "CMYK" else rgb
    if mode in ("RGBA", "LA"):
        base = base.convert(mode)
        base.putalpha(Image.fromarray(alpha_mask()))
    return base


@pytest.mark.parametrize(("fmt", "suffix", "mode", "out_mode", "lossless"), CASES)
def test_round_trip_keeps_size_mode_alpha(tmp_path: Path, fmt: str, suffix: str, mode: str, out_mode: str, lossless: bool) -> None:
    src = tmp_path / f"in{suffix}"
    original = make(mode)
    original.save(src, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    image = load_image(src)
    assert image.format == fmt and image.mode == mode and image.size == (64, 48)
    assert (image.alpha is not None) == (mode in ("RGBA", "LA"))
    rgb = cloak(image)
    out = save_image(image, rgb, tmp_path / "out" / src.name)
    assert out == tmp_path / "out" / src.name
    expected = to_pil(image, rgb)
    assert expected.mode == out_mode
    with Image.open(out) as im, Image.open(src) as before:
        assert im.format == fmt and im.size == (64, 48) and im.mode == out_mode
        if image.alpha is not None:
            assert np.array_equal(np.asarray(im.getchannel("A")), image.alpha)
            assert np.array_equal(image.alpha, np.asarray(before.getchannel("A")))
        if lossless:
            assert np.array_equal(np.asarray(im), np.asarray(expected))
    error = (load_image(out).rgb - load_image(expected).rgb).abs().mean()
    assert float(error) < (1e-6 if lossless else 0.04)  # JPEG of pure noise at quality 90


def test_sixteen_bit_png_stays_sixteen_bit(tmp_path: Path) -> None:
    values = np.random.default_rng(5).integers(0, 65536, (40, 32), dtype=np.uint16)
    src = tmp_path / "deep.png"
    Image.fromarray(values).save(src)
    image = load_image(src)
    assert image.info["bits"] == 16 and image.mode.startswith("I")
    out = save_image(image, image.rgb, tmp_path / "out.png")
    assert out.read_bytes()[24:26] == b"\x10\x00"  # IHDR: bit depth 16, colour type 0 (gray)
    with Image.open(out) as im:  # Pillow < 11 reads 16-bit gray PNG as mode I
        assert im.mode in ("I;16", "I") and np.array_equal(np.asarray(im), values)
    tif = save_image(image, image.rgb, tmp_path / "out.tif", format="TIFF")
    with Image.open(tif) as im:
        assert im.mode == "I;16" and np.array_equal(np.asarray(im), values)
    jpg = save_image(image, image.rgb, tmp_path / "out.jpg", format="JPEG")
    with Image.open(jpg) as im:
        assert im.mode == "L"


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("TIFF", ".tif")])
def test_icc_and_exif_survive(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = tmp_path / f"meta{suffix}"
    exif = exif_with(artist="Ada Painter", copyright="(c) 2024 Ada")
    Image.fromarray(colour()).save(src, format=fmt, icc_profile=SRGB_ICC, exif=exif)
    image = load_image(src)
    assert image.info["icc_profile"] == SRGB_ICC
    out = save_image(image, cloak(image), tmp_path / "out" / src.name)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == SRGB_ICC
        tags = im.getexif()
        assert tags.get(0x013B) == "Ada Painter" and tags.get(0x8298) == "(c) 2024 Ada"


def test_png_dpi_and_text_survive(tmp_path: Path) -> None:
    src = tmp_path / "t.png"
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Ada")
    text.add_itxt("Description", "café", lang="fr")
    Image.fromarray(colour()).save(src, dpi=(300, 300), pnginfo=text)
    out = save_image(load_image(src), load_image(src).rgb, tmp_path / "o.png", metadata=KEEP)
    with Image.open(out) as im:
        assert im.info["Author"] == "Ada" and im.info["Description"] == "café"
        assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
    minimal = save_image(load_image(src), load_image(src).rgb, tmp_path / "m.png")
    with Image.open(minimal) as im:
        assert im.info["Author"] == "Ada" and "Description" not in im.info  # creator kept, free text dropped
        assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)


@pytest.mark.parametrize("sampling", [0, 1, 2])
def test_jpeg_keeps_subsampling(tmp_path: Path, sampling: int) -> None:
    src = tmp_path / "s.jpg"
    Image.fromarray(colour()).save(src, subsampling=sampling, quality=90)
    image = load_image(src)
    assert image.info["subsampling"] == sampling
    out = save_image(image, image.rgb, tmp_path / "o.jpg")
    with Image.open(out) as im:
        assert JpegImagePlugin.get_sampling(im) == sampling


def quant_tables(path: Path) -> dict[int, list[int]]:
    with Image.open(path) as im:
        assert isinstance(im, JpegImagePlugin.JpegImageFile)
        return {k: list(v) for k, v in im.quantization.items()}


@pytest.mark.parametrize(("quality", "expected"), [(60, JPEG_QUALITY_FLOOR), (JPEG_QUALITY_FLOOR + 2, JPEG_QUALITY_FLOOR + 2), (99, JPEG_QUALITY_CAP)])
def test_jpeg_quality_is_the_inputs_within_floor_and_cap(tmp_path: Path, quality: int, expected: int) -> None:
    src = tmp_path / "q.jpg"
    Image.fromarray(colour()).save(src, quality=quality)
    out = save_image(load_image(src), load_image(src).rgb, tmp_path / "o.jpg")
    reference = tmp_path / "ref.jpg"
    Image.fromarray(colour()).save(reference, quality=expected)
    assert quant_tables(out) == quant_tables(reference)


DEFAULT_CLOAK = 3**0.5 * 10 ** (-INTENSITY["default"]["min_psnr"] / 20)
"""Uniform noise of up to ± this has the energy the default intensity allows (its PSNR floor); white noise costs
JPEG more bytes than a real cloak of the same energy."""


def painting_like(h: int = 384, w: int = 512, seed: int = 3) -> np.ndarray:
    """Smooth colour fields with brush-like texture: compresses as a painting does, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + c) * np.cos(4 * y - c) for c in (0.0, 1.3, 2.6)], axis=-1)
    strokes = np.repeat(rng.normal(0, 1, (h, w // 8, 3)), 8, axis=1)  # horizontal strokes, 8 px long
    return np.clip(128 + 90 * base + 12 * strokes, 0, 255).astype(np.uint8)


def test_jpeg_output_stays_near_the_inputs_size(tmp_path: Path) -> None:
    src = tmp_path / "painting.jpg"
    Image.fromarray(painting_like()).save(src, quality=90, subsampling=2)
    image = load_image(src)
    out = save_image(image, cloak(image, amount=DEFAULT_CLOAK), tmp_path / "out" / "painting.jpg")
    assert out.stat().st_size <= 1.5 * src.stat().st_size


def test_lossy_webp_stays_lossy_and_smaller_than_lossless(tmp_path: Path) -> None:
    pixels = painting_like()
    lossy, lossless = tmp_path / "lossy.webp", tmp_path / "lossless.webp"
    Image.fromarray(pixels).save(lossy, quality=80)
    Image.fromarray(pixels).save(lossless, lossless=True)
    outs = {}
    for src in (lossy, lossless):
        image = load_image(src)
        outs[src.name] = save_image(image, cloak(image, amount=DEFAULT_CLOAK), tmp_path / "out" / src.name)
    assert webp_lossless(outs["lossy.webp"]) is False and webp_lossless(outs["lossless.webp"]) is True
    assert outs["lossy.webp"].stat().st_size < outs["lossless.webp"].stat().st_size


def test_non_jpeg_saved_as_jpeg_uses_444(tmp_path: Path) -> None:
    src = tmp_path / "p.png"
    Image.fromarray(colour()).save(src)
    out = save_image(load_image(src), load_image(src).rgb, tmp_path / "p.png", format="jpg")
    assert out == tmp_path / "p.jpg"
    with Image.open(out) as im:
        assert im.format == "JPEG" and JpegImagePlugin.get_sampling(im) == 0


def test_exif_rotated_jpeg_is_not_rotated_twice(tmp_path: Path) -> None:
    src = tmp_path / "rot.jpg"
    pixels = np.zeros((32, 64, 3), np.uint8)
    pixels[:, :8] = 255  # a white band on the stored image's left edge
    Image.fromarray(pixels).save(src, exif=exif_with(orientation=6, artist="Ada"), quality=95)
    image = load_image(src)
    assert image.size == (32, 64)  # orientation 6: rotated 90° clockwise for display
    assert float(image.rgb[0, :, :8, :].mean()) > 0.9  # the band is now at the top
    out = save_image(image, image.rgb, tmp_path / "out" / "rot.jpg")
    with Image.open(out) as im:
        assert im.size == (32, 64)
        assert im.getexif().get(0x0112, 1) == 1 and im.getexif().get(0x013B) == "Ada"
    assert load_image(out).size == (32, 64)


def test_source_untouched_and_overwrite_refused(tmp_path: Path) -> None:
    src = tmp_path / "keep.png"
    Image.fromarray(colour()).save(src)
    os.utime(src, (1_000_000_000, 1_000_000_000))
    before = src.read_bytes()
    image = load_image(src)
    save_image(image, cloak(image), tmp_path / "out" / "keep.png")
    with pytest.raises(ImageError, match=r"keep\.png"):
        save_image(image, cloak(image), src)
    with pytest.raises(ImageError, match="overwrite"):
        save_image(image, cloak(image), tmp_path / "." / "keep.png")
    assert src.read_bytes() == before and src.stat().st_mtime == 1_000_000_000


def test_deterministic_bytes(tmp_path: Path) -> None:
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg")):
        src = tmp_path / f"d{suffix}"
        Image.fromarray(colour()).save(src, format=fmt)
        image = load_image(src)
        rgb = cloak(image)
        first = save_image(image, rgb, tmp_path / "a" / src.name)
        second = save_image(image, rgb.clone(), tmp_path / "b" / src.name)
        assert first.read_bytes() == second.read_bytes()


def test_size_mismatch_and_bad_tensor(tmp_path: Path) -> None:
    src = tmp_path / "m.png"
    Image.fromarray(colour()).save(src)
    image = load_image(src)
    with pytest.raises(ImageError, match=r"m\.png"):
        save_image(image, torch.zeros(1, 3, 48, 63), tmp_path / "o" / "m.png")
    with pytest.raises(ImageError, match="NaN"):
        save_image(image, torch.full((3, 48, 64), float("nan")), tmp_path / "o" / "m.png")
    with pytest.raises(ConfigError, match="PNG, JPEG"):
        save_image(image, image.rgb, tmp_path / "o" / "m.png", format="xcf")
    assert not (tmp_path / "o").exists()
    rgb3 = image.rgb[0].clone()
    assert save_image(image, rgb3, tmp_path / "o" / "m.png").exists()


def test_atomic_write_cleans_up_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a.png"
    Image.fromarray(colour()).save(src)
    image = load_image(src)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "a.png").write_bytes(b"previous")

    def broken(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"partial")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(ImageError, match="disk full"):
        save_image(image, image.rgb, out_dir / "a.png")
    assert [p.name for p in out_dir.iterdir()] == ["a.png"]
    assert (out_dir / "a.png").read_bytes() == b"previous"


def test_output_is_world_readable_per_umask(tmp_path: Path) -> None:
    src = tmp_path / "u.png"
    Image.fromarray(colour()).save(src)
    out = save_image(load_image(src), load_image(src).rgb, tmp_path / "o" / "u.png")
    mask = os.umask(0o022)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in out.parent.iterdir()) == ["u.png"]


def test_in_memory_pil_image() -> None:
    im = Image.fromarray(colour()).convert("P")
    image = load_image(im)
    assert image.path is None and image.format == "PNG" and image.mode == "P"
    assert to_pil(image, image.rgb).mode == "RGB"
    assert np.array_equal(np.asarray(to_pil(image, image.rgb)), np.asarray(im.convert("RGB")))


def test_to_pil_semantics() -> None:
    la = make("LA")
    image = load_image(la)
    out = to_pil(image, image.rgb)
    assert out.mode == "LA" and np.array_equal(np.asarray(out), np.asarray(la))
    cmyk = load_image(make("CMYK"))
    assert to_pil(cmyk, cmyk.rgb).mode == "CMYK"


def test_gif_is_written_as_png(tmp_path: Path) -> None:
    src = tmp_path / "anim.gif"
    frames = [Image.fromarray(colour(seed=i)).convert("P") for i in range(3)]
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    image = load_image(src)
    assert image.frames == 3 and image.format == "GIF"
    target = output_path(src, tmp_path / "out", tmp_path)
    assert target == tmp_path / "out" / "anim.png"
    out = save_image(image, image.rgb, tmp_path / "out" / "anim.gif")
    assert out == target
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "RGB" and getattr(im, "n_frames", 1) == 1
        assert np.array_equal(np.asarray(im), np.asarray(frames[0].convert("RGB")))


def test_in_memory_multiframe_uses_first_frame(tmp_path: Path) -> None:
    src = tmp_path / "anim.gif"
    frames = [Image.fromarray(colour(seed=i)).convert("P") for i in range(3)]
    frames[0].save(src, save_all=True, append_images=frames[1:])
    with Image.open(src) as im:
        im.seek(2)
        image = load_image(im)
    assert image.frames == 3 and image.path is None and image.format == "GIF"
    assert np.array_equal(np.asarray(to_pil(image, image.rgb)), np.asarray(frames[0].convert("RGB")))


def test_cmyk_profile_only_travels_with_cmyk_output(tmp_path: Path) -> None:
    fake_cmyk_icc = bytes(16) + b"CMYK" + bytes(108)
    src = tmp_path / "print.jpg"
    make("CMYK").save(src, icc_profile=fake_cmyk_icc)
    image = load_image(src)
    jpg = save_image(image, image.rgb, tmp_path / "out" / "print.jpg")
    png = save_image(image, image.rgb, tmp_path / "out" / "print.jpg", format="PNG")
    with Image.open(jpg) as im:
        assert im.mode == "CMYK" and im.info.get("icc_profile") == fake_cmyk_icc
    with Image.open(png) as im:
        assert png.suffix == ".png" and im.mode == "RGB" and "icc_profile" not in im.info


def test_jpeg_progressive_and_comment_survive(tmp_path: Path) -> None:
    src = tmp_path / "p.jpg"
    Image.fromarray(colour()).save(src, progressive=True, comment=b"by Ada")
    out = save_image(load_image(src), load_image(src).rgb, tmp_path / "o" / "p.jpg", metadata=KEEP)
    with Image.open(out) as im:
        assert im.info.get("progressive") and im.info.get("comment") == b"by Ada"
    minimal = save_image(load_image(src), load_image(src).rgb, tmp_path / "m" / "p.jpg")
    with Image.open(minimal) as im:
        assert im.info.get("progressive") and "comment" not in im.info


# --------------------------------------------------------------------------- opt-out XMP


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("TIFF", ".tif")])
def test_optout_xmp_written(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = tmp_path / f"x{suffix}"
    Image.fromarray(colour()).save(src, format=fmt)
    image = load_image(src)
    out = save_image(image, image.rgb, tmp_path / "on" / src.name)
    props = xmp_properties(written_xmp(out) or b"")
    assert props[f"{{{PLUS}}}DataMining"] == GENAI and props[f"{{{TDM}}}reservation"] == "1"
    plain = save_image(image, image.rgb, tmp_path / "off" / src.name, metadata=NO_OPTOUT)
    assert written_xmp(plain) is None


EXISTING = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    b' xmp:CreatorTool="Krita" plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-ALLOWED">'
    b"<dc:creator><rdf:Seq><rdf:li>Ada &amp; Co</rdf:li></rdf:Seq></dc:creator>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>\x00\x00'
)


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("TIFF", ".tif")])
def test_existing_xmp_is_merged(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = tmp_path / f"e{suffix}"
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", EXISTING.decode("utf-8", "replace").rstrip("\x00"))
        Image.fromarray(colour()).save(src, pnginfo=info)
    elif fmt == "TIFF":
        Image.fromarray(colour()).save(src, tiffinfo={700: EXISTING})
    elif fmt == "JPEG":
        Image.fromarray(colour()).save(src, extra=jpeg_xmp_marker(EXISTING))
    else:
        Image.fromarray(colour()).save(src, format=fmt, xmp=EXISTING)
    image = load_image(src)
    assert image.info["xmp"].strip(b"\x00") == EXISTING.strip(b"\x00")
    out = save_image(image, image.rgb, tmp_path / "out" / src.name, metadata=KEEP)
    props = xmp_properties(written_xmp(out) or b"")
    assert props[f"{{{DC}}}creator"] == "Ada & Co"
    assert props["{http://ns.adobe.com/xap/1.0/}CreatorTool"] == "Krita"
    assert props[f"{{{PLUS}}}DataMining"] == GENAI and props[f"{{{TDM}}}reservation"] == "1"
    kept = save_image(image, image.rgb, tmp_path / "kept" / src.name, metadata=OutputMetadata(mode="keep", optout="none"))
    assert f"{{{DC}}}creator" in xmp_properties(written_xmp(kept) or b"")
    minimal = xmp_properties(written_xmp(save_image(image, image.rgb, tmp_path / "minimal" / src.name)) or b"")
    assert minimal[f"{{{DC}}}creator"] == "Ada & Co" and minimal[f"{{{PLUS}}}DataMining"] == GENAI
    assert "{http://ns.adobe.com/xap/1.0/}CreatorTool" not in minimal


def test_xmp_packet_merge_rules() -> None:
    fresh = xmp_optout_packet()
    assert fresh.startswith(b"<?xpacket begin=") and fresh.rstrip().endswith(b'<?xpacket end="w"?>')
    assert xmp_properties(fresh) == {
        f"{{{PLUS}}}DataMining": GENAI,
        f"{{{PLUS}}}OtherConstraints": "Do not use this image to train generative AI models. Text and data mining rights are reserved.",
        f"{{{TDM}}}reservation": "1",
    }
    merged = xmp_optout_packet(EXISTING)
    assert merged.count(b"<plus:DataMining>") == 1 and merged.count(b"DataMining") == 2 and b"DMI-ALLOWED" not in merged
    assert b"<dc:creator>" in merged and b'xmp:CreatorTool="Krita"' in merged  # prefixes kept
    assert xmp_optout_packet(merged) == merged  # idempotent
    for junk in (b"not xml", b"<a><b></a>", b"<root/>", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'):
        assert xmp_optout_packet(junk) == fresh
    lone = b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    assert xmp_properties(xmp_optout_packet(lone))[f"{{{TDM}}}reservation"] == "1"
    deep = b'<x xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' + b"<a>" * 200 + b"</a>" * 200 + b"</x>"
    assert xmp_optout_packet(deep) == fresh


# --------------------------------------------------------------------------- paths


def test_output_path_mirrors_tree(tmp_path: Path) -> None:
    root = tmp_path / "in"
    assert output_path(root / "a" / "b.JPG", tmp_path / "out", root) == tmp_path / "out" / "a" / "b.JPG"
    assert output_path(root / "c.gif", tmp_path / "out") == tmp_path / "out" / "c.png"
    assert output_suffix(".GIF") == ".png" and output_suffix(".tiff") == ".tiff"
    with pytest.raises(ImageError, match="not inside"):
        output_path(tmp_path / "elsewhere.png", tmp_path / "out", root)


def test_iter_images_walks_sorted_and_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "art"
    for rel in ("b.png", "a.JPG", "notes.txt", ".hidden.png", "sub/z.webp", "sub/c.tif", ".git/x.png", "sub/.cache/y.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    single = tmp_path / "single.bmp"
    found = list(iter_images([root, single, str(tmp_path / "missing.png")]))
    assert found == [
        (root / "a.JPG", root),
        (root / "b.png", root),
        (root / "sub" / "c.tif", root),
        (root / "sub" / "z.webp", root),
        (single, tmp_path),
        (tmp_path / "missing.png", tmp_path),
    ]
