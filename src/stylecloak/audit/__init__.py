"""The protection audit: pairing files (:mod:`.pairs`), measuring target progress, transfer and cost under a
mimic's countermeasures (:mod:`.measure`; many pairs: :mod:`.batch`, settings in :mod:`.settings`), the report (:mod:`.report`), an independent style judge
(:mod:`.judge`), the latent style-mimic proxy (:mod:`.mimic`) with partly cloaked portfolios (:mod:`.portfolio`),
the adaptive mimic that robust-trains its encoders (:mod:`.robust_encoder`), and the learned attacker that trains a
cleaner (:mod:`.cleaner`) and a detector (:mod:`.detector`, scored by :mod:`.roc`) on stylecloak's own cloaks (:mod:`.learned`)."""

from .batch import AuditProgress, audit
from .cleaner import CleanerSettings
from .judge import StyleJudge, infer_artist, read_manifest, style_features
from .measure import audit_pair, effective_sizes
from .mimic import LatentMoments, MimicSettings, mimic_study
from .pairs import Pair, pair_files
from .report import AuditReport
from .robust_encoder import RobustSettings
from .settings import (
    ADAPTIVE,
    ALL_COUNTERMEASURES,
    KNOWN_COUNTERMEASURES,
    LEARNED,
    AuditSettings,
    parse_countermeasures,
)

__all__ = [
    "ADAPTIVE",
    "ALL_COUNTERMEASURES",
    "KNOWN_COUNTERMEASURES",
    "LEARNED",
    "AuditProgress",
    "AuditReport",
    "AuditSettings",
    "CleanerSettings",
    "LatentMoments",
    "MimicSettings",
    "Pair",
    "RobustSettings",
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
