"""Encoders compiled with ``torch.compile`` (inductor), falling back to the uncompiled encoder where compiling fails.

A compiled TAEF2 encoder's forward and backward pass takes about a seventh less time on a CPU (fused activations
and residual additions around the same convolutions; the numbers change only by rounding). Compiling costs seconds
for each new image shape the first time (inductor keeps its kernels in a cache between runs), and needs a C++
compiler on a CPU: where there is none, or compiling fails for any other reason, the encoder runs uncompiled and
one line is logged.

>>> fast = compiled(load_backbone("taef2"))
>>> z = fast.encode(x)   # same latents up to rounding
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

from .base import Backbone

log = logging.getLogger(__name__)


class FallbackCompiled(nn.Module):
    """``module`` compiled on first use; if compiling or running the compiled code fails, ``module`` itself from then on."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.compiled: Callable[[torch.Tensor], torch.Tensor] | None = torch.compile(module.forward)
        """Compiles on the first call (a function, not a module: the weights are registered once, under ``module``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(x)
            except Exception as exc:  # noqa: BLE001 - any failure of the compiler stack means: run uncompiled
                self.compiled = None
                _say_uncompiled(exc)
        return self.module(x)


def compiled(backbone: Backbone) -> Backbone:
    """A backbone sharing ``backbone``'s weights whose encoder is compiled (:class:`FallbackCompiled`), or ``backbone``
    itself where a CPU has no working C++ compiler (logged); the decoder is left as it is (it runs a few times per image)."""
    if backbone.device.type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        except Exception as exc:  # noqa: BLE001 - no compiler, or an inductor without this check: compiling would fail
            _say_uncompiled(exc)
            return backbone
    return Backbone(backbone.name, FallbackCompiled(backbone.encoder), backbone.decoder, backbone.factor)


def _say_uncompiled(exc: Exception) -> None:
    text = str(exc).strip()
    reason = text.splitlines()[0][:200] if text else "no details"
    log.warning("torch.compile is unavailable here (%s: %s); the encoder runs uncompiled", exc.__class__.__name__, reason)
