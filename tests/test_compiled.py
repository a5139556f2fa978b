"""The compiled encoder: the same latents and gradients as the uncompiled one, and a clean fallback without a compiler."""

from __future__ import annotations

import logging

import pytest
import torch
from helpers import tiny_backbone

from stylecloak.backbones import Backbone
from stylecloak.backbones.compiled import FallbackCompiled, compiled


@pytest.fixture(autouse=True)
def fresh_compiler(tmp_path, monkeypatch):
    """Each test compiles anew, into its own cache (no kernel compiled before is reused)."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    with torch._inductor.config.patch(force_disable_caches=True):
        yield
    torch._dynamo.reset()


def _encode_with_grad(bb, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    z = bb.encode(x)
    z.pow(2).mean().backward()
    return z.detach(), x.grad


def test_compiled_encoder_gives_the_same_latents_and_gradients():
    bb, x = tiny_backbone("taef2"), torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(1))
    z, g = _encode_with_grad(bb, x)
    zc, gc = _encode_with_grad(compiled(bb), x)
    assert torch.allclose(zc, z, rtol=1e-4, atol=1e-5)
    assert torch.allclose(gc, g, rtol=1e-3, atol=1e-3 * g.abs().max().item())


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "torch.compile is unavailable" in r.getMessage()]


@torch._inductor.config.patch({"cpp.cxx": ("/nonexistent/c++",)})
def test_without_a_compiler_the_encoder_is_left_uncompiled_with_a_log_line(caplog):
    bb = tiny_backbone("taef2")
    with caplog.at_level(logging.WARNING, logger="stylecloak.backbones.compiled"):
        assert compiled(bb) is bb
    assert len(_warnings(caplog)) == 1 and "No working C++ compiler" in _warnings(caplog)[0]


@torch._inductor.config.patch({"cpp.cxx": ("/nonexistent/c++",)})
def test_a_compile_that_fails_when_run_falls_back_once_to_the_same_numbers(caplog):
    bb, x = tiny_backbone("taef2"), torch.rand(1, 3, 40, 32, generator=torch.Generator().manual_seed(2))
    fast = Backbone(bb.name, FallbackCompiled(bb.encoder), bb.decoder, bb.factor)  # past the up-front check
    with caplog.at_level(logging.WARNING, logger="stylecloak.backbones.compiled"):
        z, g = _encode_with_grad(fast, x)
        _encode_with_grad(fast, x)
    assert len(_warnings(caplog)) == 1 and "runs uncompiled" in _warnings(caplog)[0]
    z0, g0 = _encode_with_grad(bb, x)
    assert torch.equal(z, z0) and torch.equal(g, g0)  # the uncompiled encoder exactly
