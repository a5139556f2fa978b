"""Cloaks: the shared optimiser (:mod:`.optimiser`: latents toward a target per mimic view, within the caps)
and the protection methods (:class:`~.base.Method`; one file each: :mod:`.glaze`, :mod:`.mist`,
:mod:`.photoguard`; by name in :data:`~.methods.METHODS`)."""

from ..config import CloakSettings
from ..progress import Progress
from .base import FixedTargetMethod, Method, StyleTarget, Target
from .glaze import Glaze
from .methods import METHODS, get_method
from .mist import Mist
from .optimiser import (
    PERCEPTUAL_EVERY,
    View,
    ViewLatents,
    goal_latents,
    mimic_views,
    optimise,
    project,
    upsample,
)
from .photoguard import PhotoGuard

__all__ = [
    "METHODS",
    "PERCEPTUAL_EVERY",
    "CloakSettings",
    "FixedTargetMethod",
    "Glaze",
    "Method",
    "Mist",
    "PhotoGuard",
    "Progress",
    "Target",
    "View",
    "ViewLatents",
    "StyleTarget",
    "get_method",
    "goal_latents",
    "mimic_views",
    "optimise",
    "project",
    "upsample",
]
