"""Image transformations: differentiable operations (:mod:`.ops`), Expectation over Transformation (:mod:`.eot`),
a mimic's countermeasures (:mod:`.countermeasures`) including IMPRESS-style purification (:mod:`.purify`)."""

from .countermeasures import (
    COUNTERMEASURES,
    REPOSTS,
    adverse_cleaner,
    downscale,
    jpeg,
    noisy_upscale,
    repost,
    resize_long_side,
)
from .eot import EOTRecord, EOTSettings, RandomEOT
from .ops import diff_jpeg, diff_resize, gaussian_blur, gaussian_noise
from .purify import PurifySettings, consistency_error, purify

__all__ = [
    "COUNTERMEASURES",
    "REPOSTS",
    "EOTRecord",
    "EOTSettings",
    "PurifySettings",
    "RandomEOT",
    "adverse_cleaner",
    "consistency_error",
    "diff_jpeg",
    "diff_resize",
    "downscale",
    "gaussian_blur",
    "gaussian_noise",
    "jpeg",
    "noisy_upscale",
    "purify",
    "repost",
    "resize_long_side",
]
