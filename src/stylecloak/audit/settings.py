"""What decides an audit's numbers: the countermeasures a mimic may apply and :class:`AuditSettings`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backbones import DEFAULT_BACKBONE
from ..cloak import get_method
from ..config import DEFAULT_METHOD, MIMIC_SIZES
from ..errors import ConfigError
from ..transforms import COUNTERMEASURES, PurifySettings
from .cleaner import CleanerSettings
from .robust_encoder import RobustSettings

ALL_COUNTERMEASURES: tuple[str, ...] = (*COUNTERMEASURES, "impress")
"""The image countermeasures (``--countermeasures all``): the classical ones of :mod:`stylecloak.transforms`, then purification."""
ADAPTIVE = "robust_encoder"
"""The adaptive countermeasure: a mimic that robust-trains its encoders (minutes of training; asked for by name)."""
LEARNED = "learned_cleaner"
"""The learned attacker: a cleaner network trained on stylecloak's own cloaks, and a detector beside it (asked for by name)."""
KNOWN_COUNTERMEASURES: tuple[str, ...] = (*ALL_COUNTERMEASURES, ADAPTIVE, LEARNED)


@dataclass(frozen=True)
class AuditSettings:
    """Everything that decides an audit's numbers; written into its report."""

    target_style: str
    """T: the style the cloak aimed at (from the artist profile or the protect report); for methods with a
    fixed target, its recorded name."""
    method: str = DEFAULT_METHOD
    """The protection method (a name in :data:`stylecloak.cloak.METHODS`): decides the target t that TP is measured toward."""
    backbones: tuple[str, ...] = (DEFAULT_BACKBONE,)
    """Encoders the cloak was optimised against (target progress)."""
    transfer: tuple[str, ...] = ("taesana",)
    """Encoders the cloak was not optimised against (transfer)."""
    mimic_sizes: tuple[int, ...] = MIMIC_SIZES
    """Long sides (px) mimics train at; a size above an image's long side is measured once, at its own."""
    countermeasures: tuple[str, ...] = ALL_COUNTERMEASURES
    style_strength: float = 1.0
    seed: int = 0
    """Seed of the random countermeasures (image i uses seed + i, the same on both sides)."""
    bf16: bool = True
    """Encode under bfloat16 autocast (changes TP by < 0.001 and is several times faster on CPU)."""
    purify: PurifySettings = field(default_factory=PurifySettings)
    renderer: str = DEFAULT_BACKBONE
    """Backbone whose decoder renders Ω (and the mimic)."""
    robust: RobustSettings = field(default_factory=RobustSettings)
    """How the ``robust_encoder`` mimic makes its pairs and trains."""
    cleaner: CleanerSettings = field(default_factory=CleanerSettings)
    """How the ``learned_cleaner`` attacker makes its pairs and trains its cleaner and detector."""

    def __post_init__(self) -> None:
        get_method(self.method)
        unknown = [c for c in self.countermeasures if c not in KNOWN_COUNTERMEASURES]
        if unknown:
            raise ConfigError(f"unknown countermeasure {unknown[0]!r}; choose from {', '.join(KNOWN_COUNTERMEASURES)}")
        if not self.backbones:
            raise ConfigError(f"no backbone to audit; pass the encoders the cloak was made against, e.g. --backbones {DEFAULT_BACKBONE}")
        if not self.mimic_sizes or min(self.mimic_sizes) < 32:
            raise ConfigError(f"mimic sizes {self.mimic_sizes} must be one or more long sides of at least 32 px (default {','.join(map(str, MIMIC_SIZES))})")


def parse_countermeasures(spec: str) -> tuple[str, ...]:
    """``all`` (:data:`ALL_COUNTERMEASURES`), ``none``, or a comma-separated list of names from :data:`KNOWN_COUNTERMEASURES`."""
    spec = spec.strip()
    if spec == "all":
        return ALL_COUNTERMEASURES
    names = tuple(n.strip() for n in spec.split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in KNOWN_COUNTERMEASURES]
    if unknown:
        raise ConfigError(f"unknown countermeasure {unknown[0]!r}; choose all, none or from {', '.join(KNOWN_COUNTERMEASURES)}")
    return names
