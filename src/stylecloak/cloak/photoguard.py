"""PhotoGuard's encoder attack: pull the encoder's view of x+δ toward the latents of a flat grey image.

After Salman et al., "Raising the Cost of Malicious AI-Powered Image Editing" (ICML 2023), the *encoder*
attack:

    minimise_δ  ‖Φ(x+δ) − Φ(G)‖²   subject to ‖δ‖∞ ≤ ε,   G = grey 0.5 everywhere

so an editor (or a fine-tune) working in the latent space sees a near-blank image. PhotoGuard's stronger
*diffusion* attack backpropagates through the whole denoising loop and cannot run here. The optimiser,
caps, EOT and mimic views are stylecloak's (:mod:`.optimiser`); only the target differs.

>>> ProtectSettings(method="photoguard")                      # equal visibility
>>> ProtectSettings(method="photoguard", overrides=PUBLISHED)  # PhotoGuard's budget: L∞ ≈ 8/255, 200 sign steps
"""

from __future__ import annotations

import math

import torch

from ..config import CloakSettings
from ..geometry import Working
from .optimiser import View, mimic_views

METHOD = "photoguard"
"""The method's name, recorded with every output."""
TARGET = "flat-grey"
"""The name recorded as the target (XMP ``stylecloak:targetStyle``, reports)."""
GREY = 0.5

PUBLISHED = {"max_linf": 0.03, "min_psnr": None, "budget": math.inf, "steps": 200, "lr": 0.01, "method": "sign", "cosine": True, "eot": None}
"""PhotoGuard's encoder-attack budget as :class:`~stylecloak.config.CloakSettings` overrides: ε = 0.06 and
step 0.02 on its [−1, 1] images, i.e. L∞ 0.03 (≈ 7.7/255) and steps of 0.01 here, decaying; 200 sign
steps; no PSNR floor, no perceptual budget, no EOT."""


def target(image: torch.Tensor) -> torch.Tensor:
    """Ω for a view ``image`` (1,3,h,w): flat grey of the same size."""
    return torch.full_like(image, GREY)


def views(work: Working, settings: CloakSettings, multiple: int) -> dict[tuple[int, int], View]:
    """The mimic views of ``work`` (as :func:`~.optimiser.mimic_views`), each with :func:`target` at its size."""
    return mimic_views(work, settings, multiple, lambda image, size: target(image))
