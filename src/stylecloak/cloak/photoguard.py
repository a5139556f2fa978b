"""PhotoGuard's encoder attack: pull the encoder's view of x+δ toward the latents of a flat grey image.

After Salman et al., "Raising the Cost of Malicious AI-Powered Image Editing" (ICML 2023), the *encoder*
attack:

    minimise_δ  ‖Φ(x+δ) − Φ(G)‖²   subject to ‖δ‖∞ ≤ ε,   G = grey 0.5 everywhere

so an editor (or a fine-tune) working in the latent space sees a near-blank image. PhotoGuard's stronger
*diffusion* attack backpropagates through the whole denoising loop and cannot run here. The optimiser,
caps, EOT and mimic views are stylecloak's (:mod:`.optimiser`); only the target differs.

>>> ProtectSettings(method="photoguard")                      # equal visibility
>>> ProtectSettings(method="photoguard", overrides=dict(PhotoGuard.published))  # PhotoGuard's budget: L∞ ≈ 8/255, 200 sign steps
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

import torch

from .base import FixedTargetMethod

GREY = 0.5


class PhotoGuard(FixedTargetMethod):
    """PhotoGuard's encoder attack: the target of every view is flat grey (:data:`GREY`)."""

    name: ClassVar[str] = "photoguard"
    summary: ClassVar[str] = "pull the model's view toward a flat grey image (PhotoGuard's encoder attack); the target style is not used"
    fixed: ClassVar[str] = "flat-grey"
    published: ClassVar[Mapping[str, object]] = MappingProxyType(
        {"max_linf": 0.03, "min_psnr": None, "budget": math.inf, "steps": 200, "lr": 0.01, "method": "sign", "cosine": True, "eot": None}
    )
    """PhotoGuard's encoder-attack budget: ε = 0.06 and step 0.02 on its [−1, 1] images, i.e. L∞ 0.03
    (≈ 7.7/255) and steps of 0.01 here, decaying; 200 sign steps; no PSNR floor, no perceptual budget, no EOT."""

    def target(self, image: torch.Tensor) -> torch.Tensor:
        return torch.full_like(image, GREY)
