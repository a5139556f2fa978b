"""Tests for stylecloak.audit.portfolio: partly cloaked portfolios in the mimic proxy (Glaze §6.4)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from helpers import STYLE, painting_crop

from stylecloak.api import Protector
from stylecloak.audit import (
    AuditSettings,
    LatentMoments,
    MimicSettings,
    audit,
    pair_files,
)
from stylecloak.audit.portfolio import (
    by_fraction,
    parse_fractions,
    plan_portfolios,
    portfolio_sets,
    set_name,
)
from stylecloak.cli import main
from stylecloak.config import ProtectSettings
from stylecloak.errors import ConfigError

SIZE = 64


def test_plans_are_seeded_and_share_the_fraction():
    plan = plan_portfolios(works=5, fractions=(0.0, 0.25, 0.5, 1.0), draws=4, seed=3)
    assert plan == plan_portfolios(works=5, fractions=(0.0, 0.25, 0.5, 1.0), draws=4, seed=3)
    assert plan != plan_portfolios(works=5, fractions=(0.0, 0.25, 0.5, 1.0), draws=4, seed=4)
    assert plan.draws["0"] == ((),) * 4
    assert plan.draws["1"] == ((0, 1, 2, 3, 4),) * 4
    for key, draws in plan.draws.items():
        sizes = [len(s) for s in draws]
        assert max(sizes) - min(sizes) <= 1  # ⌊f·n⌋ or ⌈f·n⌉ works cloaked
        assert sum(sizes) / (4 * 5) == pytest.approx(float(key), abs=0.5 / 4 / 5 + 1e-9)  # mean share as close to f as 4 draws allow
    assert len(set(plan.draws["0.5"])) > 1  # different works are cloaked in different draws
    one = plan_portfolios(works=1, fractions=(0.25,), draws=4, seed=0)
    assert sorted(one.draws["0.25"]) == [(), (), (), (0,)]  # one work: cloaked in a quarter of the draws


def test_fractions_are_parsed_and_checked():
    assert parse_fractions("1, 0.25,0.5") == (0.25, 0.5, 1.0)
    for bad in ("", "0.5,2", "half"):
        with pytest.raises(ConfigError, match="--cloaked-fraction"):
            parse_fractions(bad)


def test_an_empty_choice_learns_the_clean_set_and_a_full_one_the_cloaked_set():
    torch.manual_seed(0)
    latents = [{"none": (torch.randn(1, 4, 3, 5), torch.randn(1, 4, 3, 5))} for _ in range(3)]
    clean, cloaked = LatentMoments(), LatentMoments()
    for kept in latents:
        clean.add(kept["none"][0])
        cloaked.add(kept["none"][1])
    plan = plan_portfolios(works=3, fractions=(0.0, 0.5, 1.0), draws=2, seed=0)
    sets = portfolio_sets(latents, plan)
    for got, want in ((sets[set_name(())]["none"], clean), (sets[set_name((0, 1, 2))]["none"], cloaked)):
        assert torch.equal(got.mean, want.mean) and torch.equal(got.covariance, want.covariance)
    half = sets[set_name(plan.draws["0.5"][0])]["none"]
    assert not torch.equal(half.mean, clean.mean) and not torch.equal(half.mean, cloaked.mean)
    with pytest.raises(ConfigError, match="3 works but 2"):
        portfolio_sets(latents[:2], plan)


def test_fraction_blocks_average_the_draws():
    plan = plan_portfolios(works=2, fractions=(0.5,), draws=2, seed=0)
    study = {
        "countermeasures": {"none": {"base_score": 0.1}},
        "recognised": {
            "clean": {"none": (0.75, 0.6)},
            **{set_name(s): {"none": (0.25, 0.2) if s == plan.draws["0.5"][0] else (0.5, 0.4)} for s in plan.subsets},
        },
    }
    block = by_fraction(study, plan)["0.5"]["none"]
    same = plan.draws["0.5"][1] == plan.draws["0.5"][0]
    rate, score = (0.25 + (0.25 if same else 0.5)) / 2, (0.2 + (0.2 if same else 0.4)) / 2
    assert block["recognised_cloaked"] == pytest.approx(rate) and block["protection"] == pytest.approx(0.75 - rate)
    assert block["victim_score_cloaked"] == pytest.approx(score) and block["score_drop"] == pytest.approx(0.6 - score)
    assert block["base_score"] == 0.1


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory, weights_dir, paintings_dir):
    """Two 64 px Monet crops and their cloaked copies (8 steps, no EOT)."""
    root = tmp_path_factory.mktemp("portfolio")
    protector = Protector(ProtectSettings(quality="fast", target_style=STYLE, overrides={"steps": 8, "work_size": SIZE}), weights_dir=weights_dir)
    for side in ("originals", "cloaked"):
        (root / side).mkdir()
    for name in ("bordighera", "charing-cross-bridge"):
        original = root / "originals" / f"{name}.png"
        painting_crop(paintings_dir / "claude-monet" / f"{name}.jpg", SIZE).save(original)
        protector.protect(original).save(root / "cloaked" / original.name)
    return root


@pytest.mark.weights
@pytest.mark.paintings
def test_zero_percent_cloaked_is_the_clean_mimic_and_all_cloaked_is_the_cloaked_mimic(portfolio, weights_dir, paintings_dir):
    mimic = MimicSettings(paintings_dir, content=2, countermeasures=("none", "jpeg75"), judge_size=128, fractions=(0.0, 0.5, 1.0), draws=2)
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), countermeasures=("jpeg75",))
    report = audit(pair_files(portfolio / "originals", portfolio / "cloaked")[0], settings, mimic=mimic, weights_dir=weights_dir)
    m = report.to_dict()["mimic"]
    assert list(m["by_fraction"]) == ["0", "0.5", "1"]
    assert "recognised" not in m
    for c, block in m["countermeasures"].items():
        assert m["by_fraction"]["1"][c] == block
        zero = m["by_fraction"]["0"][c]
        assert zero["recognised_cloaked"] == block["recognised_clean"] and zero["protection"] == 0
        assert zero["victim_score_cloaked"] == block["victim_score_clean"] and zero["score_drop"] == 0
        assert set(m["by_fraction"]["0.5"][c]) == set(block)
    assert m["portfolio"]["cloaked_share"] == {"0": 0.0, "0.5": 0.5, "1": 1.0}
    assert "Partly cloaked portfolios" in report.to_markdown()


@pytest.mark.weights
@pytest.mark.paintings
def test_cli_plots_protection_against_the_share_cloaked(portfolio, weights_dir, paintings_dir, tmp_path):
    args = ["audit", str(portfolio / "originals"), str(portfolio / "cloaked"), "--style", STYLE, "--work-size", str(SIZE),
            "--countermeasures", "none", "--weights-dir", str(weights_dir), "--mimic", "--paintings", str(paintings_dir),
            "--cloaked-fraction", "0.5,1", "--portfolio-draws", "2", "--json", str(tmp_path / "a.json"), "--plot", str(tmp_path / "a.png")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "a.json").read_text())
    assert set(data["mimic"]["by_fraction"]) == {"0.5", "1"} and set(data["mimic"]["by_fraction"]["1"]) == {"none"}
    assert (tmp_path / "a-portfolio.png").stat().st_size > 0
    assert "share of the portfolio cloaked" in res.output
    bad = CliRunner().invoke(main, [*args[:-4], "--cloaked-fraction", "1.5"])
    assert bad.exit_code == 1 and "--cloaked-fraction" in bad.output and "Traceback" not in bad.output
