"""A built-in sample artwork, drawn by our own code: a first run needs no image of the user's.

:func:`paint_sample` paints an evening landscape (sky with clouds and a low sun, mountain ranges in
aerial perspective, hills, a lake with reflections, trees, a flower meadow) as an underpainting, then
covers it with short curved brush strokes that follow the forms, and adds canvas grain and a little
relief. The result has the colour range and stroke texture of a painting, so it is a fair test of a
cloak. It is deterministic for a given (size, seed).

>>> paint_sample(1024).save("sample.png")   # 1024×768 px
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .errors import ConfigError


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Smooth noise in [0, 1] with features about ``cell`` px across."""
    small = rng.random((max(2, round(shape[0] / cell)), max(2, round(shape[1] / cell)))).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _ridge(rng: np.random.Generator, w: int, base: float, amp: float, h: int) -> np.ndarray:
    """A ridgeline: y (px) of a mountain or hill top for each column."""
    x = np.linspace(0, 1, w)
    y = cast(np.ndarray, sum(a * np.sin(2 * np.pi * (f * x + rng.random())) for f, a in ((1.3, 0.5), (3.1, 0.3), (7.7, 0.12), (17.0, 0.05))))
    return (base + amp * y) * h


def _lerp(a, b, t: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32) + (np.asarray(b, np.float32) - np.asarray(a, np.float32)) * t[..., None]


def _underpainting(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene in flat colour (H,W,3 float 0-255) and the stroke direction (radians) of each pixel."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = 0.52 * h
    # sky: deep blue to peach at the horizon, pink-lit clouds, a low sun with a glow
    t = (yy / horizon).clip(0, 1) ** 1.6
    img = _lerp((38, 62, 128), (250, 190, 140), t)
    clouds = ((_smooth(rng, (h, w), w / 7) * 0.7 + _smooth(rng, (h, w), w / 30) * 0.3 - 0.6) * 4).clip(0, 1)
    img = _lerp(img, (252, 214, 222), clouds * (1 - t) * 0.85)
    sun = (0.7 * w, 0.62 * horizon)
    glow = np.exp(-(((xx - sun[0]) ** 2 + (yy - sun[1]) ** 2) / (0.12 * w) ** 2))
    img = _lerp(img, (255, 226, 150), glow * 0.8)
    img[(xx - sun[0]) ** 2 + (yy - sun[1]) ** 2 < (0.035 * w) ** 2] = (255, 244, 205)
    angle = 0.15 * (_smooth(rng, (h, w), w / 6) - 0.5)
    # mountain ranges, paler and bluer with distance; hills in front
    for i, (base, amp, far, near) in enumerate(
        (
            (0.40, 0.10, (150, 140, 190), (118, 108, 168)),
            (0.46, 0.07, (92, 100, 150), (70, 84, 120)),
            (0.55, 0.05, (96, 128, 70), (70, 110, 52)),
            (0.63, 0.04, (150, 150, 60), (104, 128, 50)),
        )
    ):
        top = _ridge(rng, w, base, amp, h)[None, :]
        inside = yy >= top
        shade = ((yy - top) / (0.25 * h)).clip(0, 1) * 0.6 + 0.4 * _smooth(rng, (h, w), w / 14)
        img[inside] = _lerp(far, near, shade)[inside]
        slope = np.gradient(top[0])[None, :].repeat(h, 0)
        angle[inside] = np.arctan(slope[inside]) + (0.9 if i >= 2 else 0.3) * (_smooth(rng, (h, w), w / 10)[inside] - 0.5)
    # a lake in the lower left mirroring the sky, with horizontal ripples
    lake = (((xx - 0.28 * w) / (0.3 * w)) ** 2 + ((yy - 0.8 * h) / (0.11 * h)) ** 2) < 1
    mirror = img[np.clip((2 * horizon - yy).astype(int), 0, h - 1), xx.astype(int)] * 0.8 + np.array([10, 25, 40], np.float32)
    ripple = 0.85 + 0.15 * np.sin(yy / max(2.0, h / 120) + 6 * _smooth(rng, (h, w), w / 20))
    img[lake] = (mirror * ripple[..., None])[lake]
    angle[lake] = 0.05 * (_smooth(rng, (h, w), w / 25)[lake] - 0.5)
    # foreground meadow: yellow-green with red, white and violet flowers
    meadow = (yy > _ridge(rng, w, 0.86, 0.02, h)[None, :]) & ~lake
    img[meadow] = _lerp((170, 176, 64), (92, 134, 46), _smooth(rng, (h, w), w / 12))[meadow]
    angle[meadow] = -np.pi / 2 + 0.5 * (_smooth(rng, (h, w), w / 18)[meadow] - 0.5)
    canvas = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(w // 4):
        x, y = rng.random() * w, h * (0.88 + 0.12 * rng.random())
        r = max(1.0, w / 260 * (0.5 + (y / h - 0.85) * 6))
        colour = ((214, 40, 36), (246, 242, 232), (150, 90, 200), (240, 180, 30))[rng.integers(4)]
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    # trees: dark cypresses and rounder trees on the hills
    for _ in range(9):
        x, y = rng.uniform(0.6, 0.98) * w, rng.uniform(0.6, 0.8) * h
        tw, th = w * rng.uniform(0.012, 0.022), h * rng.uniform(0.1, 0.22)
        draw.ellipse((x - tw, y - th, x + tw, y + th * 0.15), fill=tuple(int(c) for c in rng.integers((25, 55, 30), (45, 85, 50))))
    for _ in range(6):
        x, y, r = rng.uniform(0.05, 0.6) * w, rng.uniform(0.58, 0.66) * h, w * rng.uniform(0.015, 0.03)
        draw.ellipse((x - r, y - r, x + r, y + r * 0.8), fill=tuple(int(c) for c in rng.integers((40, 80, 30), (80, 120, 50))))
    return np.asarray(canvas, np.float32), angle


def _strokes(rng: np.random.Generator, base: np.ndarray, angle: np.ndarray) -> Image.Image:
    """Cover the underpainting with short curved strokes in its colours (jittered), following ``angle``."""
    h, w = angle.shape
    unit = max(1.0, w / 1024)
    canvas = Image.fromarray(cv2.GaussianBlur(base, (0, 0), 2 * unit).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for fine in (False, True):
        count = int(h * w / (unit * unit) / (70 if fine else 140))
        length, width = (6 * unit, (1, 3)) if fine else (14 * unit, (3, 7))
        xs, ys = rng.random(count) * (w - 1), rng.random(count) * (h - 1)
        jitter = rng.normal(0, 9 if fine else 12, (count, 1)) + rng.normal(0, 5, (count, 3))
        widths = np.maximum(1, (rng.integers(*width, count) * unit).astype(int))
        for x, y, j, wd in zip(xs, ys, jitter, widths):
            colour = tuple(int(c) for c in (base[int(y), int(x)] + j).clip(0, 255))
            pts = []
            for _ in range(4):
                pts.append((x, y))
                a = angle[int(y) % h, int(x) % w]
                x, y = float(np.clip(x + length / 3 * np.cos(a), 0, w - 1)), float(np.clip(y + length / 3 * np.sin(a), 0, h - 1))
            draw.line(pts, fill=colour, width=int(wd), joint="curve")
    return canvas


def paint_sample(size: int = 1024, seed: int = 0) -> Image.Image:
    """The sample artwork: an RGB landscape ``size`` px wide and ``size`` × 3/4 high."""
    if size < 32:
        raise ConfigError(f"sample size {size} is too small; use at least 32 px (default 1024)")
    rng = np.random.default_rng(seed)
    h, w = round(size * 3 / 4), size
    base, angle = _underpainting(rng, h, w)
    painted = _strokes(rng, base, angle)
    # canvas weave and a little impasto relief
    a = np.asarray(painted, np.float32)
    weave = 1 + 0.05 * (np.sin(np.arange(w) * 2.1)[None, :] * np.sin(np.arange(h) * 2.3)[:, None])
    a = a * (weave * (0.96 + 0.08 * rng.random((h, w))))[..., None]
    relief = np.asarray(painted.convert("L").filter(ImageFilter.EMBOSS), np.float32)[..., None]
    return Image.fromarray((0.88 * a + 0.12 * (relief - 128 + a.mean(-1, keepdims=True))).clip(0, 255).astype(np.uint8))
