"""An adaptive mimic: robust-train a copy of the attacked encoder on cloaks it made itself.

After Radiya-Dixit et al.'s robust training against face cloaking, as the Glaze paper (§7) tests it:
the mimic has white-box access to stylecloak, cloaks works of its own (never the audited ones) toward
the artist's target style, and fine-tunes a *copy* of each encoder Φ so that cloaked images map to
their clean latents while clean images keep theirs (the consistency term):

    minimise_θ  ‖Φ_θ(x′) − Φ(x)‖² / s  +  λ · ‖Φ_θ(x) − Φ(x)‖² / s,   s = mean ‖Φ(x)‖²

over random aligned crops of the (x, x′) pairs, with Adam. The price the mimic pays shows in the
round trip of clean images: D(Φ_θ(x)) against D(Φ(x)) (PSNR), with D the original decoder.

>>> pairs = make_pairs(works, "woodcut", ("taef2",), RobustSettings(), weights_dir="../shared/models")
>>> robust, log = robust_train(load_backbone("taef2"), pairs, RobustSettings())
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..api import Protector
from ..backbones import Backbone, encode_all, target_progress
from ..config import DEFAULT_METHOD, ProtectSettings
from ..device import autocast
from ..errors import ConfigError
from ..geometry import Working
from ..io import LoadedImage, load_image
from ..perceptual import psnr
from ..styles import Style
from .judge import Painting, content_paintings, read_manifest

Pair = tuple[torch.Tensor, torch.Tensor]
"""(original, cloaked), each (1,3,H,W) in [0, 1]."""


@dataclass(frozen=True)
class RobustSettings:
    """How the mimic makes its training pairs and fine-tunes its encoder copies (written into the audit report)."""

    pairs: int = 4
    """Works the mimic cloaks with stylecloak to train on (never the audited ones)."""
    pair_size: int = 256
    """Long side (px) the works are brought to before cloaking."""
    quality: str = "fast"
    """stylecloak ``--quality`` preset the mimic cloaks its pairs with (default intensity)."""
    steps: int = 40
    batch: int = 4
    """Pairs per step (drawn with replacement)."""
    crop: int = 64
    """Side (px) of the random aligned square crops trained on."""
    lr: float = 3e-4
    """Adam learning rate."""
    consistency: float = 1.0
    """λ: weight of the term that keeps clean images' latents where the original encoder put them."""
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.pairs, self.steps, self.batch) < 1 or self.crop < 32 or self.pair_size < self.crop or self.lr <= 0 or self.consistency < 0:
            raise ConfigError(f"bad robust-encoder settings {self}; pairs, steps and batch ≥ 1, 32 ≤ crop ≤ pair_size, lr > 0, consistency ≥ 0")


def make_pairs(
    works: Sequence[torch.Tensor | Image.Image | str | Path],
    target_style: str,
    backbones: Sequence[str],
    settings: RobustSettings,
    *,
    method: str = DEFAULT_METHOD,
    weights_dir: str | Path | None = None,
    styles: dict[str, Style] | None = None,
    device: str | torch.device = "cpu",
) -> list[Pair]:
    """Cloak ``works`` (files, PIL images or (1,3,H,W) tensors in [0, 1], brought to ``settings.pair_size`` long
    side) with stylecloak, as the mimic would."""
    protector = Protector(
        ProtectSettings(quality=settings.quality, backbones=tuple(backbones), target_style=target_style, method=method, seed=settings.seed),
        weights_dir=weights_dir,
        styles=styles,
        device=device,
    )
    return cloak_works(protector, works, settings.pair_size)


def cloak_works(protector: Protector, works: Sequence[torch.Tensor | Image.Image | str | Path], pair_size: int) -> list[Pair]:
    """Each of ``works`` brought to ``pair_size`` long side, as an 8-bit image, and cloaked by ``protector``."""
    pairs = []
    for work in works:
        rgb = work if isinstance(work, torch.Tensor) else load_image(work).rgb
        small = Working.of(rgb, pair_size, 1).image  # then 8-bit, as a file the mimic downloads
        result = protector.protect(load_image(_pil(small)))
        pairs.append((result.source.rgb, result.cloaked))
    return pairs


def _pil(x: torch.Tensor) -> Image.Image:
    return Image.fromarray((x[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy())


def _crops(pairs: Sequence[Pair], settings: RobustSettings, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``settings.batch`` pairs drawn with replacement, each cut to the same random square crop on both sides
    (``settings.crop`` px, or the smallest pair's short side)."""
    side = min(settings.crop, *(min(x.shape[-2:]) for x, _ in pairs))
    xs, xps = [], []
    for i in torch.randint(len(pairs), (settings.batch,), generator=generator).tolist():
        x, xp = pairs[i]
        h, w = x.shape[-2:]
        top = int(torch.randint(h - side + 1, (1,), generator=generator))
        left = int(torch.randint(w - side + 1, (1,), generator=generator))
        xs.append(x[..., top : top + side, left : left + side])
        xps.append(xp[..., top : top + side, left : left + side])
    return torch.cat(xs), torch.cat(xps)


def robust_train(backbone: Backbone, pairs: Sequence[Pair], settings: RobustSettings) -> tuple[Backbone, dict]:
    """A copy of ``backbone`` whose encoder is fine-tuned on ``pairs`` (the original is left untouched); and the loss log.

    The copy keeps the name, factor and (shared, frozen) decoder of ``backbone``.
    """
    if not pairs:
        raise ConfigError("robust training needs at least one (original, cloaked) pair")
    side = min(min(x.shape[-2:]) for x, _ in pairs)
    if side < backbone.factor:
        raise ConfigError(f"training pairs of {side} px are smaller than {backbone.name}'s {backbone.factor} px latent cell; make them larger")
    start = time.perf_counter()
    device = backbone.device
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    encoder = copy.deepcopy(backbone.encoder).float().requires_grad_(True).train()
    optimiser = torch.optim.Adam(encoder.parameters(), lr=settings.lr)
    losses = []
    for _ in range(settings.steps):
        x, xp = (t.to(device).contiguous(memory_format=torch.channels_last) for t in _crops(pairs, settings, generator))
        with torch.no_grad():
            z = backbone.encode(x).float()
        scale = z.pow(2).mean().clamp_min(1e-8)
        cloaked_term = (encoder(xp) - z).pow(2).mean() / scale
        clean_term = (encoder(x) - z).pow(2).mean() / scale
        loss = cloaked_term + settings.consistency * clean_term
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append((cloaked_term.item(), clean_term.item()))
    encoder.requires_grad_(False).eval()
    robust = Backbone(backbone.name, encoder, backbone.decoder, backbone.factor)
    log = {
        "encoder": backbone.name,
        "cloaked_term_first": round(losses[0][0], 5),
        "cloaked_term_last": round(losses[-1][0], 5),
        "clean_term_last": round(losses[-1][1], 5),
        "seconds": round(time.perf_counter() - start, 1),
    }
    return robust, log


def pair_progress(encoder: Backbone, multiple: int, target: Callable[[torch.Tensor], torch.Tensor], pairs: Sequence[Pair], bf16: bool = False) -> float:
    """Mean target progress of ``pairs`` on ``encoder``; ``target`` gives the image a cloak aimed at for an original
    padded to ``multiple`` (e.g. Ω(x, T))."""
    values = []
    for x, xp in pairs:
        work, seen = (Working.of(t.to(encoder.device), None, multiple) for t in (x, xp))
        z, zp, t = encode_all([encoder], torch.cat([work.image, seen.image, target(work.image)]), bf16)[0].split(1)
        values.append(target_progress(z, zp, t))
    return sum(values) / len(values)


@torch.no_grad()
def roundtrip_psnr(original: Backbone, robust: Backbone, x: torch.Tensor, valid: tuple[int, int] | None = None, bf16: bool = False) -> float:
    """PSNR (dB) of D(Φ_robust(x)) against D(Φ(x)) for a working copy ``x`` (sides multiples of the factor),
    over its top-left ``valid`` (h, w) part (default: all of it)."""
    h, w = valid or x.shape[-2:]
    z, zr = encode_all([original, robust], x, bf16)
    with autocast(x.device, bf16):
        a, b = (original.decode(t).float()[..., :h, :w] for t in (zr, z))
    return float(psnr(a, b).mean())


def robust_copies(
    encoders: Sequence[Backbone],
    multiple: Callable[[Backbone], int],
    target: Callable[[torch.Tensor], torch.Tensor],
    pairs: Sequence[Pair],
    settings: RobustSettings,
    bf16: bool = False,
) -> tuple[dict[str, Backbone], list[dict]]:
    """A robust-trained copy of each encoder (by name) and its log, with the pairs' target progress before and after
    (``multiple`` and ``target`` as in :func:`pair_progress`)."""
    copies, logs = {}, []
    for e in encoders:
        before = pair_progress(e, multiple(e), target, pairs, bf16)
        copies[e.name], log = robust_train(e, pairs, settings)
        after = pair_progress(copies[e.name], multiple(e), target, pairs, bf16)
        logs.append({**log, "pair_tp_before": round(before, 4), "pair_tp_after": round(after, 4)})
    return copies, logs


def pixel_hash(rgb: torch.Tensor) -> str:
    """sha256 (hex) of an image's decoded 8-bit pixels and shape: the same for a renamed or re-encoded (lossless) copy."""
    pixels = (rgb.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).contiguous()
    return hashlib.sha256(str(tuple(pixels.shape)).encode() + pixels.numpy().tobytes()).hexdigest()


def training_works(paintings: str | Path, audited: Sequence[LoadedImage], victim: str, count: int, exclude: Sequence[Painting] = ()) -> list[Path]:
    """``count`` works of the reference folder for the mimic's pairs: none of the ``audited`` originals (by the
    content of their pixels, and by file stem to skip resized copies under their name) or of ``exclude``; the
    victim's other works first, then other artists' in turn."""
    audited_stems = {a.path.stem for a in audited if a.path is not None}
    skip, audited_hashes = {p.path for p in exclude}, {pixel_hash(a.rgb) for a in audited}
    candidates = [p for p in read_manifest(paintings) if p.path.stem not in audited_stems and p.path not in skip]
    ordered = [p for p in candidates if p.artist == victim] + content_paintings(candidates, victim, len(candidates))
    chosen: list[Path] = []
    for p in ordered:
        if len(chosen) == count:
            break
        if pixel_hash(load_image(p.path).rgb) not in audited_hashes:
            chosen.append(p.path)
    return chosen
