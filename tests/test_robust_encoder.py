"""Tests for stylecloak.audit.robust_encoder and the audit's ``robust_encoder`` countermeasure (real weights, tiny images)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from helpers import STYLE, to_tensor
from PIL import Image

from stylecloak.audit import AuditSettings, MimicSettings, audit, pair_files
from stylecloak.audit.robust_encoder import (
    RobustSettings,
    make_pairs,
    pair_progress,
    robust_train,
    roundtrip_psnr,
)
from stylecloak.backbones import load_backbone
from stylecloak.cli import main
from stylecloak.errors import ConfigError
from stylecloak.sample import paint_sample
from stylecloak.styles import get_style, style_stats, style_transfer

SIZE = 64
TINY = RobustSettings(pairs=3, pair_size=SIZE, steps=20, batch=3, crop=SIZE)


@pytest.fixture(scope="module")
def synthetic_pairs(weights_dir):
    """Three 64 px landscapes painted by stylecloak's sampler and their cloaks (fast preset)."""
    works = [to_tensor(paint_sample(SIZE, seed)) for seed in range(3)]
    return make_pairs(works, STYLE, ("taef2",), TINY, weights_dir=weights_dir)


@pytest.mark.weights
def test_robust_training_lowers_target_progress_on_its_own_pairs(synthetic_pairs, weights_dir):
    taef2 = load_backbone("taef2", weights_dir=weights_dir)
    before_weights = {k: v.clone() for k, v in taef2.state_dict().items()}
    stats = style_stats(taef2, get_style(STYLE))
    omega = lambda x: style_transfer(taef2, x, stats)
    before = pair_progress(taef2, taef2.factor, omega, synthetic_pairs)
    robust, log = robust_train(taef2, synthetic_pairs, TINY)
    after = pair_progress(robust, taef2.factor, omega, synthetic_pairs)
    assert before > 0.2  # the mimic's cloaks work on the original encoder
    assert after < before - 0.1, f"robust training moved TP on its own pairs only from {before:.3f} to {after:.3f}"
    assert log["cloaked_term_last"] < 0.8 * log["cloaked_term_first"]  # the loss it trains on fell by a fifth
    # the shared backbone is untouched; the copy keeps its name, factor and decoder
    assert all(torch.equal(v, before_weights[k]) for k, v in taef2.state_dict().items())
    assert (robust.name, robust.factor, robust.decoder) == (taef2.name, taef2.factor, taef2.decoder)
    assert not any(p.requires_grad for p in robust.parameters())
    # the price: clean images no longer round-trip exactly, but stay recognisable
    x = synthetic_pairs[0][0]
    assert 20 < roundtrip_psnr(taef2, robust, x) < roundtrip_psnr(taef2, taef2, x)
    short = replace(TINY, steps=2)
    once, again = (robust_train(taef2, synthetic_pairs, short)[0] for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(once.encoder.parameters(), again.encoder.parameters()))  # seeded


def test_robust_settings_are_checked():
    for bad in ({"pairs": 0}, {"crop": 16}, {"crop": 300}, {"lr": 0}):
        with pytest.raises(ConfigError, match="robust-encoder settings"):
            RobustSettings(**bad)
    with pytest.raises(ConfigError, match="at least one"):
        robust_train(None, [], TINY)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, synthetic_pairs, paintings_dir):
    """originals/ and cloaked/ holding two of the synthetic pairs under Monet file names (so the manifest names the victim)."""
    root = tmp_path_factory.mktemp("robust")
    for side in ("originals", "cloaked"):
        (root / side).mkdir()
    for name, (x, xp) in zip(("bordighera", "charing-cross-bridge"), synthetic_pairs):
        for side, t in (("originals", x), ("cloaked", xp)):
            Image.fromarray((t[0].permute(1, 2, 0) * 255).round().byte().numpy()).save(root / side / f"{name}.png")
    return root


@pytest.mark.weights
@pytest.mark.paintings
def test_audit_measures_through_the_robust_encoder(folders, weights_dir, paintings_dir):
    works = [to_tensor(paint_sample(SIZE, seed)) for seed in (10, 11)]
    settings = AuditSettings(
        target_style=STYLE,
        mimic_sizes=(SIZE,),
        countermeasures=("robust_encoder",),
        robust=RobustSettings(pairs=2, pair_size=SIZE, steps=4, batch=2, crop=48, lr=1e-3),
    )
    mimic = MimicSettings(paintings_dir, content=2, countermeasures=("none", "robust_encoder"), judge_size=128)
    report = audit(pair_files(folders / "originals", folders / "cloaked")[0], settings, mimic=mimic, weights_dir=weights_dir, robust_works=works)
    data = json.loads(report.to_json())
    entry = data["summary"]["countermeasures"]["robust_encoder"]
    assert {"target_progress", "transfer_progress", "clean_roundtrip_psnr_db"} <= set(entry)
    assert entry["target_progress"] != data["summary"]["target_progress"]  # measured through another encoder
    assert 10 < entry["clean_roundtrip_psnr_db"] < 99
    record = data["robust_encoder"]
    assert [e["encoder"] for e in record["encoders"]] == ["taef2", "taesana"]  # every encoder the audit measures
    assert data["settings"]["robust"]["steps"] == 4 and len(record["pairs"]) == 2
    assert set(data["mimic"]["countermeasures"]) == {"none", "robust_encoder"}
    assert "Robust-encoder mimic" in report.to_markdown()
    with pytest.raises(ConfigError, match="--paintings"):
        audit(pair_files(folders / "originals", folders / "cloaked")[0], settings, weights_dir=weights_dir)


@pytest.mark.weights
@pytest.mark.paintings
def test_cli_runs_the_issue_command(folders, weights_dir, paintings_dir, tmp_path):
    """audit ORIG CLOAKED --style S --mimic --paintings P --cloaked-fraction 0.25,1 --countermeasures none,robust_encoder --json a.json"""
    args = ["audit", str(folders / "originals"), str(folders / "cloaked"), "--style", STYLE, "--mimic", "--paintings", str(paintings_dir),
            "--cloaked-fraction", "0.25,1", "--countermeasures", "none,robust_encoder", "--json", str(tmp_path / "a.json"),
            "--work-size", str(SIZE), "--weights-dir", str(weights_dir), "--robust-pairs", "2", "--robust-steps", "2", "--robust-size", str(SIZE)]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "a.json").read_text())
    assert set(data["mimic"]["by_fraction"]) == {"0.25", "1"}
    assert set(data["mimic"]["by_fraction"]["0.25"]) == {"none", "robust_encoder"}
    assert "clean_roundtrip_psnr_db" in data["summary"]["countermeasures"]["robust_encoder"]
    audited = {"bordighera", "charing-cross-bridge"}
    assert not audited & {Path(p).stem for p in data["robust_encoder"]["pairs"]}  # never trained on the audited works
    assert all("claude-monet" in p for p in data["robust_encoder"]["pairs"])  # the victim's other works first
    res = CliRunner().invoke(main, [*args[:5], "--countermeasures", "robust_encoder", "--weights-dir", str(weights_dir)])
    assert res.exit_code == 1 and "--paintings" in res.output and "Traceback" not in res.output
