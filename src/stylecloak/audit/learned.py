"""The learned attacker: cloak works of its own with stylecloak, then train a cleaner (:mod:`.cleaner`) and a
detector (:mod:`.detector`) on the pairs; cached per settings so a second audit does not train again.

The attacker cloaks ``works`` works (never the audited ones) with the audited method, preset and encoders, toward
``styles`` target styles (the audited one first; with ``knows_target`` off, other styles only) with a seed per
style, at ``pair_size`` px, as 8-bit files; and ``held_out`` further works toward the first of those styles, kept to
test the detector. Encoders built in code (``extra_backbones``, e.g. behind a frozen cleaner) join the named ones
when the cloaks it studies were made against them too.

>>> attacker = train_attacker(works, AuditSettings(target_style="woodcut", countermeasures=("learned_cleaner",)), [taef2])
>>> cleaned = clean(attacker.cleaner, cloaked)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from platformdirs import user_cache_dir

from ..api import Protector
from ..backbones import Backbone
from ..cloak import get_method
from ..config import ProtectSettings
from ..errors import ConfigError
from ..io import LoadedImage, atomic_file
from ..progress import AuditProgress
from ..styles import Style, all_styles
from ..version import __version__
from .cleaner import Cleaner, Pair, parameters, train_cleaner
from .detector import Detection, Detector, train_detector
from .robust_encoder import cloak_works, pixel_hash
from .settings import LEARNED, AuditSettings


def cache_folder() -> Path:
    """Where trained attackers are kept: ``audit`` in the user cache folder (beside the downloaded weights)."""
    return Path(user_cache_dir("stylecloak")) / "audit"


@dataclass
class LearnedAttacker:
    """The trained cleaner and detector, the held-out pairs the detector is tested on, and the training record."""

    cleaner: Cleaner
    detector: Detector
    held_out: list[Pair]
    record: dict

    def detection(self, audited_pairs: int, sizes: Sequence[int]) -> Detection:
        """A detection test with the held-out pairs already scored; add each audited pair with :meth:`Detection.add`."""
        test = Detection(self.detector, audited_pairs + len(self.held_out), sizes, self.record["train_pairs"], self.record["patch"])
        for x, xp in self.held_out:
            test.add(x, xp)
        return test


def attack_styles(settings: AuditSettings, count: int, styles: dict[str, Style] | None) -> list[str]:
    """The target styles the attacker cloaks toward: the audited one, then others of the library in name order; only
    the others when it does not know the target (``settings.cleaner.knows_target``); only the audited target for
    methods with a fixed one."""
    if not get_method(settings.method).needs_style:
        return [settings.target_style]
    others = sorted(n for n in all_styles(styles) if n != settings.target_style)
    known = [settings.target_style] if settings.cleaner.knows_target else []
    return [*known, *others][:count]


def train_attacker(
    works: Sequence[LoadedImage],
    settings: AuditSettings,
    encoders: Sequence[Backbone],
    *,
    weights_dir: str | Path | None = None,
    styles: dict[str, Style] | None = None,
    device: str | torch.device = "cpu",
    progress: AuditProgress | None = None,
    extra_backbones: Sequence[Backbone] = (),
) -> LearnedAttacker:
    """The attacker trained on pairs it cloaks from ``works`` (the last ``settings.cleaner.held_out`` of them kept
    to test the detector), or loaded from the cache when the same settings, works and ``encoders`` (their weights)
    trained one before. Its cloaks are also optimised against ``extra_backbones`` (see :class:`~stylecloak.api.Protector`)."""
    s = settings.cleaner
    if len(works) < 2:
        raise ConfigError(
            f"{LEARNED}: the attacker needs at least two works other than the audited ones to make training pairs from; "
            "pass --paintings DIR (a folder with MANIFEST.csv)"
        )
    held = min(s.held_out, len(works) - 1)
    names = attack_styles(settings, s.styles, styles)
    key = _key(works, settings, names, [*encoders, *extra_backbones], [b.name for b in extra_backbones])
    path = cache_folder() / f"{LEARNED}-{key}.pt"
    if path.is_file():
        return _load(path, s.width, device)
    start = time.perf_counter()

    def protector(preset: ProtectSettings) -> Protector:
        return Protector(preset, weights_dir=weights_dir, styles=styles, device=device, extra_backbones=extra_backbones)

    train, test = _pairs(works, settings, names, held, protector, progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        cleaner, detector = Cleaner(s.width).to(device), Detector().to(device)
    cleaner_log = train_cleaner(cleaner, train, s, _told(progress, f"{LEARNED}: training the cleaner"))
    detector_log = train_detector(detector, train, s, _told(progress, f"{LEARNED}: training the detector"))
    record = {
        "parameters": parameters(cleaner),
        "detector_parameters": parameters(detector),
        "works": [_name(w, i) for i, w in enumerate(works[: len(works) - held])],
        "held_out": [_name(w, i) for i, w in enumerate(works[len(works) - held :], len(works) - held)],
        "styles": names,
        "preset": {"intensity": s.intensity, "quality": s.quality, "method": settings.method, "backbones": list(settings.backbones)}
        | ({"extra_backbones": [b.name for b in extra_backbones]} if extra_backbones else {}),
        "train_pairs": len(train),
        "pair_size": s.pair_size,
        "steps": s.steps,
        "detector_steps": s.detector_steps,
        "batch": s.batch,
        "patch": s.patch,
        "cleaner_loss": cleaner_log,
        "detector_loss": detector_log,
        "seconds": round(time.perf_counter() - start, 1),
        "cache": key,
    }
    attacker = LearnedAttacker(cleaner, detector, test, record)
    _save(path, attacker)
    return LearnedAttacker(cleaner, detector, test, {**record, "cached": False})


def _pairs(
    works: Sequence[LoadedImage],
    settings: AuditSettings,
    names: list[str],
    held: int,
    protector: Callable[[ProtectSettings], Protector],
    progress: AuditProgress | None,
) -> tuple[list[Pair], list[Pair]]:
    """(training pairs: each training work toward each style, held-out pairs: toward the first style), 8-bit, cloaked
    by the ``protector`` of each style's preset."""
    s = settings.cleaner
    train_works, test_works = works[: len(works) - held], works[len(works) - held :]
    jobs = [(style, i, [w.rgb for w in train_works]) for i, style in enumerate(names)] + [(names[0], 0, [w.rgb for w in test_works])]
    total, done, made = len(train_works) * len(names) + held, 0, []
    for style, i, images in jobs:
        preset = ProtectSettings(
            intensity=s.intensity, quality=s.quality, backbones=settings.backbones, target_style=style, method=settings.method, seed=s.seed + i
        )
        cloaker = protector(preset)
        for image in images:
            made += [(x, (xp * 255).round() / 255) for x, xp in cloak_works(cloaker, [image], s.pair_size)]  # saved as 8-bit files
            done += 1
            if progress is not None:
                progress(f"{LEARNED}: cloaking the attacker's works", done, total)
    return made[: total - held], made[total - held :]


def _key(works: Sequence[LoadedImage], settings: AuditSettings, names: list[str], encoders: Sequence[Backbone], extra: list[str]) -> str:
    """What decides the trained attacker: its settings, the audited method and encoders (their weights; the names of
    those built in code, ``extra``), the styles, the works' pixels and stylecloak's version."""
    weights = hashlib.sha256()
    for e in encoders:
        for t in e.encoder.state_dict().values():
            weights.update(t.detach().cpu().float().numpy().tobytes())
    data = {
        "cleaner": asdict(settings.cleaner),
        "method": settings.method,
        "backbones": list(settings.backbones),
        "extra_backbones": extra,
        "style_strength": settings.style_strength,
        "styles": names,
        "works": [pixel_hash(w.rgb) for w in works],
        "weights": weights.hexdigest(),
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _bytes(t: torch.Tensor) -> torch.Tensor:
    """An image in [0, 1] as its 8-bit values (the held-out pairs are 8-bit images, so this loses nothing)."""
    return (t * 255).round().to(torch.uint8).cpu()


def _save(path: Path, attacker: LearnedAttacker) -> None:
    data = {
        "cleaner": attacker.cleaner.state_dict(),
        "detector": attacker.detector.state_dict(),
        "held_out": [(_bytes(x), _bytes(xp)) for x, xp in attacker.held_out],
        "record": attacker.record,
    }
    with atomic_file(path) as f:
        torch.save(data, f)


def _load(path: Path, width: int, device: str | torch.device) -> LearnedAttacker:
    """A cached attacker, its networks on ``device``; an unreadable cache file is an error naming it and the fix."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        cleaner, detector = Cleaner(width), Detector()
        cleaner.load_state_dict(data["cleaner"])
        detector.load_state_dict(data["detector"])
    except (OSError, RuntimeError, KeyError, EOFError) as exc:
        raise ConfigError(f"{path}: unreadable cached {LEARNED} ({exc.__class__.__name__}); delete it to train again") from exc
    held_out = [(x.float() / 255, xp.float() / 255) for x, xp in data["held_out"]]
    cleaner, detector = (cleaner.to(device).eval().requires_grad_(False), detector.to(device).eval().requires_grad_(False))
    return LearnedAttacker(cleaner, detector, held_out, {**data["record"], "cached": True})


def _told(progress: AuditProgress | None, label: str):
    """``progress`` as a training loop's step callback, the loss in the label."""
    if progress is None:
        return None
    return lambda step, total, info: progress(f"{label} (loss {info['loss']:.2g})", step, total)


def _name(work: LoadedImage, index: int) -> str:
    return str(work.path) if work.path is not None else f"image tensor {index}"
