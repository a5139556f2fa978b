"""The visibility referee: how visible a cloak is, by full-reference metrics the optimiser never sees.

Each protect report and audit measures the cloaked image against its original at full resolution: PSNR and
SSIM (:mod:`stylecloak.perceptual`, the numbers the budget is set in) and two metrics calibrated on human
quality ratings, from torchmetrics: VIF (pixel-domain visual information fidelity, Sheikh & Bovik 2006) and
MS-SSIM (Wang et al. 2003). The optimiser (:mod:`stylecloak.cloak`) must never import this module: a cloak
judged by the metrics it was tuned on would flatter itself.

- VIF is computed on 8-bit values (0-255), the scale its visual-noise variance σ²_n = 2 is defined on
  (torchmetrics applies it to the values as given; on [0, 1] images every VIF would read ≈ 1), per RGB
  channel, averaged. Images under 41 px on a side have no VIF (None).
- MS-SSIM uses the standard five scales and weights where the image's short side allows (≥ 176 px with an
  11-px window); smaller images use the largest number of scales torchmetrics accepts (4 from 99 px, 3 from
  44 px, 2 from 12 px, 1 at 11 px), with the first weights renormalised to sum 1. Under 11 px neither SSIM nor MS-SSIM
  (None).

Identical images read PSNR inf, SSIM, MS-SSIM and VIF 1. Higher is less visible for all four.

>>> visibility(original, cloaked)
{'psnr_db': 33.1, 'ssim': 0.93, 'ms_ssim': 0.98, 'vif': 0.71}
"""

from __future__ import annotations

import math

import torch

from .perceptual import ssim

METRICS: tuple[str, ...] = ("psnr_db", "ssim", "ms_ssim", "vif")
"""The referee's numbers, in report order; for each, higher means less visible."""
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""Wang et al.'s weights of the five MS-SSIM scales, finest first."""
MS_SSIM_WINDOW = 11
VIF_MIN_SIDE = 41


def ms_ssim_scales(short_side: int) -> int:
    """How many MS-SSIM scales an image with ``short_side`` px supports: the largest k ≤ 5 that torchmetrics
    accepts (short_side // max(1, k − 1)² > 10 for an 11-px window, short_side ≥ 2^k) and whose coarsest scale,
    short_side // 2^(k−1) px, is wider than the window's reflected border (5 px); 0 when none is."""
    for k in range(len(MS_SSIM_WEIGHTS), 0, -1):
        accepted = short_side // max(1, k - 1) ** 2 > MS_SSIM_WINDOW - 1 and short_side >= 2**k
        if accepted and short_side // 2 ** (k - 1) > MS_SSIM_WINDOW // 2:
            return k
    return 0


@torch.no_grad()
def visibility(original: torch.Tensor, cloaked: torch.Tensor) -> dict[str, float | None]:
    """The referee's numbers for one image: ``original`` and ``cloaked`` (1,3,H,W) in [0, 1], same shape."""
    # imported here: torchmetrics adds 2 s to every start of the command line, which mostly never measures
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure, visual_information_fidelity

    x, y = original.detach().float().cpu(), cloaked.detach().float().cpu()
    mse = float((x - y).pow(2).mean())
    scales = ms_ssim_scales(min(x.shape[-2:]))
    weights = MS_SSIM_WEIGHTS[:scales]
    ms = None
    if scales:
        ms = multiscale_structural_similarity_index_measure(y, x, data_range=1.0, kernel_size=MS_SSIM_WINDOW, betas=tuple(w / sum(weights) for w in weights))
    vif = visual_information_fidelity(y * 255, x * 255) if min(x.shape[-2:]) >= VIF_MIN_SIDE else None
    return {
        "psnr_db": math.inf if mse == 0 else round(-10 * math.log10(mse), 2),
        "ssim": round(float(ssim(x, y)), 4) if min(x.shape[-2:]) >= MS_SSIM_WINDOW else None,
        "ms_ssim": None if ms is None else round(float(ms), 4),
        "vif": None if vif is None else round(float(vif), 4),
    }


def mean_and_worst(records: list[dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
    """``{"mean": …, "worst": …}`` of :func:`visibility` records over images (worst: the most visible, the minimum)."""

    def present(k: str) -> list[float]:
        return [v for r in records if (v := r.get(k)) is not None]

    return {
        "mean": {k: round(sum(v) / len(v), 4) if (v := present(k)) else None for k in METRICS},
        "worst": {k: min(v) if (v := present(k)) else None for k in METRICS},
    }
