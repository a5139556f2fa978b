"""Cloaks: the shared optimiser (:mod:`.optimiser`: latents toward a target per mimic view, within the caps)
and one module per method (:mod:`.glaze`)."""

from ..config import CloakSettings
from .glaze import METHOD, glaze_views
from .optimiser import PERCEPTUAL_EVERY, Progress, View, optimise, project, upsample

__all__ = ["METHOD", "PERCEPTUAL_EVERY", "CloakSettings", "Progress", "View", "glaze_views", "optimise", "project", "upsample"]
