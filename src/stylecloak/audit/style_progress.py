"""Style progress SP: how far a cloak moved the latent *statistics* a mimic learns toward the target style's.

    SP = 1 − ‖s(Φ(x′)) − s_T‖ / ‖s(Φ(x)) − s_T‖

s(z) is the per-channel mean and standard deviation of the renderer's unpadded latent z (2C numbers); s_T the
same pooled over the target style's exemplars, made at the mimic size (square, side = the view's long side)
and encoded there. Unlike target progress, SP does not depend on the exact target latent Ω a cloak aimed at,
so no choice of target can flatter it. SP = 0: the statistics did not move toward T; 1: they reached it.
"""

from __future__ import annotations

import torch

from ..backbones import Backbone
from ..styles import LatentStats, Style, image_stats


def latent_style(z: torch.Tensor) -> torch.Tensor:
    """s(z): per-channel mean and standard deviation of latents ``z`` (1,C,h,w), one vector (2C,)."""
    z = z.float()
    return torch.cat([z.mean((0, 2, 3)), z.std((0, 2, 3))])


def style_target(encoder: Backbone, style: Style, long_side: int, memo: dict) -> torch.Tensor:
    """s_T at ``long_side`` px: the style's exemplars made at that side, encoded by ``encoder``, their channel
    means and standard deviations averaged (as :func:`~stylecloak.styles.style_stats` pools them); kept in ``memo``."""
    key = ("style_target", encoder.name, id(encoder), style.name, str(style.folder), long_side)
    if key not in memo:
        stats = image_stats(encoder, style.images(size=long_side), long_side)
        memo[key] = LatentStats(torch.stack([s.mean for s in stats]).mean(0), torch.stack([s.std for s in stats]).mean(0)).feature().float()
    return memo[key]


def style_progress(z: torch.Tensor, zp: torch.Tensor, target: torch.Tensor) -> float:
    """SP from the unpadded latents of the original ``z`` and the cloak ``zp`` and the target statistics ``target``."""
    target = target.to(z.device)
    before = (latent_style(z) - target).norm()
    return float(1 - (latent_style(zp) - target).norm() / before.clamp_min(1e-12))
