"""The shared cloak optimiser: push an image's latents toward a target per mimic view, within caps.

    minimise_δ  Σ_b ‖Φ_b(T(V(x+δ))) − t_b‖² / ‖Φ_b(V(x)) − t_b‖²  +  α · max(d(x+δ, x) − p, 0),
    subject to  ‖δ‖∞ ≤ ε  and  PSNR(x+δ, x) ≥ floor

solved with Adam or, by default, with momentum steps along the RMS-normalised gradient (``method="l2"``),
which suit the PSNR (energy) cap that binds in practice.

Φ_b are the backbones' encoders, V a mimic view (the image resized to a training size), t_b = Φ_b(target)
the view's target latents, d the perceptual distance, p the budget and T a random transformation
(expectation over transformation) when EOT is on. A method decides each view's target image (:mod:`.glaze`:
the style-transferred Ω(x, T)); the optimiser is the same for every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..backbones import Backbone, encode_all
from ..config import CloakSettings
from ..device import autocast
from ..errors import ConfigError
from ..geometry import Working, long_side_size, view_of
from ..perceptual import PerceptualDistance
from ..transforms import RandomEOT

PERCEPTUAL_EVERY = 4
"""Well under budget the perceptual distance is measured at least every this many steps (and on the last):
δ moves little per step, and the check costs about 6 % of a step."""

Progress = Callable[[int, int, dict], None]
"""Called after each step with (step, total steps, {"loss": …, "latent": …, "perceptual": last measured d})."""


@dataclass(frozen=True)
class View:
    """One way a mimic sees the image: the working image resized to ``size`` and padded, and the target there.

    ``size`` is (h, w) before padding; ``target`` is the image whose latents the view is pushed toward
    (Glaze: Ω(x, T)) at that size, padded like the view.
    """

    size: tuple[int, int]
    target: torch.Tensor
    weight: float = 1.0
    """Relative chance of this view being drawn for a step."""


def mimic_views(
    work: Working, settings: CloakSettings, multiple: int, target: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
) -> dict[tuple[int, int], View]:
    """The mimic views of ``work`` (one per distinct size of ``settings.view_sizes``, or the working image itself),
    by (h, w); ``target(view image, size)`` is the method's target image for that view."""
    views: dict[tuple[int, int], View] = {}
    for long_side in settings.view_sizes or (None,):
        size = long_side_size(work.size, long_side)
        if size not in views:
            views[size] = View(size, target(view_of(work.image, work.size, size, multiple), size), _weight(settings, long_side))
    return views


def _weight(settings: CloakSettings, long_side: int | None) -> float:
    if settings.view_weights is None or long_side is None:
        return 1.0
    return settings.view_weights[settings.view_sizes.index(long_side)]


def optimise(
    work: torch.Tensor,
    views: torch.Tensor | list[View],
    backbones: list[Backbone],
    settings: CloakSettings,
    perceptual: PerceptualDistance,
    progress: Progress | None = None,
    valid: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Find δ for ``work`` (1,3,h,w in [0, 1], sides multiples of every backbone's factor).

    ``views``: the mimic views (:class:`View`) to protect at, or just the target image (same shape as ``work``) to
    protect at the working resolution only. ``valid`` is the (h, w) of the image inside any padding (the
    PSNR cap is measured there). Returns δ (1,3,h,w) with work+δ in [0, 1].
    """
    h, w = work.shape[-2:]
    valid = valid or (h, w)
    multiple = max(bb.factor for bb in backbones)
    if isinstance(views, torch.Tensor):
        views = [View(valid, views)]

    # 1. constants per view: target latents t = Φ(target), the original's latents z0 (normalisers)
    gen = torch.Generator().manual_seed(settings.seed)
    eot = RandomEOT(settings.eot) if settings.eot is not None else None
    ref = perceptual.reference(work)
    originals = [view_of(work, valid, v.size, multiple) for v in views]
    targets = [encode_all(backbones, v.target, settings.bf16) for v in views]
    norms = [[(z - t).pow(2).mean().clamp_min(1e-8) for z, t in zip(encode_all(backbones, o, settings.bf16), ts)] for o, ts in zip(originals, targets)]
    weights = torch.tensor([v.weight for v in views], dtype=torch.float64)

    # 2. δ starts at zero (deterministic), possibly on a coarser grid than the image
    grid = (max(1, round(h * settings.delta_scale)), max(1, round(w * settings.delta_scale)))
    param = torch.zeros(1, 3, *grid, device=work.device, requires_grad=True)
    if settings.method not in ("adam", "l2", "sign"):
        raise ConfigError(f"unknown optimiser method {settings.method!r}; choose adam, l2 or sign")
    momentum = 0.9 if settings.method == "l2" else 0.0
    opt = torch.optim.Adam([param], lr=settings.lr) if settings.method == "adam" else torch.optim.SGD([param], lr=settings.lr, momentum=momentum)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.steps) if settings.cosine else None
    best, best_latent, last_gain = torch.zeros_like(work), float("inf"), 0
    last = [float("inf")] * len(views)  # latest latent loss per view
    noisy = eot is not None or len(views) > 1  # the loss is a random sample: keep the latest δ, not the "best"
    d, rate, checked = 0.0, None, -1  # last measured perceptual distance, its change per step (×2), when
    for step in range(settings.steps):
        opt.zero_grad(set_to_none=True)
        delta = upsample(param, (h, w))
        x_adv = (work + delta).clamp(0, 1)

        # 3. latent loss on a mimic view (or on all of them), through a random mimic-side transformation when EOT is on
        if len(views) == 1 or settings.view_order == "all":
            chosen = range(len(views))
        elif settings.view_order == "cycle":
            chosen = [step % len(views)]
        elif settings.view_order == "worst":  # the view with the least progress so far (each seen once first)
            chosen = [max(range(len(views)), key=lambda k: (last[k] * weights[k].item(), -k))]
        else:
            chosen = [int(torch.multinomial(weights, 1, generator=gen))]
        latent = 0.0
        for i in chosen:
            seen, goal = view_of(x_adv, valid, views[i].size, multiple), targets[i]
            if eot is not None:
                seen, record = eot(seen, gen)
                if "shift" in record:  # content moved: the target must move with it
                    goal = encode_all(backbones, eot.replay(views[i].target, {"shift": record["shift"]}), settings.bf16)
            with autocast(work.device, settings.bf16):
                part = sum((bb.encode(seen).float() - t).pow(2).mean() / n for bb, t, n in zip(backbones, goal, norms[i])) / len(backbones)
            last[i] = float(part.detach())
            latent = latent + part / len(chosen)

        # 4. perceptual budget as a hinge penalty; well under budget d is only watched: no backward, and it is
        #    re-measured only when it could have reached the budget at twice its latest rate of change
        loss, since = latent, step - checked
        fresh = rate is None or since >= PERCEPTUAL_EVERY or d + rate * since > settings.budget or step == settings.steps - 1
        if fresh:
            with autocast(work.device, settings.bf16):
                dist = perceptual.against(x_adv, ref).float().mean()
            measured = float(dist.detach())
            if checked >= 0:
                rate = 2 * abs(measured - d) / since  # twice the latest change: a safety margin
            d, checked = measured, step
            if d > settings.budget:
                loss = latent + settings.penalty * (dist - settings.budget)
        loss.backward()

        # 5. keep the best δ within budget, judged where d is fresh (with EOT or several views the loss is a noisy
        #    sample: keep the latest); stop on a plateau
        value = float(latent.detach())
        if progress is not None:
            progress(step + 1, settings.steps, {"loss": float(loss.detach()), "latent": value, "perceptual": d})
        if fresh and d <= settings.budget * 1.1:
            if value < best_latent * 0.99:
                last_gain = step
            if value < best_latent or noisy:
                best = x_adv.detach() - work
            best_latent = min(best_latent, value)
        if settings.patience and step - last_gain >= settings.patience:
            break

        # 6. step, then project δ back inside the caps
        if settings.method == "l2":
            param.grad /= param.grad.pow(2).mean().sqrt().clamp_min(1e-12)
        elif settings.method == "sign":
            param.grad.sign_()
        opt.step()
        if sched is not None:
            sched.step()
        with torch.no_grad():
            project(param, settings, (h, w), valid, work if param.shape == work.shape else None)
    return best


def upsample(param: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """δ on the working grid from its (possibly coarser) parameter grid."""
    return param if tuple(param.shape[-2:]) == size else F.interpolate(param, size, mode="bilinear", align_corners=False)


def project(param: torch.Tensor, settings: CloakSettings, size: tuple[int, int], valid: tuple[int, int], image: torch.Tensor | None = None) -> None:
    """In place: clamp δ to the L∞ cap (and, given the ``image`` it is added to, to what keeps image + δ in [0, 1],
    so no energy is spent on changes the clamp removes, e.g. brightening white paper), then scale it so δ on the
    working grid (its ``valid`` top-left part, without padding) meets the PSNR (energy) cap."""
    if image is not None:
        param.copy_(torch.minimum(torch.maximum(param, -image), 1 - image))
    if settings.max_linf is not None:
        param.clamp_(-settings.max_linf, settings.max_linf)
    if settings.min_psnr is not None:
        rms_cap = 10 ** (-settings.min_psnr / 20)
        rms = upsample(param, size)[..., : valid[0], : valid[1]].pow(2).mean().sqrt()
        if rms > rms_cap:
            param.mul_(rms_cap / rms)
