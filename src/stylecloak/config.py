"""Named presets and the frozen settings of a protect run.

``--intensity`` sets how much change is allowed (perceptual budget p and the L∞ cap);
``--quality`` sets how long and how robustly the cloak is optimised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from .backbones import DEFAULT_BACKBONE
from .backbones.families import backbones_for
from .device import PRECISIONS
from .errors import ConfigError
from .io import OutputMetadata
from .io.credentials import Identity
from .transforms import EOTSettings

INTENSITY: dict[str, dict] = {
    "low": {"budget": 0.15, "max_linf": 6 / 255, "min_psnr": 36.0},
    "default": {"budget": 0.30, "max_linf": 12 / 255, "min_psnr": 33.0},
    "high": {"budget": 0.45, "max_linf": 16 / 255, "min_psnr": 30.0},
}
"""Budget p (units of :class:`~stylecloak.perceptual.PerceptualDistance`), per-pixel cap and PSNR floor."""

INTENSITY_LOOKS: dict[str, str] = {"barely-visible": "low", "subtle": "default", "visible-up-close": "high"}
"""Each intensity named for what it looks like; ``--intensity subtle`` is the ``default`` preset (the first
names, ``low``/``default``/``high``, stay valid and are what settings record)."""


def intensity_key(name: str) -> str:
    """The preset key of an intensity given by either of its names (:data:`INTENSITY_LOOKS`)."""
    return INTENSITY_LOOKS.get(name, name)


LPIPS_BUDGET = {"low": 0.03, "default": 0.05, "high": 0.10}
"""Budget p when the distance is LPIPS-AlexNet: Glaze's user study values (p = 0.05 used throughout)."""

ROBUST = EOTSettings(jpeg_prob=0.4, rescale_prob=0.3, noise_prob=0.1, blur_prob=0.1, shift_prob=0.0)
"""The EOT mix that measured best (docs/decisions/0002-l2-steps-and-eot.md): JPEG q50-95, rescale 0.5-1, noise, blur."""


MIMIC_SIZES: tuple[int, ...] = (512, 768, 1024)
"""Long sides (px) mimics train at: SD 1.5 at 512, SDXL and FLUX LoRA trainers at 1024, buckets between."""

_VIEWS = {"work_size": max(MIMIC_SIZES), "view_sizes": MIMIC_SIZES}
"""δ lives at the largest mimic size (larger images get it upsampled); each step shows the encoder one view."""

QUALITY: dict[str, dict] = {
    "fast": {**_VIEWS, "steps": 20, "eot": None, "view_order": "worst", "retry_below": None},
    "default": {**_VIEWS, "steps": 50, "eot": ROBUST, "view_order": "worst", "retry_below": 0.30},
    "slow": {**_VIEWS, "steps": 80, "eot": ROBUST, "view_order": "cycle", "retry_below": 0.30},
}
"""Steps, EOT (robustness) and mimic views (docs/decisions/0001-multi-scale-mimic-views.md); all use the ``l2``
method at a cosine-decayed step of 0.5/255."""

SINGLE_SCALE = {"work_size": 512, "view_sizes": (), "steps": 80, "eot": ROBUST}
"""The previous default (δ optimised at 512 px only), kept as the benchmarks' baseline: overrides for ``default``."""

_DEFAULT = {**INTENSITY["default"], **QUALITY["default"]}
"""The default preset pair: :class:`CloakSettings`' defaults."""


@dataclass(frozen=True)
class CloakSettings:
    """How hard and how long to optimise: the fields of a preset pair (:func:`cloak_settings`); the defaults
    are the ``default`` intensity and quality."""

    budget: float = _DEFAULT["budget"]
    """p: perceptual distance allowed before the penalty starts (units of :class:`PerceptualDistance`)."""
    penalty: float = 20.0
    """α: weight of the budget penalty."""
    max_linf: float | None = _DEFAULT["max_linf"]
    """Hard cap on |δ| per pixel (None: no per-pixel cap)."""
    min_psnr: float | None = _DEFAULT["min_psnr"]
    """Hard cap on the energy of δ: PSNR(x+δ, x) ≥ this (dB); :meth:`Protector.protect` keeps the saved
    8-bit image above it too. None: no cap."""
    delta_scale: float = 1.0
    """δ is optimised at this fraction of the working resolution and upsampled (0.5: smoother, survives
    JPEG and downscaling better)."""
    steps: int = _DEFAULT["steps"]
    lr: float = 0.5 / 255
    """Step size, in image units (per pixel for Adam, RMS over pixels for ``"l2"``)."""
    method: str = "l2"
    """``"adam"`` (Glaze) or ``"l2"``: momentum steps along the RMS-normalised gradient, which spend
    the energy (PSNR) budget where the gradient is large instead of evenly over all pixels; ``"sign"``:
    plain steps along the gradient's sign (L∞ PGD, as Mist and PhotoGuard)."""
    cosine: bool = True
    """Decay the step size to 0 along a half cosine (coarse moves first, fine ones last)."""
    work_size: int | None = _DEFAULT["work_size"]
    """Long side (px) at which δ is optimised; larger images get δ upsampled. None: full resolution."""
    eot: EOTSettings | None = _DEFAULT["eot"]
    """Random transformations averaged over (robustness); None disables EOT."""
    view_sizes: tuple[int, ...] = _DEFAULT["view_sizes"]
    """Long sides (px) of the mimic views the cloak protects at, one drawn per step (weighted by
    ``view_weights``); empty: the working image only. Built by :meth:`Protector.protect`."""
    view_weights: tuple[float, ...] | None = None
    """Relative chance of each of ``view_sizes`` (None: equal)."""
    view_order: str = _DEFAULT["view_order"]
    """How a step's view is chosen: ``random`` (by ``view_weights``), ``cycle``, ``worst`` (the view whose
    latest loss is highest: the cloak works on the mimic size it protects least), or ``all`` (every view,
    losses averaged; one step costs all the views)."""
    precision: str = "auto"
    """The encoders' arithmetic (:data:`~stylecloak.device.PRECISIONS`): ``auto`` runs them under bfloat16 autocast
    where the device computes bf16 natively (CPUs with AVX-512 BF16 or AMX, CUDA GPUs from Ampere on) and in fp32
    elsewhere; ``fp32`` everywhere; ``bf16`` only where native (elsewhere it is refused: emulated, it is ~35× slower)."""
    style_weight: float = 0.0
    """Weight of a style-statistics term beside the exact target latents: each view's latent channel means and
    standard deviations pushed toward its target's (:func:`~.cloak.optimiser.channel_stats`); 0: off."""
    latent_target: bool = False
    """Aim each view at its own latents carrying the target style's channel statistics (AdaIN in latent space, what
    a fine-tuned mimic learns) instead of at the latents of Ω, the view re-rendered in the style: decoding and
    re-encoding Ω keeps only part of those statistics. Methods without a target style keep their target image."""
    patience: int = 0
    """Stop early after this many steps without 1 % progress (0: never)."""
    retry_below: float | None = _DEFAULT["retry_below"]
    """Where the worst mimic size's target progress after ``steps`` is below this, optimise again from scratch
    with twice the steps and keep the better cloak (hard styles at 768 px and above need it; see
    docs/decisions/0005-second-round-for-weak-cloaks.md). None: one round. Glaze only."""
    seed: int = 0

    def __post_init__(self) -> None:
        _check_numbers(self)
        _choose("method", self.method, OPTIMISERS)
        _choose("view_order", self.view_order, VIEW_ORDERS)
        _choose("precision", self.precision, PRECISIONS)
        if self.eot is not None and not isinstance(self.eot, EOTSettings):
            raise ConfigError(f"eot must be EOTSettings or None, not {self.eot!r}")
        if any(not isinstance(s, int) or s < 8 for s in self.view_sizes):
            raise ConfigError(f"view_sizes {self.view_sizes} must be long sides (px) of at least 8")
        if self.view_weights is not None:
            if len(self.view_weights) != len(self.view_sizes):
                raise ConfigError(f"view_weights {self.view_weights} need one weight per view size {self.view_sizes}")
            if min(self.view_weights, default=0) < 0 or sum(self.view_weights) <= 0:
                raise ConfigError(f"view_weights {self.view_weights} must be ≥ 0 with a positive sum")


DEFAULT_BACKBONES: tuple[str, ...] = (DEFAULT_BACKBONE,)
"""The encoders a cloak is made against unless ``backbones`` or ``against`` says otherwise (FLUX.2's latent space)."""


OPTIMISERS: tuple[str, ...] = ("adam", "l2", "sign")
"""The step rules of :attr:`CloakSettings.method`."""
VIEW_ORDERS: tuple[str, ...] = ("random", "cycle", "worst", "all")
"""How :attr:`CloakSettings.view_order` chooses a step's view."""

_LIMITS = {
    "budget": (0, math.inf),
    "penalty": (0, math.inf),
    "max_linf": (0, 1),
    "min_psnr": (0, math.inf),
    "delta_scale": (0, 1),
    "steps": (1, math.inf),
    "lr": (0, math.inf),
    "work_size": (8, math.inf),
    "patience": (0, math.inf),
    "style_weight": (0, math.inf),
    "retry_below": (0, 1),
}
"""Inclusive range of each numeric :class:`CloakSettings` field (an optional field may also be None)..."""
_ABOVE_ZERO = ("max_linf", "delta_scale", "lr")
"""...and the fields that must also be above 0."""


def _check_numbers(s: CloakSettings) -> None:
    for f in fields(s):
        value = getattr(s, f.name)
        if f.name not in _LIMITS or value is None:
            continue
        low, high = _LIMITS[f.name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high or (f.name in _ABOVE_ZERO and value == 0):
            above = "above" if f.name in _ABOVE_ZERO else "from"
            raise ConfigError(f"cloak setting {f.name}={value!r} must be a number {above} {low} to {high}")


def _choose(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown cloak setting {name}={value!r}; choose one of {', '.join(choices)}")


DEFAULT_METHOD = "glaze"
"""The protection method when none is given (one of :data:`stylecloak.cloak.METHODS`)."""


def cloak_settings(intensity: str = "default", quality: str = "default", seed: int = 0, perceptual: str = "efficientnet", **overrides) -> CloakSettings:
    """Cloak settings for a preset pair (budget in the units of ``perceptual``), with optional field overrides."""
    intensity = intensity_key(intensity)
    if intensity not in INTENSITY:
        raise ConfigError(f"unknown intensity {intensity!r}; choose one of {', '.join(INTENSITY)}")
    if quality not in QUALITY:
        raise ConfigError(f"unknown quality {quality!r}; choose one of {', '.join(QUALITY)}")
    try:
        base = CloakSettings(seed=seed, **INTENSITY[intensity], **QUALITY[quality])
        if perceptual == "lpips-alex":
            base = replace(base, budget=LPIPS_BUDGET[intensity])
        return replace(base, **overrides)
    except TypeError as exc:
        raise ConfigError(f"bad cloak setting: {exc}") from exc


@dataclass(frozen=True)
class ProtectSettings:
    """Everything that decides a protect run's output; written into every report."""

    intensity: str = "default"
    quality: str = "default"
    method: str = DEFAULT_METHOD
    """A name in :data:`stylecloak.cloak.METHODS` (checked by the :class:`~stylecloak.api.Protector`, which
    resolves it): what the cloak pulls the encoder's view toward."""
    backbones: tuple[str, ...] = DEFAULT_BACKBONES
    """The encoders the cloak is optimised against (an ensemble); set from ``against`` when that is given."""
    against: tuple[str, ...] = ()
    """Model families (:data:`~stylecloak.backbones.FAMILIES`) to protect against, a friendly name for ``backbones``:
    ``("sdxl", "flux2")`` sets ``backbones=("taesdxl", "taef2")``. Give one or the other."""
    target_style: str | None = None
    """None: take it from the artist profile, choosing one (Glaze §5.3) the first time."""
    style_strength: float = 1.0
    perceptual: str = "auto"
    """Distance the budget is measured in: ``efficientnet``, ``lpips-alex``, or ``auto`` (LPIPS-AlexNet
    when the ``lpips`` package and its weights are present). A :class:`Protector` resolves ``auto``."""
    seed: int = 0
    precision: str = "auto"
    """The encoders' arithmetic, ``auto``, ``fp32`` or ``bf16`` (:attr:`CloakSettings.precision`)."""
    optout: str = "genai"
    """The "no AI training" wish written into every output (:data:`~stylecloak.io.OPTOUTS`): ``genai``, ``ai``,
    ``all`` or ``none``."""
    overrides: dict = field(default_factory=dict)
    """CloakSettings fields that replace the presets' values (e.g. ``{"steps": 10}``)."""
    metadata: str = "minimal"
    """What outputs keep of the input's metadata: ``keep``, ``minimal`` or ``strip`` (:func:`~stylecloak.io.metadata.output_info`)."""
    record_settings: bool = False
    """Also write what protect did (target style, method, backbones, settings hash) into each output's XMP; the
    report and the output folder's journal always hold it."""
    creator: str | None = None
    """Written as the outputs' dc:creator (only when given)."""
    rights: str | None = None
    """Written as the outputs' dc:rights (only when given)."""
    credentials: Identity | None = None
    """Sign each output's Content Credentials (C2PA "no AI training", :mod:`~stylecloak.io.credentials`) with this
    certificate and key; None: no credentials."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "intensity", intensity_key(self.intensity))
        if self.against:
            chosen = backbones_for(self.against)
            if tuple(self.backbones) not in (DEFAULT_BACKBONES, chosen):
                raise ConfigError("--against names the backbones by model family: give --against or --backbones, not both")
            object.__setattr__(self, "backbones", chosen)
        _ = self.cloak  # an unknown preset or override is a ConfigError here, not at first use
        _ = self.output_metadata()  # likewise an unknown metadata mode or opt-out

    def output_metadata(self, provenance: dict[str, str] | None = None) -> OutputMetadata:
        """What the outputs carry besides pixels; *provenance* is written only with ``record_settings``."""
        record = dict(provenance or {}) if self.record_settings else {}
        return OutputMetadata(self.metadata, self.optout, self.creator, self.rights, record, self.credentials)

    @property
    def decided_style(self) -> str:
        """The target style once decided (:meth:`~stylecloak.Protector.resolve_target`); an error before."""
        if self.target_style is None:
            raise ConfigError("no target style decided yet: call Protector.resolve_target first")
        return self.target_style

    @property
    def cloak(self) -> CloakSettings:
        perceptual = "efficientnet" if self.perceptual == "auto" else self.perceptual
        return cloak_settings(self.intensity, self.quality, self.seed, perceptual, **{"precision": self.precision, **self.overrides})
