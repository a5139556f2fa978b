"""Device dispatch: auto picks what exists, an absent device fails with the fix, autocast follows the device."""

from __future__ import annotations

import pytest
import torch

from stylecloak import device
from stylecloak.device import autocast, bf16_supported, resolve_device, use_bf16
from stylecloak.errors import ConfigError


def test_auto_picks_cpu_when_no_accelerator_is_visible(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"


def test_missing_cuda_is_a_one_line_error_naming_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--device cpu") as info:
        resolve_device("cuda")
    assert "\n" not in str(info.value)


def test_unknown_device_is_refused():
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_autocast_is_bf16_only_on_cpus_with_native_bf16(monkeypatch):
    a = torch.rand(4, 4)
    monkeypatch.setattr(device, "fast_cpu_bf16", lambda: True)
    with autocast("cpu"):
        assert (a @ a).dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32
    monkeypatch.setattr(device, "fast_cpu_bf16", lambda: False)  # emulated bf16 is far slower than fp32
    with autocast("cpu"):
        assert (a @ a).dtype == torch.float32
    assert not bf16_supported(torch.device("mps"))


def test_bf16_is_used_where_native_and_refused_where_not(monkeypatch):
    """``bf16`` runs where the device has native bf16 and is refused elsewhere, naming the slowdown and the fix."""
    a = torch.rand(4, 4)
    monkeypatch.setattr(device, "fast_cpu_bf16", lambda: True)
    with autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    monkeypatch.setattr(device, "fast_cpu_bf16", lambda: False)
    with pytest.raises(ConfigError, match=r"no native bf16 .*35x slower.*use --precision auto or fp32"):
        use_bf16(torch.device("cpu"), "bf16")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ConfigError, match=r"GPU has no native bf16.*use --precision auto or fp32"):
        use_bf16(torch.device("cuda"), "bf16")
    with pytest.raises(ConfigError, match="unknown precision 'fp16'"):
        use_bf16(torch.device("cpu"), "fp16")


def test_cpu_memory_is_kept_only_on_glibc_cpus_unless_turned_off(monkeypatch):
    """The allocator setting applies on a glibc CPU (Linux here) and nowhere else; its speed is a benchmark's matter."""
    import sys

    assert device.keep_cpu_memory(torch.device("cpu")) == sys.platform.startswith("linux")
    assert not device.keep_cpu_memory(torch.device("meta"))
    monkeypatch.setenv("STYLECLOAK_KEEP_CPU_MEMORY", "0")  # the user's opt-out
    assert not device.keep_cpu_memory(torch.device("cpu"))
    monkeypatch.delenv("STYLECLOAK_KEEP_CPU_MEMORY")
    monkeypatch.setattr(device, "_glibc", lambda: None)  # musl, macOS, Windows: nothing to tune
    assert not device.keep_cpu_memory(torch.device("cpu"))
    device.release_memory()
