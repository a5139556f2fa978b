"""``precision``: fp32 forced on any CPU is today's fp32 path byte for byte; bf16 is refused where it is not native."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from stylecloak import Protector, ProtectSettings
from stylecloak.cli import main
from stylecloak.device import fast_cpu_bf16
from stylecloak.errors import ConfigError

FAST = {"steps": 4, "work_size": 64, "view_sizes": (48, 64)}


def cloak(tiny_weights, art_files, precision: str = "auto") -> torch.Tensor:
    settings = ProtectSettings(quality="fast", target_style="stained-glass", precision=precision, overrides=FAST)
    return Protector(settings, weights_dir=tiny_weights, device="cpu").protect(art_files[0]).cloaked


def test_forced_fp32_equals_the_fp32_path_of_cpus_without_bf16(tiny_weights, art_files, monkeypatch):
    forced = cloak(tiny_weights, art_files, "fp32")
    if fast_cpu_bf16():  # here auto runs bf16: forcing fp32 changes what is computed
        assert not torch.equal(forced, cloak(tiny_weights, art_files, "auto"))
    monkeypatch.setattr("stylecloak.device.fast_cpu_bf16", lambda: False)
    assert torch.equal(forced, cloak(tiny_weights, art_files, "auto"))


def test_bf16_is_refused_on_a_cpu_without_native_bf16(tiny_weights, monkeypatch):
    monkeypatch.setattr("stylecloak.device.fast_cpu_bf16", lambda: False)
    with pytest.raises(ConfigError, match=r"--precision bf16: this CPU has no native bf16.*35x slower.*use --precision auto or fp32"):
        Protector(ProtectSettings(precision="bf16"), weights_dir=tiny_weights, device="cpu")


def test_unknown_precision_is_refused_by_the_settings():
    with pytest.raises(ConfigError, match="unknown cloak setting precision='fp16'; choose one of auto, fp32, bf16"):
        ProtectSettings(precision="fp16")


@pytest.mark.parametrize("command", ["protect", "check", "demo"])
def test_cli_precision_is_offered_and_validated(command, tmp_path, art_files, tiny_weights, monkeypatch):
    assert "--precision [auto|fp32|bf16]" in CliRunner().invoke(main, [command, "--help"]).output
    args = {"protect": [str(art_files[0]), "--out", str(tmp_path / "o")], "check": [str(art_files[0])], "demo": ["--out", str(tmp_path / "o")]}[command]
    res = CliRunner().invoke(main, [command, *args, "--weights-dir", str(tiny_weights), "--precision", "fp16"])
    assert res.exit_code == 2 and "'fp16' is not one of 'auto', 'fp32', 'bf16'" in res.output
    monkeypatch.setattr("stylecloak.device.fast_cpu_bf16", lambda: False)
    res = CliRunner().invoke(
        main, [command, *args, "--weights-dir", str(tiny_weights), "--precision", "bf16", "--style", "stained-glass"][: None if command != "demo" else -2]
    )
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1].startswith("Error: --precision bf16: this CPU has no native bf16")
