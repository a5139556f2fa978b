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

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F

from ..backbones import Backbone, encode_all
from ..config import CloakSettings
from ..device import autocast
from ..geometry import Working, long_side_size, view_of
from ..perceptual import Perceptual
from ..progress import Progress
from ..styles import Style, adain, style_stats
from ..transforms import RandomEOT
from .base import StyleTarget, Target

PERCEPTUAL_EVERY = 4
"""Well under budget the perceptual distance is measured at least every this many steps (and on the last):
δ moves little per step, and the check costs about 6 % of a step."""


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
    style: Style | None = None
    """The target style when the method aims at one (:class:`~.base.StyleTarget`), for ``latent_target``."""


def mimic_views(work: Working, settings: CloakSettings, multiple: int, target: Target) -> dict[tuple[int, int], View]:
    """The mimic views of ``work`` (one per distinct size of ``settings.view_sizes``, or the working image itself),
    by (h, w); ``target(view image, size)`` is the method's target image for that view."""
    views: dict[tuple[int, int], View] = {}
    for long_side in settings.view_sizes or (None,):
        size = long_side_size(work.size, long_side)
        if size not in views:
            style = target.style if isinstance(target, StyleTarget) else None
            views[size] = View(size, target(view_of(work.image, work.size, size, multiple), size), _weight(settings, long_side), style)
    return views


def goal_latents(backbones: list[Backbone], view: View, original: list[torch.Tensor] | None, settings: CloakSettings) -> list[torch.Tensor]:
    """The latents a view is pushed toward, per backbone: with ``latent_target`` and a target style, ``original``
    (the latents of the original as this view shows it, per backbone; needed only then) with the style's channel
    statistics; else Φ(the view's target)."""
    if settings.latent_target and view.style is not None:
        assert original is not None, "latent_target aims at the original's own latents"
        return [adain(z, style_stats(bb, view.style)) for bb, z in zip(backbones, original)]
    return encode_all(backbones, view.target, settings.precision)


@dataclass(frozen=True)
class ViewLatents:
    """What a cloak is measured against at each view, per backbone, encoded once per image (δ does not change them):
    the original as the view shows it (``sources``), its latents and the goal latents (:func:`goal_latents`)."""

    sources: list[torch.Tensor]
    originals: list[list[torch.Tensor]]
    targets: list[list[torch.Tensor]]

    @staticmethod
    def of(
        work: torch.Tensor, views: list[View], backbones: list[Backbone], settings: CloakSettings, valid: tuple[int, int], multiple: int | None = None
    ) -> ViewLatents:
        """The latents of ``views`` of ``work`` (padded; its image part is ``valid``), in ``settings.precision``, each
        view padded to ``multiple`` (default: the largest factor of ``backbones``)."""
        multiple = multiple or max(bb.factor for bb in backbones)
        sources = [view_of(work, valid, v.size, multiple) for v in views]
        originals = [encode_all(backbones, x, settings.precision) for x in sources]
        return ViewLatents(sources, originals, [goal_latents(backbones, v, zs, settings) for v, zs in zip(views, originals)])


def _weight(settings: CloakSettings, long_side: int | None) -> float:
    if settings.view_weights is None or long_side is None:
        return 1.0
    return settings.view_weights[settings.view_sizes.index(long_side)]


def optimise(
    work: torch.Tensor,
    views: torch.Tensor | list[View],
    backbones: list[Backbone],
    settings: CloakSettings,
    perceptual: Perceptual,
    progress: Progress | None = None,
    valid: tuple[int, int] | None = None,
    latents: ViewLatents | None = None,
) -> torch.Tensor:
    """Find δ for ``work`` (1,3,h,w in [0, 1], sides multiples of every backbone's factor).

    ``views``: the mimic views (:class:`View`) to protect at, or just the target image (same shape as ``work``) to
    protect at the working resolution only. ``valid`` is the (h, w) of the image inside any padding (the
    PSNR cap is measured there). ``latents``: :meth:`ViewLatents.of` the views, when the caller has them already
    (a second round, the protector's progress measurement). ``progress`` gets {"loss", "latent", "perceptual" (last measured d)} per step.
    Returns δ (1,3,h,w) with work+δ in [0, 1].
    """
    h, w = work.shape[-2:]
    valid = valid or (h, w)
    if isinstance(views, torch.Tensor):
        views = [View(valid, views)]

    # 1. constants per view: target latents t = Φ(target), the original's latents (normalisers)
    aims = _Aims(latents or ViewLatents.of(work, views, backbones, settings, valid), views, backbones, settings, valid)
    budget = _Budget(settings, perceptual, perceptual.reference(work))

    # 2. δ starts at zero (deterministic), possibly on a coarser grid than the image
    grid = (max(1, round(h * settings.delta_scale)), max(1, round(w * settings.delta_scale)))
    param = torch.zeros(1, 3, *grid, device=work.device, requires_grad=True)
    opt, sched = _optimiser(param, settings)
    best = _Best(torch.zeros_like(work), noisy=settings.eot is not None or len(views) > 1)
    for step in range(settings.steps):
        opt.zero_grad(set_to_none=True)
        x_adv = (work + upsample(param, (h, w))).clamp(0, 1)

        # 3. latent loss on a mimic view (or on all of them), through a random transformation when EOT is on
        latent = aims.loss(x_adv, aims.pick(step))

        # 4. perceptual budget as a hinge penalty (d is only watched well under budget)
        loss, fresh = budget.penalised(step, x_adv, latent)
        loss.backward()

        # 5. keep the best δ within budget; stop on a plateau
        value = float(latent.detach())
        if progress is not None:
            progress(step + 1, settings.steps, {"loss": float(loss.detach()), "latent": value, "perceptual": budget.d})
        if fresh and budget.d <= settings.budget * 1.1:
            best.offer(step, value, x_adv.detach() - work)
        if settings.patience and step - best.last_gain >= settings.patience:
            break

        # 6. step, then project δ back inside the caps
        _step(param, opt, sched, settings)
        with torch.no_grad():
            project(param, settings, (h, w), valid, work if param.shape == work.shape else None)
    return best.delta


class _Aims:
    """The views with their target latents and normalisers, and the random state that picks and transforms them."""

    def __init__(self, latents: ViewLatents, views: list[View], backbones: list[Backbone], settings: CloakSettings, valid: tuple[int, int]):
        self.views, self.backbones, self.settings, self.valid = views, backbones, settings, valid
        self.multiple = max(bb.factor for bb in backbones)
        self.sources, originals, self.targets = latents.sources, latents.originals, latents.targets
        """The views of the original, and t per view and backbone (:func:`goal_latents`)..."""
        self.norms = [[(z - t).pow(2).mean().clamp_min(1e-8) for z, t in zip(zs, ts)] for zs, ts in zip(originals, self.targets)]
        """...and ‖Φ(V(x)) − t‖², each one's normaliser..."""
        self.style_norms = [
            [(channel_stats(z) - channel_stats(t)).pow(2).mean().clamp_min(1e-8) for z, t in zip(zs, ts)] for zs, ts in zip(originals, self.targets)
        ]
        """...and ‖s(Φ(V(x))) − s(t)‖², the style term's (s: :func:`channel_stats`)."""
        self.weights = torch.tensor([v.weight for v in views], dtype=torch.float64)
        self.gen = torch.Generator().manual_seed(settings.seed)
        self.eot = RandomEOT(settings.eot) if settings.eot is not None else None
        self.last = [float("inf")] * len(views)
        """The latest latent loss per view."""

    def pick(self, step: int) -> range | list[int]:
        """The views of this step, by :attr:`CloakSettings.view_order`."""
        order, n = self.settings.view_order, len(self.views)
        if n == 1 or order == "all":
            return range(n)
        if order == "cycle":
            return [step % n]
        if order == "worst":  # the view with the least progress so far (each seen once first)
            return [max(range(n), key=lambda k: (self.last[k] * self.weights[k].item(), -k))]
        return [int(torch.multinomial(self.weights, 1, generator=self.gen))]

    def loss(self, x_adv: torch.Tensor, chosen: range | list[int]) -> torch.Tensor:
        """The normalised latent loss of ``x_adv`` averaged over the ``chosen`` views, each seen as a mimic would."""
        latent: torch.Tensor | float = 0.0
        for i in chosen:
            view = self.views[i]
            seen, goal = view_of(x_adv, self.valid, view.size, self.multiple), self.targets[i]
            if self.eot is not None:
                seen, record = self.eot(seen, self.gen)
                if "shift" in record:  # content moved: the target must move with it
                    shift = {"shift": record["shift"]}
                    moved = View(view.size, self.eot.replay(view.target, shift), view.weight, view.style)
                    source = (
                        encode_all(self.backbones, self.eot.replay(self.sources[i], shift), self.settings.precision) if self.settings.latent_target else None
                    )
                    goal = goal_latents(self.backbones, moved, source, self.settings)
            with autocast(x_adv.device, self.settings.precision):
                terms = zip(self.backbones, goal, self.norms[i], self.style_norms[i])
                part = sum(self._term(bb.encode(seen).float(), t, n, m) for bb, t, n, m in terms) / len(self.backbones)
            self.last[i] = float(cast(torch.Tensor, part).detach())
            latent = latent + part / len(chosen)
        return cast(torch.Tensor, latent)  # chosen is never empty

    def _term(self, z: torch.Tensor, t: torch.Tensor, norm: torch.Tensor, style_norm: torch.Tensor) -> torch.Tensor:
        """One backbone's normalised loss on one view: the exact latents and, with ``style_weight``, their channel statistics."""
        w = self.settings.style_weight
        exact = (z - t).pow(2).mean() / norm
        if not w:
            return exact
        return (exact + w * (channel_stats(z) - channel_stats(t)).pow(2).mean() / style_norm) / (1 + w)


def channel_stats(z: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation of latents ``z`` (1,C,h,w), one vector (2C,)."""
    z = z.float()
    return torch.cat([z.mean((0, 2, 3)), z.std((0, 2, 3))])


class _Budget:
    """The perceptual budget as a hinge penalty. Well under budget d is only watched (no backward) and re-measured
    only when it could have reached the budget at twice its latest rate of change."""

    rate: float | None

    def __init__(self, settings: CloakSettings, perceptual: Perceptual, ref: list[torch.Tensor]):
        self.settings, self.perceptual, self.ref = settings, perceptual, ref
        self.d, self.rate, self.checked = 0.0, None, -1
        """The last measured distance, its change per step (×2) and the step it was measured at."""

    def penalised(self, step: int, x_adv: torch.Tensor, latent: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """The step's loss, and whether d was measured at this step."""
        s, since = self.settings, step - self.checked
        fresh = self.rate is None or since >= PERCEPTUAL_EVERY or self.d + self.rate * since > s.budget or step == s.steps - 1
        if not fresh:
            return latent, False
        with autocast(x_adv.device, s.precision):
            dist = self.perceptual.against(x_adv, self.ref).float().mean()
        measured = float(dist.detach())
        if self.checked >= 0:
            self.rate = 2 * abs(measured - self.d) / since  # twice the latest change: a safety margin
        self.d, self.checked = measured, step
        return (latent + s.penalty * (dist - s.budget) if self.d > s.budget else latent), True


class _Best:
    """The δ to return: the lowest latent loss within budget or, when the loss is a noisy sample (EOT, several
    views), the latest; and the step of the last 1 % gain (for ``patience``)."""

    def __init__(self, zero: torch.Tensor, noisy: bool):
        self.delta, self.noisy, self.latent, self.last_gain = zero, noisy, float("inf"), 0

    def offer(self, step: int, latent: float, delta: torch.Tensor) -> None:
        if latent < self.latent * 0.99:
            self.last_gain = step
        if latent < self.latent or self.noisy:
            self.delta = delta
        self.latent = min(self.latent, latent)


def _optimiser(param: torch.Tensor, s: CloakSettings) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
    """Adam, or SGD (with momentum for ``l2``), and the cosine decay when asked for."""
    momentum = 0.9 if s.method == "l2" else 0.0
    opt = torch.optim.Adam([param], lr=s.lr) if s.method == "adam" else torch.optim.SGD([param], lr=s.lr, momentum=momentum)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, s.steps) if s.cosine else None


def _step(param: torch.Tensor, opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler | None, s: CloakSettings) -> None:
    """One step along the gradient, RMS-normalised (``l2``) or its sign (``sign``)."""
    assert param.grad is not None  # set by the backward pass before each step
    if s.method == "l2":
        param.grad /= param.grad.pow(2).mean().sqrt().clamp_min(1e-12)
    elif s.method == "sign":
        param.grad.sign_()
    opt.step()
    if sched is not None:
        sched.step()


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
