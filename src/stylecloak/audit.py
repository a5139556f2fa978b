"""Protection audit: what a cloak achieves, what it costs, and what survives a mimic's countermeasures.

For an original x, its cloaked copy x′, an encoder Φ and a countermeasure C (identity for "none"),
applied to *both* images with the same seed:

    TP_C = 1 − ‖Φ(C(x′)) − t‖ / ‖Φ(C(x)) − t‖,   t = Φ(Ω(x, T))

measured at each size a mimic trains at (``mimic_sizes``: the long side the image is resized to, never
enlarged), with the target image Ω(x, T) rendered from the original at that size by the TAEF2 decoder.
Headline numbers are the worst (minimum) over the sizes, so no size where a cloak fails can hide. On the encoders the cloak was optimised
against this is the target progress; on the others (TAESana) the transfer. TP = 0: no effect; 1: the
mimic's encoder sees the target. Cost is PSNR and SSIM at full resolution and the perceptual distance
at the working resolution. ``impress`` is purification (:mod:`stylecloak.purify`); with
:class:`~stylecloak.judge.MimicSettings` the audit also runs the latent style-mimic proxy.

>>> pairs, warnings = pair_files("art/", "protected/")
>>> report = audit(pairs, AuditSettings(target_style="cubist-facets"), weights_dir="../shared/models")
>>> report.summary["countermeasures"]["jpeg75"]["target_progress"]
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from .backbones import Backbone, load_backbone
from .cloak import encode_all, target_progress
from .device import resolve_device
from .errors import ConfigError, ImageError, StylecloakError
from .geometry import Working
from .imageio import LoadedImage, iter_images, load_image, output_suffix
from .judge import (
    LatentMoments,
    MimicSettings,
    infer_artist,
    mimic_study,
    read_manifest,
    style_features,
    tensor_key,
)
from .methods import GLAZE, check_method, fixed_target, uses_style
from .perceptual import PerceptualDistance, psnr, ssim
from .purify import PurifySettings, purify
from .styles import Style, get_style
from .transfer import LatentStats, style_stats, style_transfer
from .transforms import COUNTERMEASURES

ALL_COUNTERMEASURES: tuple[str, ...] = (*COUNTERMEASURES, "impress")
"""Every countermeasure the audit knows: the classical ones of :mod:`stylecloak.transforms`, then purification."""

AuditProgress = Callable[[str, int, int], None]
"""Called with (what was just measured, units done, units in all)."""

Image = LoadedImage | torch.Tensor | str | Path
"""An image file, a loaded image, or a (1,3,H,W) tensor in [0, 1]."""


@dataclass(frozen=True)
class AuditSettings:
    """Everything that decides an audit's numbers; written into its report."""

    target_style: str
    """T: the style the cloak aimed at (from the artist profile or the protect report); for methods with a
    fixed target, its recorded name."""
    method: str = GLAZE
    """The protection method (:mod:`stylecloak.methods`): decides the target t that TP is measured toward."""
    backbones: tuple[str, ...] = ("taef2",)
    """Encoders the cloak was optimised against (target progress)."""
    transfer: tuple[str, ...] = ("taesana",)
    """Encoders the cloak was not optimised against (transfer)."""
    mimic_sizes: tuple[int, ...] = (512, 768, 1024)
    """Long sides (px) mimics train at; a size above an image's long side is measured once, at its own."""
    countermeasures: tuple[str, ...] = ALL_COUNTERMEASURES
    style_strength: float = 1.0
    seed: int = 0
    """Seed of the random countermeasures (image i uses seed + i, the same on both sides)."""
    bf16: bool = True
    """Encode under bfloat16 autocast (changes TP by < 0.001 and is several times faster on CPU)."""
    purify: PurifySettings = field(default_factory=PurifySettings)
    renderer: str = "taef2"
    """Backbone whose decoder renders Ω (and the mimic)."""

    def __post_init__(self) -> None:
        check_method(self.method)
        unknown = [c for c in self.countermeasures if c not in ALL_COUNTERMEASURES]
        if unknown:
            raise ConfigError(f"unknown countermeasure {unknown[0]!r}; choose from {', '.join(ALL_COUNTERMEASURES)}")
        if not self.backbones:
            raise ConfigError("no backbone to audit; pass the encoders the cloak was made against, e.g. --backbones taef2")
        if not self.mimic_sizes or min(self.mimic_sizes) < 32:
            raise ConfigError(f"mimic sizes {self.mimic_sizes} must be one or more long sides of at least 32 px (default 512,768,1024)")


def parse_countermeasures(spec: str) -> tuple[str, ...]:
    """``all``, ``none``, or a comma-separated list of names from :data:`ALL_COUNTERMEASURES`."""
    spec = spec.strip()
    if spec == "all":
        return ALL_COUNTERMEASURES
    names = tuple(n.strip() for n in spec.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in ALL_COUNTERMEASURES]
    if unknown:
        raise ConfigError(f"unknown countermeasure {unknown[0]!r}; choose all, none or from {', '.join(ALL_COUNTERMEASURES)}")
    return names


# --------------------------------------------------------------------------- pairing files


class Pair(NamedTuple):
    original: Path
    cloaked: Path


def pair_files(originals: str | Path, cloaked: str | Path) -> tuple[list[Pair], list[str]]:
    """Pair two files, or the files of two folders by relative name; returns (pairs, warnings).

    A cloaked ``.png`` stands for a ``.gif`` original (protect writes GIFs as PNG); protect's
    ``*.preview.png`` files are ignored; files without a partner become warnings.
    """
    o, c = Path(originals), Path(cloaked)
    for p in (o, c):
        if not p.exists():
            raise ImageError(f"{p}: not found; pass two image files or two folders (originals, cloaked)")
    if o.is_file() and c.is_file():
        return [Pair(o, c)], []
    if not (o.is_dir() and c.is_dir()):
        raise ImageError(f"{o}, {c}: pass two files or two folders, not one of each")
    found = {p.relative_to(c): p for p, _ in iter_images([c]) if not p.name.endswith(".preview.png")}
    pairs, warnings, used = [], [], set()
    for path, _ in iter_images([o]):
        rel = path.relative_to(o)
        match = next((r for r in (rel, rel.with_suffix(output_suffix(rel.suffix))) if r in found), None)
        if match is None:
            warnings.append(f"{path}: no cloaked copy at {c / rel}; skipped")
        else:
            pairs.append(Pair(path, found[match]))
            used.add(match)
    warnings += [f"{p}: no original at {o / r}; skipped" for r, p in found.items() if r not in used]
    if not pairs:
        raise ImageError(f"{o}, {c}: no file names in common; cloaked copies must keep their originals' relative names")
    return pairs, warnings


# --------------------------------------------------------------------------- measuring one pair


@dataclass
class _Models:
    renderer: Backbone
    attacked: list[Backbone]
    transfer: list[Backbone]
    stats: LatentStats | None
    """The target style's statistics (glaze); None for methods with a fixed target."""
    perceptual: PerceptualDistance
    memo: dict = field(default_factory=dict)
    """Results that depend only on their inputs (purified images), shared between audits by :func:`audit`'s ``memo``."""

    @property
    def encoders(self) -> list[Backbone]:
        seen = {b.name: b for b in [*self.attacked, *self.transfer]}
        return list(seen.values())

    def multiple(self, encoder: Backbone) -> int:
        """Working copies for ``encoder`` are padded to this (Ω must also suit the renderer)."""
        return math.lcm(encoder.factor, self.renderer.factor)


def _models(settings: AuditSettings, weights_dir: str | Path | None, styles: dict[str, Style] | None, device: torch.device) -> _Models:
    renderer = load_backbone(settings.renderer, weights_dir=weights_dir, device=device)
    if not renderer.has_decoder:
        raise ConfigError(f"renderer {settings.renderer} has no decoder; use taef2")
    return _Models(
        renderer=renderer,
        attacked=[load_backbone(n, weights_dir=weights_dir, device=device) for n in settings.backbones],
        transfer=[load_backbone(n, weights_dir=weights_dir, device=device) for n in settings.transfer if n not in settings.backbones],
        stats=style_stats(renderer, get_style(settings.target_style, styles)) if uses_style(settings.method) else None,
        perceptual=PerceptualDistance().to(device),
    )


def _load(image: Image) -> tuple[torch.Tensor, str]:
    if isinstance(image, torch.Tensor):
        return image, "image tensor"
    loaded = image if isinstance(image, LoadedImage) else load_image(image)
    return loaded.rgb, str(loaded.path) if loaded.path else "in-memory image"


def _progress_entry(models: _Models, by_encoder: dict[str, float]) -> dict:
    def mean(bbs: list[Backbone]) -> float | None:
        return round(sum(by_encoder[b.name] for b in bbs) / len(bbs), 4) if bbs else None

    return {
        "target_progress": mean(models.attacked),
        "transfer_progress": mean(models.transfer),
        "by_encoder": {k: round(v, 4) for k, v in by_encoder.items()},
    }


def _purified(models: _Models, settings: AuditSettings, x: torch.Tensor, size: int) -> torch.Tensor:
    """IMPRESS-style purification of ``x`` at the mimic size ``size`` (long side); computed once per memo."""
    key = ("impress", tensor_key(x), size, settings.purify, models.renderer.name)
    if key not in models.memo:
        models.memo[key] = purify(Working.of(x, size, 1).image, models.renderer, settings.purify, models.perceptual)
    return models.memo[key]


def effective_sizes(shape: tuple[int, int], sizes: Iterable[int]) -> list[int]:
    """The distinct long sides an image of ``shape`` (h, w) is seen at by mimics training at ``sizes``."""
    return sorted({min(s, max(shape)) for s in sizes})


def _audit(
    models: _Models,
    settings: AuditSettings,
    x: torch.Tensor,
    xp: torch.Tensor,
    seed: int,
    keep: tuple[str, ...] = (),
    tick: Callable[[str], None] = lambda _: None,
) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """The record of one pair, and the renderer's latents of (C(x), C(x′)) at the smallest mimic size for each
    countermeasure in ``keep``."""
    renderer, device = models.renderer, models.renderer.device
    sizes = effective_sizes(tuple(x.shape[-2:]), settings.mimic_sizes)

    # 1. cost of the cloak: PSNR and SSIM at full resolution, perceptual distance at the largest mimic size
    work, seen = Working.of(x, sizes[-1], renderer.factor), Working.of(xp, sizes[-1], renderer.factor)
    with torch.no_grad():
        dist = float(models.perceptual(work.crop(work.image).to(device), seen.crop(seen.image).to(device)))
    cost = {
        "psnr_db": round(float(psnr(x, xp)), 2),
        "ssim": round(float(ssim(x, xp)), 4),
        "perceptual_distance": round(dist, 4),
    }

    # 2. at each mimic size: targets t = Φ(Ω(x, T)) (Ω rendered once per working-copy multiple), then target progress
    #    with no countermeasure and after each, applied to both sides (classical ones once, at full resolution)
    classical = {name: tuple(COUNTERMEASURES[name](im, seed) for im in (x, xp)) for name in settings.countermeasures if name != "impress"}
    per_size: dict[str, dict] = {}
    kept: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for size in sizes:
        omegas: dict[int, torch.Tensor] = {}
        targets = {}
        for e in models.encoders:
            m = models.multiple(e)
            if m not in omegas:
                view = Working.of(x, size, m).image.to(device)
                if models.stats is None:
                    omegas[m] = fixed_target(settings.method, view)
                else:
                    omegas[m] = style_transfer(renderer, view, models.stats, settings.style_strength)
            targets[e.name] = encode_all([e], omegas[m], settings.bf16)[0]
        entries: dict[str, dict] = {}
        change: list[float] = []
        for name in ("none", *settings.countermeasures):
            if name == "none":
                xc, xpc = x, xp
            elif name in classical:
                xc, xpc = classical[name]
            else:
                xc, xpc = (_purified(models, settings, im.to(device), size) for im in (x, xp))
            by_encoder = {}
            for e in models.encoders:
                works = Working.of(xc.to(device), size, models.multiple(e)), Working.of(xpc.to(device), size, models.multiple(e))
                z, zp = encode_all([e], torch.cat([w.image for w in works]), settings.bf16)[0].split(1)
                by_encoder[e.name] = target_progress(z, zp, targets[e.name])
                if name == "none" and e in models.attacked:
                    change.append(view_change(_unpadded(z, works[0], e.factor), _unpadded(zp, works[1], e.factor)))
                if size == sizes[0] and name in keep and e is renderer:
                    kept[name] = (_unpadded(z, works[0], e.factor), _unpadded(zp, works[1], e.factor))
            if size == sizes[0] and name in keep and name not in kept:
                works = Working.of(xc.to(device), size, renderer.factor), Working.of(xpc.to(device), size, renderer.factor)
                z, zp = (_unpadded(encode_all([renderer], w.image, settings.bf16)[0], w, renderer.factor) for w in works)
                kept[name] = (z, zp)
            entries[name] = _progress_entry(models, by_encoder)
            tick(name if len(sizes) == 1 else f"{name} @ {size} px")
        none = entries.pop("none")
        per_size[size] = {**none, "view_change": round(sum(change) / len(change), 4), "countermeasures": entries, "long_side": size}
    long = max(x.shape[-2:])
    by_request = {str(s): per_size[min(s, long)] for s in sorted(settings.mimic_sizes)}
    return {**_worst(by_request), **cost, "sizes": by_request}, kept


def view_change(z: torch.Tensor, zp: torch.Tensor) -> float:
    """‖Φ(x′) − Φ(x)‖ / ‖Φ(x)‖ from the latents of original and cloak: how far the cloak moved the encoder's
    view, whatever it aimed at (a measure every method can be compared on)."""
    return float((zp - z).norm() / z.norm().clamp_min(1e-12))


def _worst(per_size: dict[str, dict]) -> dict:
    """Headline entries: for each number, the minimum over mimic sizes, and the size where plain TP is lowest."""

    def low(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return min(present) if present else None

    entries = list(per_size.values())
    names = list(entries[0]["countermeasures"])
    encoders = list(entries[0]["by_encoder"])

    def worst_of(items: list[dict]) -> dict:
        return {
            "target_progress": low([e["target_progress"] for e in items]),
            "transfer_progress": low([e["transfer_progress"] for e in items]),
            "by_encoder": {k: low([e["by_encoder"][k] for e in items]) for k in encoders},
        }

    tp = {k: v["target_progress"] for k, v in per_size.items() if v["target_progress"] is not None}
    return {
        **worst_of(entries),
        "worst_size": int(min(tp, key=tp.__getitem__)) if tp else None,
        "view_change": low([e["view_change"] for e in entries]),
        "countermeasures": {c: worst_of([e["countermeasures"][c] for e in entries]) for c in names},
    }


def _unpadded(z: torch.Tensor, work: Working, factor: int) -> torch.Tensor:
    """Latents of a working copy without those of its padding."""
    return z[..., : -(-work.size[0] // factor), : -(-work.size[1] // factor)]


def audit_pair(
    original: Image,
    cloaked: Image,
    settings: AuditSettings,
    *,
    weights_dir: str | Path | None = None,
    styles: dict[str, Style] | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
) -> dict:
    """Audit one original and its cloaked copy; returns the JSON-ready record (see :func:`audit`)."""
    return _audit_loaded(_models(settings, weights_dir, styles, resolve_device(device)), settings, original, cloaked, settings.seed if seed is None else seed)[0]


def _audit_loaded(
    models: _Models,
    settings: AuditSettings,
    original: Image,
    cloaked: Image,
    seed: int,
    keep: tuple[str, ...] = (),
    tick: Callable[[str], None] = lambda _: None,
) -> tuple[dict, dict[str, tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    start = time.perf_counter()
    (x, x_name), (xp, xp_name) = _load(original), _load(cloaked)
    if x.shape != xp.shape:
        raise ImageError(
            f"{xp_name}: is {xp.shape[-1]}×{xp.shape[-2]} px but its original {x_name} is {x.shape[-1]}×{x.shape[-2]} px; "
            "pair each original with the cloaked copy made from it"
        )
    record, kept = _audit(models, settings, x, xp, seed, keep, tick)
    head = {"original": x_name, "cloaked": xp_name, "width": x.shape[-1], "height": x.shape[-2]}
    return {**head, **record, "seconds": round(time.perf_counter() - start, 2)}, kept, x


# --------------------------------------------------------------------------- the report


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _summary(images: list[dict], countermeasures: tuple[str, ...]) -> dict:
    """Means over images, per mimic size; the headline numbers are the worst size's means."""

    def progress(entries: list[dict]) -> dict:
        encoders = entries[0]["by_encoder"]
        return {
            "target_progress": _mean([e["target_progress"] for e in entries]),
            "transfer_progress": _mean([e["transfer_progress"] for e in entries]),
            "by_encoder": {k: _mean([e["by_encoder"][k] for e in entries]) for k in encoders},
        }

    sizes = {
        size: {
            **progress([im["sizes"][size] for im in images]),
            "view_change": _mean([im["sizes"][size]["view_change"] for im in images]),
            "countermeasures": {c: progress([im["sizes"][size]["countermeasures"][c] for im in images]) for c in countermeasures},
        }
        for size in images[0]["sizes"]
    }
    return {
        "images": len(images),
        **_worst(sizes),
        **{k: _mean([im[k] for im in images]) for k in ("psnr_db", "ssim", "perceptual_distance")},
        "seconds_per_image": _mean([im["seconds"] for im in images]),
        "sizes": sizes,
    }


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


@dataclass
class AuditReport:
    """Per-image records, their mean, the mimic study (if run) and the settings."""

    settings: AuditSettings
    images: list[dict]
    summary: dict
    mimic: dict | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def rows(self) -> list[tuple[str, float | None, float | None]]:
        """(countermeasure, mean TP, mean transfer TP) at the worst mimic size of each, "none" first."""
        s = self.summary
        return [("none", s["target_progress"], s["transfer_progress"])] + [
            (c, v["target_progress"], v["transfer_progress"]) for c, v in s["countermeasures"].items()
        ]

    def size_rows(self) -> list[tuple[str, dict[str, float | None]]]:
        """(countermeasure, {mimic size: mean TP}), "none" first."""
        sizes = self.summary["sizes"]
        names = ["none", *self.summary["countermeasures"]]
        return [(c, {k: (v if c == "none" else v["countermeasures"][c])["target_progress"] for k, v in sizes.items()}) for c in names]

    def to_dict(self) -> dict:
        return {
            "summary": self.summary,
            "images": self.images,
            "mimic": self.mimic,
            "settings": asdict(self.settings),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 1),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        s, st = self.summary, self.settings
        lines = [
            "# Protection audit",
            "",
            (
                f"{s['images']} image(s), method {st.method}, target `{st.target_style}`, attacked: {', '.join(st.backbones)}, "
                f"transfer: {', '.join(st.transfer) or '–'}, mimic sizes {', '.join(map(str, st.mimic_sizes))} px, "
                f"{self.seconds:.0f} s ({_fmt(s['seconds_per_image'], 1)} s per image)."
            ),
            "",
            f"**Worst mimic size: {s['worst_size']} px, target progress {_fmt(s['target_progress'])}.**",
            "",
            f"Cost: PSNR {_fmt(s['psnr_db'])} dB, SSIM {_fmt(s['ssim'], 3)}, perceptual distance {_fmt(s['perceptual_distance'], 3)}.",
            "",
            "| countermeasure | " + " | ".join(f"TP at {k} px" for k in s["sizes"]) + " | worst TP | worst transfer |",
            "|---|" + "---|" * (len(s["sizes"]) + 2),
            *(
                f"| {name} | " + " | ".join(_fmt(v) for v in by_size.values()) + f" | {_fmt(tp)} | {_fmt(tr)} |"
                for (name, by_size), (_, tp, tr) in zip(self.size_rows(), self.rows())
            ),
            "",
            "TP = 1 − ‖Φ(C(x′)) − t‖ / ‖Φ(C(x)) − t‖ (0: no effect, 1: the encoder sees the target), measured with the",
            "image resized to each mimic size; \"worst\" is the minimum over sizes.",
            "",
            "View change ‖Φ(x′) − Φ(x)‖ / ‖Φ(x)‖ (how far the cloak moved the encoder's view, whatever its target): "
            + ", ".join(f"{_fmt(v['view_change'], 3)} at {k} px" for k, v in s["sizes"].items())
            + ".",
            "",
            "## Per image",
            "",
            "| image | worst TP | at px | transfer | PSNR dB | SSIM | perceptual | s |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {Path(im['original']).name} | {_fmt(im['target_progress'])} | {im['worst_size']} | {_fmt(im['transfer_progress'])} | "
                f"{_fmt(im['psnr_db'], 1)} | {_fmt(im['ssim'], 3)} | {_fmt(im['perceptual_distance'], 3)} | {_fmt(im['seconds'], 0)} |"
                for im in self.images
            ),
        ]
        if self.mimic:
            m, j = self.mimic, self.mimic["judge"]
            lines += [
                "",
                f"## Latent style-mimic proxy: {m['artist']}",
                "",
                (
                    f"Judge: leave-one-out top-{j['top_k']} accuracy {_fmt(j['loo_accuracy'])} over {j['loo_works']} works "
                    f"(chance {_fmt(j['loo_chance'])}). {len(m['content'])} content works of other artists; the victim is "
                    f"in the top-{j['top_k']} of {_fmt(m['base_rate'])} of them unstyled (base rate)."
                ),
                "",
                (
                    "| countermeasure | victim recognised (clean training) | (cloaked training) | shift clean | shift cloaked | protection "
                    "| victim score clean | victim score cloaked | score drop |"
                ),
                "|---|---|---|---|---|---|---|---|---|",
                *(
                    f"| {c} | {_fmt(v['recognised_clean'])} | {_fmt(v['recognised_cloaked'])} | {_fmt(v['shift_clean'])} | "
                    f"{_fmt(v['shift_cloaked'])} | {_fmt(v['protection'])} | {_fmt(v['victim_score_clean'])} | "
                    f"{_fmt(v['victim_score_cloaked'])} | {_fmt(v['score_drop'])} |"
                    for c, v in m["countermeasures"].items()
                ),
                "",
                (
                    f"Shift = share of renders whose top-{j['top_k']} excludes the victim; protection = shift (cloaked) − "
                    f"shift (clean). Victim score = (p̄ − b̄) / (1 − b̄), p̄ the judge's mean probability that a render is the "
                    f"victim's and b̄ = {_fmt(m['base_score'], 3)} the same for the unstyled content (base rate); score drop = "
                    "clean − cloaked. A proxy: latent statistics only, no diffusion fine-tune."
                ),
            ]
        if self.warnings:
            lines += ["", "## Warnings", "", *(f"- {w}" for w in self.warnings)]
        return "\n".join(lines) + "\n"

    def plot(self, path: str | Path) -> Path:
        """Bar chart of mean target and transfer progress per countermeasure, written as PNG (needs the ``plot`` extra)."""
        try:
            import matplotlib
        except ImportError as exc:
            raise ConfigError(f"{path}: plots need matplotlib; install it with: pip install 'stylecloak[plot]'") from exc

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        rows, by_size = self.rows(), self.size_rows()
        xs = range(len(rows))
        sizes = list(self.summary["sizes"])
        bars = [*(f"TP at {k} px" for k in sizes), *([f"worst transfer ({', '.join(self.settings.transfer)})"] if self.settings.transfer else [])]
        width = 0.8 / len(bars)
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4))
        for j, label in enumerate(bars):
            values = [r[1][sizes[j]] for r in by_size] if j < len(sizes) else [r[2] for r in rows]
            ax.bar([i - 0.4 + width * (j + 0.5) for i in xs], [v or 0 for v in values], width, label=label)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(list(xs), [r[0] for r in rows], rotation=40, ha="right")
        ax.set_ylabel("TP (0 = no effect)")
        ax.set_title(f"Protection audit: {self.summary['images']} image(s), target {self.settings.target_style}, worst size {self.summary['worst_size']} px")
        ax.legend()
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


# --------------------------------------------------------------------------- auditing many pairs


def audit(
    pairs: Iterable[tuple[Image, Image]],
    settings: AuditSettings,
    *,
    mimic: MimicSettings | None = None,
    weights_dir: str | Path | None = None,
    styles: dict[str, Style] | None = None,
    progress: AuditProgress | None = None,
    device: str | torch.device = "cpu",
    memo: dict | None = None,
) -> AuditReport:
    """Audit (original, cloaked) pairs on ``device``; pairs that cannot be read become warnings.

    ``memo``: a dict kept between audits of the same originals (e.g. cloaks made by several methods):
    work that depends only on an original (its purification, the clean mimic's renders) is done once.

    With ``mimic``, the originals must be one artist's works (``mimic.artist``, or inferred from the
    manifest by file name) and the latent style-mimic proxy runs on top (see :mod:`stylecloak.judge`).
    """
    start = time.perf_counter()
    pairs = list(pairs)
    models = _models(settings, weights_dir, styles, resolve_device(device))
    if memo is not None:
        models.memo = memo
    conditions = ("none", *settings.countermeasures)
    keep: tuple[str, ...] = ()
    victim, needs_features = "", False
    learned: dict[str, dict[str, LatentMoments]] = {}
    if mimic is not None:
        keep = mimic.countermeasures
        missing = [c for c in keep if c not in conditions]
        if missing:
            raise ConfigError(f"the mimic study needs countermeasure {missing[0]!r}; add it to --countermeasures")
        victim = mimic.artist or infer_artist([_path_of(o) for o, _ in pairs], read_manifest(mimic.paintings)) or ""
        if not victim:
            raise ConfigError(f"cannot tell whose works the originals are from {mimic.paintings}/MANIFEST.csv; pass --artist NAME")
        learned = {side: {c: LatentMoments() for c in keep} for side in ("clean", "cloaked")}
        needs_features = victim not in {p.artist for p in read_manifest(mimic.paintings)}

    per_pair = len(conditions) * len(set(settings.mimic_sizes))
    total = len(pairs) * per_pair + (mimic is not None)
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(label, done, total)

    images, warnings, victim_features = [], [], []
    for i, (original, cloaked) in enumerate(pairs):
        try:
            record, kept, x = _audit_loaded(models, settings, original, cloaked, settings.seed + i, keep, tick)
        except StylecloakError as exc:
            warnings.append(str(exc))
            done = (i + 1) * per_pair
            if progress is not None:
                progress("failed", done, total)
            continue
        done = (i + 1) * per_pair
        images.append(record)
        for c, (z, zp) in kept.items():
            learned["clean"][c].add(z)
            learned["cloaked"][c].add(zp)
        if mimic is not None and needs_features:
            victim_features.append(style_features([x], mimic.judge_size))
    if not images:
        raise ImageError(f"no pair could be audited: {warnings[0] if warnings else 'no pairs given'}")

    study = None
    if mimic is not None:
        features = torch.cat(victim_features) if victim_features else None
        study = mimic_study(models.renderer, learned, victim, mimic, min(settings.mimic_sizes), features, memo=models.memo)
        tick("mimic")
    return AuditReport(settings, images, _summary(images, settings.countermeasures), study, warnings, time.perf_counter() - start)


def _path_of(image: Image) -> str:
    if isinstance(image, LoadedImage):
        return str(image.path or "")
    return "" if isinstance(image, torch.Tensor) else str(image)
