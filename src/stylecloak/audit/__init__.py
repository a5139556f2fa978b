"""The protection audit: pairing files (:mod:`.pairs`), measuring target progress, transfer and cost under a
mimic's countermeasures (:mod:`.measure`), the report (:mod:`.report`), an independent style judge
(:mod:`.judge`) and the latent style-mimic proxy (:mod:`.mimic`)."""

from .judge import StyleJudge, infer_artist, read_manifest, style_features
from .measure import (
    ALL_COUNTERMEASURES,
    AuditProgress,
    AuditSettings,
    audit,
    audit_pair,
    effective_sizes,
    parse_countermeasures,
)
from .mimic import LatentMoments, MimicSettings, mimic_study
from .pairs import Pair, pair_files
from .report import AuditReport

__all__ = [
    "ALL_COUNTERMEASURES",
    "AuditProgress",
    "AuditReport",
    "AuditSettings",
    "LatentMoments",
    "MimicSettings",
    "Pair",
    "StyleJudge",
    "audit",
    "audit_pair",
    "effective_sizes",
    "infer_artist",
    "mimic_study",
    "pair_files",
    "parse_countermeasures",
    "read_manifest",
    "style_features",
]
