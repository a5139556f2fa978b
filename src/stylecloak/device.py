"""Where the models run: device choice (``auto`` = CUDA, then MPS, then CPU) and mixed precision per device.

>>> dev = resolve_device("auto")
>>> with autocast(dev, "auto"):    # bf16 where the device has it natively, fp32 otherwise
...     z = backbone.encode(x.to(dev))
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from functools import cache

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


PRECISIONS = ("auto", "fp32", "bf16")
"""Precisions of the encoders (``--precision``): ``auto`` is bf16 where the device computes it natively, else fp32."""


def use_bf16(device: torch.device, precision: str | bool = "auto") -> bool:
    """Whether ``precision`` runs bf16 on ``device``; ``bf16`` where it is not native raises a one-line error naming
    the fix (emulated bf16 is far slower than fp32). A bool is shorthand: True = ``auto``, False = ``fp32``."""
    if isinstance(precision, bool):
        precision = "auto" if precision else "fp32"
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "bf16" and not bf16_supported(device):
        why = {"cpu": "this CPU has no native bf16 (AVX-512 BF16 or AMX)", "cuda": "this GPU has no native bf16 (it needs Ampere or later)"}
        where = why.get(device.type, f"bf16 autocast is not used on {device.type}")
        raise ConfigError(f"--precision bf16: {where}, so it would run about 35x slower than fp32 here; use --precision auto or fp32")
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


def autocast(device: torch.device | str = "cpu", precision: str | bool = "auto"):
    """bfloat16 autocast on ``device`` where ``precision`` asks for it (:func:`use_bf16`), else fp32."""
    device = torch.device(device)
    if use_bf16(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_deterministic(device: torch.device) -> None:
    """Same bytes for the same seed on the same device: deterministic cuDNN kernels on CUDA (CPU is already)."""
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
"""glibc ``mallopt`` parameters."""


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library where it is glibc (with ``mallopt`` and ``malloc_trim``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        _ = libc.gnu_get_libc_version, libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return libc


def keep_cpu_memory(device: torch.device) -> bool:
    """On CPU with glibc: serve large tensors from the heap and keep freed memory for the next optimisation step,
    instead of mapping and zeroing fresh pages for every activation. A TAEF2 forward and backward pass at 512 px
    then takes about a fifth less time (system time 5× less; docs/decisions/0008-cpu-speed.md). Process-wide; each image
    ends with :func:`release_memory`; ``STYLECLOAK_KEEP_CPU_MEMORY=0`` turns it off. Returns whether it applied."""
    libc = _glibc() if device.type == "cpu" and os.environ.get("STYLECLOAK_KEEP_CPU_MEMORY", "1") != "0" else None
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def release_memory() -> None:
    """Give the heap's free memory back to the system (after an image, so a long-running server does not keep its peak)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def cpu_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
