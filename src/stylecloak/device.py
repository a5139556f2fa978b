"""Where the models run: device choice (``auto`` = CUDA, then MPS, then CPU) and mixed precision per device.

>>> dev = resolve_device("auto")
>>> with autocast(dev):            # bf16 where the device has it, fp32 otherwise
...     z = backbone.encode(x.to(dev))
"""

from __future__ import annotations

import contextlib

import torch

from .errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
"""Names accepted by :func:`resolve_device` (``cuda:N`` picks a GPU by index)."""


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch device for ``name``; a device that is absent raises a one-line error naming the fix."""
    if isinstance(name, torch.device):
        return name
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA GPU is visible to PyTorch {torch.__version__}; install a CUDA build of torch or use --device cpu")
    if kind == "mps" and not _mps_available():
        raise ConfigError(f"--device {name}: Apple's MPS backend is not available here; use --device cpu")
    return torch.device(name)


def fast_cpu_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX). Without it PyTorch emulates bf16, and a
    backward pass through an encoder runs about 35× slower than in fp32 (measured on an AVX2-only AMD EPYC)."""
    checks = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return any(check is not None and check() for check in checks)


def bf16_supported(device: torch.device) -> bool:
    """Whether bfloat16 autocast is used on ``device``: on CPUs with native bf16 (:func:`fast_cpu_bf16`) and on
    CUDA GPUs that support it (Ampere and later); fp32 on other CPUs and on MPS."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and fast_cpu_bf16()


def autocast(device: torch.device | str = "cpu", enabled: bool = True):
    """bfloat16 autocast on ``device`` where :func:`bf16_supported`, else (or when not ``enabled``) fp32."""
    device = torch.device(device)
    if enabled and bf16_supported(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_deterministic(device: torch.device) -> None:
    """Same bytes for the same seed on the same device: deterministic cuDNN kernels on CUDA (CPU is already)."""
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
