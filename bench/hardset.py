"""Hard styles to protect, drawn by our own code: line art, flat colour and soft digital painting.

Clean lines on white and large flat areas leave a cloak "very few places for the effects to go", yet
they are what most illustrators draw. Each piece here is deterministic for a given (long side, seed),
4:3 landscape, drawn at twice the size and downsampled (antialiased like a drawing program's export):

==================  ============  ==========================================================
name                class         what it is
==================  ============  ==========================================================
architecture        line art      a street of buildings in two-point perspective, black ink
contour-figure      line art      a standing figure and a chair in single-weight contours
hatching            line art      a sphere, a box and a cone shaded with (cross-)hatching
cel-shaded          flat colour   outlined shapes, each in a base tone and one shadow tone
poster              flat colour   a five-colour landscape poster, no outlines
soft-painting       digital       airbrushed gradients and soft-edged shapes, almost no texture
==================  ============  ==========================================================

>>> hard_set(768)["architecture"].image.save("architecture.png")   # 768×576 px
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from stylecloak.errors import ConfigError

INK = (22, 20, 24)
PAPER = (252, 251, 247)


def _wobbly(draw: ImageDraw.ImageDraw, rng: np.random.Generator, a, b, width: int, jitter: float) -> None:
    """A hand-drawn straight line from a to b: slightly bowed, slightly overshooting."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    over = rng.uniform(0, 0.04)
    a, b = a - (b - a) * over, b + (b - a) * over
    normal = np.array([-(b - a)[1], (b - a)[0]]) / max(1e-6, float(np.hypot(*(b - a))))
    bow = rng.normal(0, jitter)
    pts = [tuple(a + (b - a) * t + normal * bow * np.sin(np.pi * t)) for t in np.linspace(0, 1, 8)]
    draw.line(pts, fill=INK, width=width, joint="curve")


def architecture(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Buildings along a street in two-point perspective: outlines, floors, windows, doors; ink on paper."""
    im = Image.new("RGB", (w, h), PAPER)
    d = ImageDraw.Draw(im)
    unit = w / 768
    horizon = 0.45 * h
    left, right = (-0.6 * w, horizon), (1.7 * w, horizon)
    x = 0.04 * w
    while x < 0.95 * w:
        bw, top = w * rng.uniform(0.12, 0.22), h * rng.uniform(0.08, 0.3)
        floors = int(rng.integers(3, 7))
        base = h * rng.uniform(0.78, 0.86)

        def at(px: float, py: float) -> tuple[float, float]:  # a point on the facade, pulled toward the vanishing points
            vp = right if px > 0.5 * w else left
            k = 0.08 * abs(px - 0.5 * w) / w
            return px + (vp[0] - px) * k * 0.1, py + (vp[1] - py) * k

        corners = [at(x, top), at(x + bw, top), at(x + bw, base), at(x, base)]
        for a, b in zip(corners, corners[1:] + corners[:1]):
            _wobbly(d, rng, a, b, max(1, round(2.4 * unit)), 1.2 * unit)
        for f in range(1, floors):
            y = top + (base - top) * f / floors
            _wobbly(d, rng, at(x, y), at(x + bw, y), max(1, round(1.2 * unit)), 0.8 * unit)
            for k in range(int(bw // (28 * unit))):
                wx = x + (k + 0.3) * bw / int(bw // (28 * unit))
                wy = y - (base - top) / floors * 0.75
                box = [at(wx, wy), at(wx + 12 * unit, wy), at(wx + 12 * unit, wy + 0.45 * (base - top) / floors), at(wx, wy + 0.45 * (base - top) / floors)]
                d.line([*box, box[0]], fill=INK, width=max(1, round(1.2 * unit)))
        door = x + bw * rng.uniform(0.3, 0.6)
        d.line(
            [at(door, base), at(door, base - 40 * unit), at(door + 18 * unit, base - 40 * unit), at(door + 18 * unit, base)],
            fill=INK,
            width=max(1, round(1.6 * unit)),
        )
        roof = [at(x - 4 * unit, top), at(x + bw / 2, top - rng.uniform(10, 50) * unit), at(x + bw + 4 * unit, top)]
        d.line(roof, fill=INK, width=max(1, round(2 * unit)))
        x += bw + w * rng.uniform(0.0, 0.03)
    for k in range(9):  # the street's perspective lines
        _wobbly(d, rng, (0.5 * w + (k - 4) * 0.02 * w, 0.87 * h), (0.5 * w + (k - 4) * 0.16 * w, h), max(1, round(unit)), 0.6 * unit)
    return im


def _curve(rng: np.random.Generator, pts: list[tuple[float, float]], n: int = 60) -> list[tuple[float, float]]:
    """A smooth curve through ``pts`` (Catmull-Rom), slightly jittered like a hand-drawn contour."""
    p = np.asarray([pts[0], *pts, pts[-1]], float)
    out = []
    for i in range(1, len(p) - 2):
        for t in np.linspace(0, 1, n // (len(p) - 3) + 2)[:-1]:
            t2, t3 = t * t, t * t * t
            out.append(
                0.5
                * (
                    (2 * p[i])
                    + (-p[i - 1] + p[i + 1]) * t
                    + (2 * p[i - 1] - 5 * p[i] + 4 * p[i + 1] - p[i + 2]) * t2
                    + (-p[i - 1] + 3 * p[i] - 3 * p[i + 1] + p[i + 2]) * t3
                )
            )
    out.append(p[-2])
    return [tuple(q + rng.normal(0, 0.3, 2)) for q in out]


def contour_figure(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A standing figure beside a chair, in single-weight contour lines (no shading)."""
    im = Image.new("RGB", (w, h), PAPER)
    d = ImageDraw.Draw(im)
    s, cx = h / 576, 0.42 * w
    lw = max(1, round(2.2 * s))

    def line(*pts):
        d.line(_curve(rng, [(cx + px * s, py * s) for px, py in pts]), fill=INK, width=lw, joint="curve")

    d.ellipse((cx - 32 * s, 40 * s, cx + 32 * s, 120 * s), outline=INK, width=lw)  # head
    line((-12, 118), (-14, 140), (-60, 156), (-74, 200), (-70, 300), (-56, 330))  # neck, shoulder, torso
    line((12, 118), (14, 140), (62, 158), (76, 205), (72, 300), (58, 330))
    line((-56, 330), (-60, 420), (-52, 540), (-70, 556), (-20, 556), (-24, 430), (0, 360))  # legs
    line((58, 330), (60, 420), (50, 540), (72, 556), (22, 556), (24, 430), (0, 360))
    line((-74, 200), (-96, 260), (-104, 330), (-92, 350), (-86, 330))  # arms
    line((76, 205), (110, 250), (150, 262), (172, 250), (176, 262))
    line((-12, 86), (-2, 92), (10, 86))  # a hint of a face
    line((-40, 230), (0, 240), (40, 230))  # a fold of the shirt
    bx = 0.72 * w
    for a, b in (
        ((0, 330), (120, 330)),
        ((0, 330), (10, 556)),
        ((120, 330), (110, 556)),
        ((120, 330), (132, 160)),
        ((132, 160), (20, 170)),
        ((20, 170), (0, 330)),
    ):
        d.line(_curve(rng, [(bx + a[0] * s, a[1] * s), (bx + b[0] * s, b[1] * s)]), fill=INK, width=lw)
    for _ in range(3):  # loose gesture lines of the floor
        y = h * rng.uniform(0.94, 0.98)
        line((-200, y / s), (0, y / s + rng.normal(0, 2)), (400, y / s))
    return im


def _hatch(size: tuple[int, int], shade: np.ndarray, angle: float, spacing: float, width: int, level: float) -> np.ndarray:
    """A mask of parallel lines at ``angle`` where ``shade`` exceeds ``level``."""
    w, h = size
    layer = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(layer)
    c, s, r = np.cos(angle), np.sin(angle), np.hypot(w, h)
    for off in np.arange(-r, r, spacing):
        px, py = w / 2 - s * off, h / 2 + c * off
        d.line([(px - c * r, py - s * r), (px + c * r, py + s * r)], fill=255, width=width)
    return (np.asarray(layer) > 0) & (shade > level)


def hatching(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A sphere, a box and a cone lit from the upper left, shaded with one to three layers of hatching."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = np.zeros((h, w), np.float32)
    inside = np.zeros((h, w), bool)
    outline = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(outline)
    lw = max(1, round(2.4 * w / 768))
    cx, cy, r = 0.25 * w, 0.5 * h, 0.18 * w  # sphere
    nx, ny = (xx - cx) / r, (yy - cy) / r
    ball = nx**2 + ny**2 < 1
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0, 1))
    shade[ball] = (1 - (-0.5 * nx - 0.6 * ny + 0.62 * nz).clip(0, 1))[ball]
    inside |= ball
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=lw)
    front = np.array([(0.5, 0.45), (0.68, 0.48), (0.68, 0.82), (0.5, 0.78)]) * (w, h)  # box: a lit face, a dark face, a top
    side = np.array([(0.68, 0.48), (0.76, 0.4), (0.76, 0.72), (0.68, 0.82)]) * (w, h)
    top = np.array([(0.5, 0.45), (0.58, 0.37), (0.76, 0.4), (0.68, 0.48)]) * (w, h)
    for poly, value in ((front, 0.45), (side, 0.85), (top, 0.15)):
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly.astype(np.int32)], 1)
        shade[mask > 0] = value
        inside |= mask > 0
        d.polygon([tuple(p) for p in poly], outline=255, width=lw)
    apex, base_y, half = (0.87 * w, 0.3 * h), 0.8 * h, 0.08 * w  # cone
    cone = (yy > apex[1]) & (yy < base_y) & (np.abs(xx - apex[0]) < half * (yy - apex[1]) / (base_y - apex[1]))
    shade[cone] = (0.3 + 0.6 * ((xx - apex[0]) / half * 0.5 + 0.5)).clip(0, 1)[cone]
    inside |= cone
    d.line([(apex[0] - half, base_y), apex, (apex[0] + half, base_y)], fill=255, width=lw)
    d.arc((apex[0] - half, base_y - 0.02 * h, apex[0] + half, base_y + 0.02 * h), 0, 180, fill=255, width=lw)
    ground = (yy > 0.83 * h) & (np.abs(xx - 0.3 * w) < 0.22 * w * (1 - (yy - 0.83 * h) / (0.17 * h)) + 0.02 * w)  # cast shadow
    shade[ground & ~inside] = 0.6
    spacing = 7 * w / 768
    ink = np.zeros((h, w), bool)
    for k, (angle, level) in enumerate(((0.8, 0.3), (-0.7, 0.55), (0.05, 0.78))):
        ink |= _hatch((w, h), shade, angle + rng.normal(0, 0.03), spacing * (1 + 0.1 * k), max(1, round(w / 768)), level)
    ink |= np.asarray(outline) > 0
    a = np.where(ink[..., None], np.array(INK, np.uint8), np.array(PAPER, np.uint8))
    return Image.fromarray(a.astype(np.uint8))


def _tone(colour, k: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * k, 0, 255)) for c in colour)


def cel_shaded(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Flat shapes with black outlines, each in a base colour and one hard-edged shadow tone, on a flat sky."""
    im = Image.new("RGB", (w, h), (168, 214, 240))
    d = ImageDraw.Draw(im)
    lw = max(1, round(3 * w / 768))
    d.rectangle((0, 0.78 * h, w, h), fill=(126, 190, 98), outline=INK, width=lw)
    palette = [(236, 96, 84), (250, 200, 70), (96, 140, 230), (240, 236, 226), (150, 100, 200)]
    for i in range(7):
        x, y = rng.uniform(0.1, 0.9) * w, rng.uniform(0.35, 0.75) * h
        r = rng.uniform(0.06, 0.13) * h
        colour = palette[i % len(palette)]
        box = (x - r, y - r * rng.uniform(0.8, 1.3), x + r, y + r)
        shadow = (x - r * 0.55, y - r * 0.4, x + r * 1.25, y + r * 1.5)
        if i % 2:
            d.ellipse(box, fill=colour)
            layer = Image.new("L", im.size, 0)
            ImageDraw.Draw(layer).ellipse(box, fill=255)
            cut = Image.new("L", im.size, 0)
            ImageDraw.Draw(cut).ellipse(shadow, fill=255)
            im.paste(_tone(colour, 0.68), mask=Image.fromarray(np.minimum(np.asarray(layer), np.asarray(cut))))
            d.ellipse(box, outline=INK, width=lw)
        else:
            d.rounded_rectangle(box, radius=r * 0.3, fill=colour)
            d.rounded_rectangle((box[0] + 0.55 * (box[2] - box[0]), box[1], box[2], box[3]), radius=r * 0.3, fill=_tone(colour, 0.68))
            d.rounded_rectangle(box, radius=r * 0.3, outline=INK, width=lw)
        d.ellipse((x - 0.45 * r, y - 0.6 * r, x - 0.2 * r, y - 0.35 * r), fill=(255, 255, 255))  # a highlight
    d.ellipse((0.78 * w, 0.06 * h, 0.92 * w, 0.06 * h + 0.14 * w), fill=(255, 236, 150), outline=INK, width=lw)
    return im


def poster(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A five-colour screen-print poster: sky, sun, three mountain layers, a lake; flat fills, no outlines."""
    colours = [(244, 226, 196), (238, 122, 72), (196, 72, 66), (88, 60, 92), (42, 48, 70)]
    im = Image.new("RGB", (w, h), colours[0])
    d = ImageDraw.Draw(im)
    d.ellipse((0.58 * w, 0.12 * h, 0.58 * w + 0.22 * h, 0.34 * h), fill=colours[1])
    for k, colour in enumerate(colours[2:]):
        xs = np.linspace(0, w, 9)
        ys = h * (0.42 + 0.12 * k + rng.uniform(-0.08, 0.08, 9))
        d.polygon([(0, h), *zip(xs, ys), (w, h)], fill=colour)
    for k in range(6):  # sun stripes cut into the sky colour
        y = 0.2 * h + k * 0.025 * h
        d.rectangle((0.5 * w, y, 0.9 * w, y + 0.008 * h), fill=colours[0])
    d.rectangle((0, 0.86 * h, w, h), fill=colours[4])
    for k in range(4):  # reflections
        x = 0.63 * w + rng.uniform(-0.04, 0.04) * w
        y = 0.88 * h + k * 0.03 * h
        d.rectangle((x - 0.06 * w / (k + 1), y, x + 0.06 * w / (k + 1), y + 0.01 * h), fill=colours[1])
    return im


def soft_painting(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A digital painting with a soft airbrush: gradient sky, blurred hills and clouds, a glowing moon."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = yy / h
    img = np.array([44, 40, 110], np.float32) * (1 - t[..., None]) + np.array([236, 150, 170], np.float32) * t[..., None]
    moon = np.exp(-(((xx - 0.7 * w) ** 2 + (yy - 0.25 * h) ** 2) / (0.05 * w) ** 2))
    img += moon[..., None] * np.array([200, 190, 150], np.float32)
    layers = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layers)
    for k, colour in enumerate(((120, 80, 140, 255), (80, 56, 110, 255), (46, 36, 70, 255))):
        xs = np.linspace(0, w, 7)
        ys = h * (0.55 + 0.13 * k + rng.uniform(-0.06, 0.06, 7))
        d.polygon([(0, h), *zip(xs, ys), (w, h)], fill=colour)
        blurred = layers.filter(ImageFilter.GaussianBlur(w / 200 * (3 - k)))
        base = Image.fromarray(img.clip(0, 255).astype(np.uint8)).convert("RGBA")
        img = np.asarray(Image.alpha_composite(base, blurred).convert("RGB"), np.float32)
        layers = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        d = ImageDraw.Draw(layers)
    for _ in range(5):  # soft clouds
        cx, cy, rx, ry = rng.uniform(0, 1) * w, rng.uniform(0.1, 0.4) * h, rng.uniform(0.08, 0.2) * w, rng.uniform(0.02, 0.05) * h
        cloud = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))
        img = img * (1 - 0.5 * cloud[..., None]) + 0.5 * cloud[..., None] * np.array([250, 210, 220], np.float32)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


Drawer = Callable[[np.random.Generator, int, int], Image.Image]
PIECES: dict[str, tuple[str, Drawer]] = {
    "architecture": ("line art", architecture),
    "contour-figure": ("line art", contour_figure),
    "hatching": ("line art", hatching),
    "cel-shaded": ("flat colour", cel_shaded),
    "poster": ("flat colour", poster),
    "soft-painting": ("digital painting", soft_painting),
}
"""Name -> (style class, drawer)."""


@dataclass(frozen=True)
class HardPiece:
    name: str
    style_class: str
    image: Image.Image


def draw(name: str, long_side: int = 768, seed: int = 0) -> HardPiece:
    """One piece of the hard set, ``long_side`` px wide and ¾ of that high (drawn at 2×, then downsampled)."""
    if name not in PIECES:
        raise ConfigError(f"unknown hard-set piece {name!r}; choose one of {', '.join(PIECES)}")
    if long_side < 32:
        raise ConfigError(f"hard-set size {long_side} is too small; use at least 32 px (default 768)")
    style_class, drawer = PIECES[name]
    w, h = 2 * long_side, 2 * round(long_side * 3 / 4)
    big = drawer(np.random.default_rng(seed), w, h)
    return HardPiece(name, style_class, big.resize((long_side, round(long_side * 3 / 4)), Image.LANCZOS))


def hard_set(long_side: int = 768, seed: int = 0) -> dict[str, HardPiece]:
    """Every piece of the hard set, by name."""
    return {name: draw(name, long_side, seed) for name in PIECES}
