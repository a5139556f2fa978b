"""The base of every protection method: what a method is besides the shared optimiser (:mod:`.optimiser`).

A method has a name (``--method``), may need a target style, may publish its own budget, and decides the
target image of each mimic view; the optimiser, its caps, EOT, mimic views and determinism are shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, overload

import torch

from ..backbones import Backbone
from ..geometry import Working
from ..styles import Style

Target = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
"""A method's target for one mimic view: (the view's image (1,3,h,w), its size (h, w)) → target image, same shape."""


@dataclass(frozen=True)
class StyleTarget:
    """A target that is a style: Ω per view (``render``, as :data:`Target`), and the style itself, whose latent
    statistics a view may aim at directly (:attr:`~stylecloak.config.CloakSettings.latent_target`)."""

    render: Target
    style: Style

    def __call__(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.render(image, size)


class Method:
    """One protection method; subclasses set the class attributes and :meth:`aim`."""

    name: ClassVar[str]
    """The method's name (``--method``), recorded with every output."""
    summary: ClassVar[str]
    """What the method does, in plain words (``--help``, the web page)."""
    needs_style: ClassVar[bool] = False
    """Whether the method aims at a target style (else its target is fixed and the style is ignored)."""
    calibrated: ClassVar[bool] = False
    """Whether the second round (``retry_below``) and the protectability estimate were measured for this method."""
    published: ClassVar[Mapping[str, object]] = MappingProxyType({})
    """The method's own published budget as :class:`~stylecloak.config.CloakSettings` overrides (empty: ours)."""

    @overload
    def target_label(self, style: str) -> str: ...
    @overload
    def target_label(self, style: str | None) -> str | None: ...
    def target_label(self, style: str | None) -> str | None:
        """The name recorded as the target (XMP ``stylecloak:targetStyle``, reports): the style, or the fixed target's name."""
        return style

    def aim(self, renderer: Backbone, style: str | None, styles: dict[str, Style], strength: float = 1.0, work: Working | None = None) -> Target:
        """The target of each view, for target style ``style`` (from ``styles``) rendered by ``renderer``; ``work``:
        the working image, whose latents a method may reuse at the working size."""
        raise NotImplementedError


class FixedTargetMethod(Method):
    """A method whose target is a fixed image (drawn at each view's size); subclasses set ``name``, ``fixed`` and :meth:`target`."""

    fixed: ClassVar[str]
    """The name recorded as the target."""

    def target_label(self, style: str | None) -> str:
        return self.fixed

    def target(self, image: torch.Tensor) -> torch.Tensor:
        """The target image for a view ``image`` (1,3,h,w), same shape."""
        raise NotImplementedError

    def aim(self, renderer: Backbone, style: str | None, styles: dict[str, Style], strength: float = 1.0, work: Working | None = None) -> Target:
        return lambda image, size: self.target(image)
