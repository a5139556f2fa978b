"""The built-in target styles: each drawn by its own small generator from a seeded RNG, so the library is
deterministic and needs no downloads."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Painter = Callable[[np.random.Generator, int], Image.Image]


def _palette(rng: np.random.Generator, n: int, sat: float = 0.7, val: float = 0.9) -> list[tuple[int, int, int]]:
    hues = (rng.random() + np.arange(n) / n + rng.normal(0, 0.03, n)) % 1.0
    hsv = np.stack([hues * 179, np.full(n, sat * 255), np.full(n, val * 255)], 1).astype(np.uint8)[None]
    return [(int(r), int(g), int(b)) for r, g, b in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]]


def _canvas(size: int, colour: tuple[int, int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    im = Image.new("RGB", (size, size), colour)
    return im, ImageDraw.Draw(im)


def _noise_field(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    small = rng.random((max(2, size // scale),) * 2).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def impasto_swirls(rng: np.random.Generator, size: int) -> Image.Image:
    """Thick curved strokes following a swirling flow field, with relief lighting."""
    pal = _palette(rng, 6, 0.8, 0.85)
    im, d = _canvas(size, pal[0])
    angle = _noise_field(rng, size, 48) * 4 * np.pi
    for _ in range(size * 3):
        x, y = rng.random(2) * size
        col = pal[rng.integers(len(pal))]
        pts = []
        for _ in range(12):
            pts.append((x, y))
            a = angle[int(y) % size, int(x) % size]
            x, y = x + 3 * np.cos(a), y + 3 * np.sin(a)
        d.line(pts, fill=col, width=int(rng.integers(3, 7)))
    relief = im.convert("L").filter(ImageFilter.EMBOSS)
    return Image.blend(im, Image.merge("RGB", [relief] * 3), 0.3)


def pointillist_dots(rng: np.random.Generator, size: int) -> Image.Image:
    """Dense small dots of pure colour on a light ground."""
    pal = _palette(rng, 8, 0.75, 0.95)
    im, d = _canvas(size, (240, 235, 220))
    field = _noise_field(rng, size, 64)
    for _ in range(size * 12):
        x, y = rng.random(2) * size
        k = int(field[int(y), int(x)] * 4 + rng.integers(0, 4)) % len(pal)
        r = rng.uniform(1.2, 2.6)
        d.ellipse((x - r, y - r, x + r, y + r), fill=pal[k])
    return im


def _voronoi_labels(rng: np.random.Generator, size: int, n: int) -> np.ndarray:
    pts = rng.random((n, 2)) * size
    yy, xx = np.mgrid[0:size, 0:size]
    dist = (xx[..., None] - pts[:, 0]) ** 2 + (yy[..., None] - pts[:, 1]) ** 2
    return dist.argmin(-1)


def _cells(rng: np.random.Generator, size: int, n: int, pal: list, edge: int) -> Image.Image:
    labels = _voronoi_labels(rng, size, n)
    colours = np.array([pal[i % len(pal)] for i in rng.permutation(n)], np.uint8)
    img = colours[labels]
    edges = cv2.dilate((cv2.Laplacian(labels.astype(np.float32), cv2.CV_32F) != 0).astype(np.uint8), np.ones((edge, edge), np.uint8))
    img[edges > 0] = 20
    return Image.fromarray(img)


def cubist_facets(rng: np.random.Generator, size: int) -> Image.Image:
    """Angular facets in muted ochres and greys, shaded by a gradient, with dark seams."""
    im = _cells(rng, size, 40, _palette(rng, 5, 0.35, 0.7), 2)
    shade = np.linspace(0.7, 1.15, size)[None, :, None] * np.linspace(1.1, 0.8, size)[:, None, None]
    return Image.fromarray(np.clip(np.asarray(im) * shade, 0, 255).astype(np.uint8))


def stained_glass(rng: np.random.Generator, size: int) -> Image.Image:
    """Bright jewel-toned cells with thick black leading."""
    return _cells(rng, size, 60, _palette(rng, 7, 0.9, 0.85), 4)


def ink_wash(rng: np.random.Generator, size: int) -> Image.Image:
    """Grey ink blooms and dry-brush marks on warm paper."""
    paper: np.ndarray = np.full((size, size), 1.0, np.float32)
    for _ in range(14):
        blob: np.ndarray = np.zeros((size, size), np.float32)
        x, y = rng.integers(0, size, 2)
        cv2.circle(blob, (int(x), int(y)), int(rng.integers(size // 16, size // 5)), 1.0, -1)
        blob = cv2.GaussianBlur(blob, (0, 0), rng.uniform(3, 12))
        paper *= 1 - rng.uniform(0.3, 0.8) * blob
    for _ in range(6):
        pts = (rng.random((5, 2)) * size).astype(np.int32)
        cv2.polylines(paper, [pts], False, 0.1, int(rng.integers(2, 6)))
    paper = paper * (0.95 + 0.05 * _noise_field(rng, size, 2))
    rgb = np.stack([paper * 245, paper * 238, paper * 220], -1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def mosaic(rng: np.random.Generator, size: int) -> Image.Image:
    """Small square tesserae in jittered colours with light grout."""
    pal = _palette(rng, 5, 0.6, 0.8)
    field = _noise_field(rng, size, 40)
    im, d = _canvas(size, (200, 195, 185))
    step = 8
    for y in range(0, size, step):
        for x in range(0, size, step):
            base = np.array(pal[int(field[y, x] * len(pal)) % len(pal)]) + rng.integers(-25, 25, 3)
            d.rectangle((x + 1, y + 1, x + step - 2, y + step - 2), fill=tuple(int(c) for c in np.clip(base, 0, 255)))
    return im


def woodcut(rng: np.random.Generator, size: int) -> Image.Image:
    """Black-and-white gouged lines that follow the wood grain of a noise field."""
    field = _noise_field(rng, size, 32) * 20 + np.mgrid[0:size, 0:size][0] / 6
    lines = (np.sin(field * 2) > 0.2 - 0.6 * _noise_field(rng, size, 64)).astype(np.uint8) * 235 + 10
    tone = np.array([230, 215, 190]) / 255
    return Image.fromarray((lines[..., None] * tone).astype(np.uint8))


def neon_glitch(rng: np.random.Generator, size: int) -> Image.Image:
    """Neon lines on black with RGB channel offsets and scanlines."""
    im, d = _canvas(size, (8, 4, 20))
    neon = [(255, 30, 200), (20, 255, 240), (250, 240, 40), (120, 60, 255)]
    for _ in range(30):
        pts = [tuple(rng.random(2) * size) for _ in range(3)]
        d.line(pts, fill=neon[rng.integers(len(neon))], width=int(rng.integers(1, 4)))
    a = np.asarray(im.filter(ImageFilter.GaussianBlur(1.5))).astype(np.int16) + np.asarray(im)
    a[..., 0] = np.roll(a[..., 0], int(rng.integers(3, 8)), 1)
    a[..., 2] = np.roll(a[..., 2], -int(rng.integers(3, 8)), 0)
    for y0 in rng.integers(0, size, 6):
        a[y0 : y0 + 6] = np.roll(a[y0 : y0 + 6], int(rng.integers(-30, 30)), 1)
    a[::3] //= 2
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def watercolor(rng: np.random.Generator, size: int) -> Image.Image:
    """Translucent washes with darkened edges and paper grain."""
    out = np.ones((size, size, 3), np.float32)
    for col in _palette(rng, 7, 0.5, 0.9):
        mask = (_noise_field(rng, size, 24) > 0.62).astype(np.float32)
        soft = cv2.GaussianBlur(mask, (0, 0), 4)
        edge = np.clip(soft - cv2.GaussianBlur(soft, (0, 0), 2), 0, 1) * 3
        alpha = (0.35 * soft + edge)[..., None]
        out *= 1 - alpha * (1 - np.array(col, np.float32) / 255)
    out *= (0.93 + 0.07 * _noise_field(rng, size, 1))[..., None]
    return Image.fromarray(np.clip(out * 255, 0, 255).astype(np.uint8))


def halftone(rng: np.random.Generator, size: int) -> Image.Image:
    """Print halftone: cyan, magenta and yellow dot screens at different angles."""
    out = np.ones((size, size, 3), np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for ch, angle in zip(range(3), (15, 75, 0)):
        a = np.deg2rad(angle + rng.uniform(-5, 5))
        u, v = xx * np.cos(a) + yy * np.sin(a), -xx * np.sin(a) + yy * np.cos(a)
        cell = np.hypot((u % 6) - 3, (v % 6) - 3)
        ink = cell < 3.2 * _noise_field(rng, size, 48)
        out[..., ch] -= 0.85 * ink
    return Image.fromarray(np.clip(out * 255, 0, 255).astype(np.uint8))


def crosshatch(rng: np.random.Generator, size: int) -> Image.Image:
    """Pen cross-hatching whose density follows a tone map."""
    tone = _noise_field(rng, size, 50)
    im, d = _canvas(size, (250, 248, 240))
    for level, angle in enumerate((45, -45, 0, 90)):
        a = np.deg2rad(angle)
        for t in np.arange(-size, 2 * size, 5):
            for s in np.arange(0, 1.5 * size, 6):
                x, y = t + s * np.cos(a), s * np.sin(a) if angle >= 0 else size + s * np.sin(a)
                if 0 <= x < size and 0 <= y < size and tone[int(y), int(x)] < 0.75 - 0.18 * level:
                    d.line((x, y, x + 6 * np.cos(a), y + 6 * np.sin(a)), fill=(30, 30, 45), width=1)
    return im


def pixel_art(rng: np.random.Generator, size: int) -> Image.Image:
    """Chunky pixels in a limited palette."""
    pal = np.array(_palette(rng, 6, 0.8, 0.9) + [(20, 20, 30), (240, 240, 230)], np.uint8)
    low = size // 16
    idx = (_noise_field(rng, low, 4) * len(pal)).astype(int) % len(pal)
    return Image.fromarray(pal[idx]).resize((size, size), Image.Resampling.NEAREST)


def op_art(rng: np.random.Generator, size: int) -> Image.Image:
    """Warped black-and-white concentric stripes."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = rng.random(2) * size
    r = np.hypot(xx - cx, yy - cy) + 12 * _noise_field(rng, size, 64)
    return Image.fromarray(((np.sin(r / 3.0) > 0) * 255).astype(np.uint8)).convert("RGB")


def marbling(rng: np.random.Generator, size: int) -> Image.Image:
    """Suminagashi marbling: coloured bands dragged through a turbulent field."""
    pal = np.array(_palette(rng, 4, 0.6, 0.85) + [(245, 240, 225)], np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    warp = 30 * _noise_field(rng, size, 40) + 15 * _noise_field(rng, size, 12)
    bands = (np.sin((xx + yy * 0.3 + warp) / 7) + 1) / 2 * (len(pal) - 1)
    lo = np.floor(bands).astype(int)
    frac = (bands - lo)[..., None]
    return Image.fromarray(((1 - frac) * pal[lo] + frac * pal[np.minimum(lo + 1, len(pal) - 1)]).astype(np.uint8))


def pastel_chalk(rng: np.random.Generator, size: int) -> Image.Image:
    """Soft pastel strokes with the grain of rough paper showing through."""
    pal = _palette(rng, 6, 0.35, 0.95)
    im, d = _canvas(size, (70, 70, 90))
    for _ in range(size // 2):
        x, y = rng.random(2) * size
        a = rng.uniform(-0.6, 0.6)
        length = rng.uniform(10, 40)
        d.line((x, y, x + length * np.cos(a), y + length * np.sin(a)), fill=pal[rng.integers(len(pal))], width=int(rng.integers(4, 10)))
    grain = (rng.random((size, size)) > 0.25)[..., None]
    return Image.fromarray(np.where(grain, np.asarray(im), 60).astype(np.uint8))


def geometric_bauhaus(rng: np.random.Generator, size: int) -> Image.Image:
    """Flat primaries: rectangles, circles and thick black bars on off-white."""
    im, d = _canvas(size, (238, 232, 215))
    colours = [(220, 40, 30), (30, 60, 170), (245, 200, 30), (20, 20, 20)]
    for _ in range(14):
        x0, y0 = rng.integers(0, size, 2)
        w, h = rng.integers(size // 10, size // 3, 2)
        shape = (x0, y0, x0 + w, y0 + h)
        fill = colours[rng.integers(len(colours))]
        (d.ellipse if rng.random() < 0.4 else d.rectangle)(shape, fill=fill)
    for _ in range(4):
        p = int(rng.integers(0, size))
        d.rectangle((p, 0, p + 6, size) if rng.random() < 0.5 else (0, p, size, p + 6), fill=(15, 15, 15))
    return im


def pop_art(rng: np.random.Generator, size: int) -> Image.Image:
    """Ben-Day dots in flat bright fields, framed by heavy black outlines."""
    im = _cells(rng, size, 12, [(250, 220, 40), (240, 70, 90), (60, 170, 240), (250, 250, 245)], 6)
    a = np.asarray(im).copy()
    yy, xx = np.mgrid[0:size, 0:size]
    dots = np.hypot((xx % 7) - 3, (yy % 7) - 3) < 1.8
    a[dots & (a.sum(-1) > 100)] = (a[dots & (a.sum(-1) > 100)] * 0.6).astype(np.uint8)
    return Image.fromarray(a)


def aurora_gradient(rng: np.random.Generator, size: int) -> Image.Image:
    """Smooth saturated colour gradients with no texture at all (a flat digital style)."""
    pal = np.array(_palette(rng, 3, 0.8, 0.95), np.float32)
    w = np.stack([_noise_field(rng, size, 128) for _ in range(3)], -1) ** 2
    w /= w.sum(-1, keepdims=True)
    return Image.fromarray((w @ pal).astype(np.uint8))


BUILTIN: dict[str, Painter] = {
    f.__name__.replace("_", "-"): f
    for f in (
        impasto_swirls,
        pointillist_dots,
        cubist_facets,
        stained_glass,
        ink_wash,
        mosaic,
        woodcut,
        neon_glitch,
        watercolor,
        halftone,
        crosshatch,
        pixel_art,
        op_art,
        marbling,
        pastel_chalk,
        geometric_bauhaus,
        pop_art,
        aurora_gradient,
    )
}
