"""Cloaks: the shared optimiser (:mod:`.optimiser`: latents toward a target per mimic view, within the caps)
and one module per method (:mod:`.glaze`, :mod:`.mist`, :mod:`.photoguard`; by name in :mod:`.methods`)."""

from ..config import CloakSettings
from .glaze import METHOD, glaze_views
from .methods import (
    METHODS,
    fixed_target,
    fixed_views,
    published_budget,
    target_name,
    uses_style,
)
from .optimiser import (
    PERCEPTUAL_EVERY,
    Progress,
    View,
    mimic_views,
    optimise,
    project,
    upsample,
)

__all__ = [
    "METHOD",
    "METHODS",
    "PERCEPTUAL_EVERY",
    "CloakSettings",
    "Progress",
    "View",
    "fixed_target",
    "fixed_views",
    "glaze_views",
    "mimic_views",
    "optimise",
    "project",
    "published_budget",
    "target_name",
    "upsample",
    "uses_style",
]
