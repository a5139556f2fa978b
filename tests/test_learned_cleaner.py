"""Tests for the audit's learned attacker: the cleaner and detector networks (a known answer), the rank AUC, the
works it trains on, its cache, and the ``learned_cleaner`` countermeasure end to end (tiny random backbones)."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from helpers import STYLE, tiny_backbone, to_tensor

from stylecloak.api import Protector, provenance
from stylecloak.audit import ALL_COUNTERMEASURES, AuditSettings, CleanerSettings, audit, pair_files, parse_countermeasures
from stylecloak.audit import learned as learned_module
from stylecloak.audit.cleaner import Cleaner, clean, train_cleaner
from stylecloak.audit.detector import Detector, crop_scores, train_detector
from stylecloak.audit.learned import attack_styles
from stylecloak.audit.robust_encoder import training_works
from stylecloak.audit.roc import auc, tpr_at_fpr
from stylecloak.backbones import Backbone
from stylecloak.cli import main
from stylecloak.config import ProtectSettings
from stylecloak.errors import ConfigError
from stylecloak.io import load_image
from stylecloak.sample import paint_sample

SIZE = 48
TINY = CleanerSettings(works=1, styles=1, held_out=1, pair_size=32, width=8, steps=3, detector_steps=3, batch=2, patch=16)
"""A training budget that finishes in seconds: the end-to-end tests check the plumbing, not the attack."""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small networks on small patches train fastest on one thread (and these tests are sized for one core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch) -> Path:
    """Trained attackers go to a fresh folder per test, never to the user cache."""
    folder = tmp_path_factory.mktemp("cleaner-cache")
    monkeypatch.setattr(learned_module, "cache_folder", lambda: folder)
    return folder


def test_rank_auc_and_tpr_known_answers():
    assert auc([2, 3], [0, 1]) == 1.0 and auc([0, 1], [2, 3]) == 0.0 and auc([1, 1], [1, 1]) == 0.5
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 6, 40).astype(float), rng.integers(0, 5, 70).astype(float)  # many ties
    pairwise = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert auc(pos, neg) == pytest.approx(pairwise)
    negatives = np.arange(100.0)  # at 1 % FPR one negative (99) may score above the threshold, 98
    assert tpr_at_fpr([98.5, 97.0, 200.0, 99.5], negatives) == 0.75
    with pytest.raises(ValueError, match="at least one"):
        auc([], [1.0])


def _smooth(n: int, seed: int, side: int = 48) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, side // 8, side // 8, generator=g), size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1) * 0.8 + 0.1


def _fixed_pattern_pairs(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Smooth images and their "cloaks": one fixed ±0.04 pattern of period 4 added to every image."""
    tile = torch.randint(0, 2, (1, 3, 4, 4), generator=torch.Generator().manual_seed(1)).float() * 2 - 1
    return [(x[None], (x[None] + 0.04 * tile.repeat(1, 1, 12, 12)).clamp(0, 1)) for x in _smooth(n, seed)]


def test_cleaner_and_detector_learn_a_fixed_additive_cloak():
    train, test = _fixed_pattern_pairs(8, seed=0), _fixed_pattern_pairs(4, seed=5)
    settings = CleanerSettings(width=12, steps=300, detector_steps=40, batch=8, patch=24, pair_size=48, lr=3e-3)
    torch.manual_seed(0)
    cleaner, detector = Cleaner(settings.width), Detector()
    assert torch.equal(clean(cleaner, test[0][1]), test[0][1])  # untrained, the cleaner is the identity
    train_cleaner(cleaner, train, settings)
    for x, xp in test:  # held-out images: the pattern is removed, not the picture
        assert (clean(cleaner, xp) - x).norm() <= 0.1 * (xp - x).norm()
    train_detector(detector, train, settings)
    g = torch.Generator().manual_seed(0)
    scores = [crop_scores(detector, x, xp, 8, 24, g) for x, xp in test]
    assert auc(np.concatenate([s[0] for s in scores]), np.concatenate([s[1] for s in scores])) > 0.95


def test_tiled_cleaning_matches_a_whole_image_pass():
    torch.manual_seed(0)
    cleaner = Cleaner(8)
    torch.nn.init.normal_(cleaner.out.weight, std=0.05)  # a cleaner that changes images
    x = torch.rand(1, 3, 90, 70)
    whole = clean(cleaner, x, tile=1024)
    assert not torch.equal(whole, x)
    assert torch.allclose(clean(cleaner, x, tile=32, margin=32), whole, atol=1e-5)


def _manifest_folder(root: Path, count: int) -> Path:
    """``count`` synthetic works of two artists, with a MANIFEST.csv."""
    rows = []
    for i in range(count):
        artist = "ann" if i % 2 == 0 else "bob"
        (root / artist).mkdir(parents=True, exist_ok=True)
        paint_sample(SIZE, 100 + i).save(root / artist / f"work-{i}.png")
        rows.append({"file": f"{artist}/work-{i}.png", "artist": artist})
    with (root / "MANIFEST.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["file", "artist"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_training_works_exclude_audited_content_under_any_name(tmp_path):
    paintings = _manifest_folder(tmp_path / "paintings", 4)
    renamed = tmp_path / "audited" / "my-painting.png"
    renamed.parent.mkdir()
    shutil.copy(paintings / "ann" / "work-0.png", renamed)  # an audited work that is a manifest work under another name
    chosen = training_works(paintings, [load_image(renamed)], "ann", 4)
    assert paintings / "ann" / "work-0.png" not in chosen
    assert len(chosen) == 3 and chosen[0] == paintings / "ann" / "work-2.png"  # the victim's other works first
    assert len(training_works(paintings, [load_image(paint_sample(SIZE, 7))], "ann", 4)) == 4  # other content: nothing excluded


def test_all_leaves_out_the_learned_cleaner():
    assert "learned_cleaner" not in parse_countermeasures("all") and "learned_cleaner" not in ALL_COUNTERMEASURES
    assert parse_countermeasures("none,learned_cleaner") == ("learned_cleaner",)
    with pytest.raises(ConfigError, match="learned-cleaner settings"):
        CleanerSettings(patch=18)


def test_the_attacker_cloaks_toward_the_audited_style_first():
    names = attack_styles(AuditSettings(target_style=STYLE), 3, None)
    assert names[0] == STYLE and len(set(names)) == 3
    assert attack_styles(AuditSettings(target_style="mist-target", method="mist"), 3, None) == ["mist-target"]  # a fixed target


def test_an_attacker_that_does_not_know_the_target_cloaks_toward_other_styles_only():
    blind = CleanerSettings(knows_target=False)
    names = attack_styles(AuditSettings(target_style=STYLE, cleaner=blind), 3, None)
    assert STYLE not in names and len(set(names)) == 3
    assert names[:2] == attack_styles(AuditSettings(target_style=STYLE), 3, None)[1:]  # the same others, in the same order
    assert attack_styles(AuditSettings(target_style="mist-target", method="mist", cleaner=blind), 3, None) == ["mist-target"]  # a fixed target is known
    with pytest.raises(ConfigError, match="knows_target"):
        CleanerSettings(knows_target="no")  # type: ignore[arg-type]  # what a JSON or CLI typo would pass


class _Counted(torch.nn.Module):
    """An encoder that counts its calls: stands in for one built in code (e.g. behind a frozen cleaner)."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder, self.calls = encoder, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.encoder(x)


def _counted(name: str = "taef2", seed: int = 1) -> Backbone:
    tiny = tiny_backbone(name, seed)
    return Backbone("counted", _Counted(tiny.encoder), None, tiny.factor)


def test_a_protector_also_optimises_against_encoders_built_in_code(tiny_weights):
    settings = ProtectSettings(quality="fast", target_style=STYLE, overrides={"steps": 3, "work_size": SIZE})
    image = paint_sample(SIZE, 3)
    plain = Protector(settings, weights_dir=tiny_weights).protect(image)
    extra = _counted()
    protector = Protector(settings, weights_dir=tiny_weights, extra_backbones=[extra])
    assert [b.name for b in protector.backbones] == ["taef2", "counted"] and protector.renderer.name == "taef2"
    adaptive = protector.protect(image)
    assert extra.encoder.calls >= 3  # every step's loss went through it
    assert not torch.equal(adaptive.cloaked, plain.cloaked)


def test_an_attacker_cloaking_against_extra_encoders_is_another_attacker(tiny_weights, monkeypatch, cache):
    seen = []

    def quick_cloaks(protector, works, size):  # the plumbing under test: noise stands in for the cloaks
        seen.append([b.name for b in protector.backbones])
        return [(w, (w + 0.05 * torch.randn(w.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)) for w in works]

    monkeypatch.setattr(learned_module, "cloak_works", quick_cloaks)
    works = [load_image(paint_sample(SIZE, seed)) for seed in (20, 21)]
    settings, encoders = AuditSettings(target_style=STYLE, cleaner=TINY), [tiny_backbone("taef2")]
    plain = learned_module.train_attacker(works, settings, encoders, weights_dir=tiny_weights)
    adaptive = learned_module.train_attacker(works, settings, encoders, weights_dir=tiny_weights, extra_backbones=[_counted()])
    assert seen == [["taef2"]] * 2 + [["taef2", "counted"]] * 2  # one work, one held out, each way
    assert "extra_backbones" not in plain.record["preset"] and adaptive.record["preset"]["extra_backbones"] == ["counted"]
    assert plain.record["cache"] != adaptive.record["cache"] and len(list(cache.glob("learned_cleaner-*.pt"))) == 2


def test_protect_records_its_preset_names():
    record = provenance(ProtectSettings(intensity="visible-up-close", quality="fast", target_style=STYLE))
    assert (record["intensity"], record["quality"]) == ("high", "fast")


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_weights):
    """originals/ and cloaked/ with one work, cloaked at intensity low and recorded (XMP), and a paintings folder."""
    root = tmp_path_factory.mktemp("learned")
    for side in ("originals", "cloaked"):
        (root / side).mkdir()
    settings = ProtectSettings(intensity="low", quality="fast", target_style=STYLE, overrides={"steps": 4, "work_size": SIZE}, record_settings=True)
    protector = Protector(settings, weights_dir=tiny_weights)
    for i in range(1):
        paint_sample(SIZE, i).save(root / "originals" / f"w{i}.png")
        protector.protect(root / "originals" / f"w{i}.png").save(root / "cloaked" / f"w{i}.png")
    _manifest_folder(root / "paintings", 4)
    return root


def test_audit_cleans_both_sides_reports_detection_and_reuses_its_cache(folders, tiny_weights, monkeypatch, cache):
    pairs = pair_files(folders / "originals", folders / "cloaked")[0]
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(32, SIZE), countermeasures=("learned_cleaner",), cleaner=TINY)
    works = [to_tensor(paint_sample(SIZE, seed)) for seed in (20, 21)]
    first = audit(pairs, settings, weights_dir=tiny_weights, robust_works=works)
    data = json.loads(first.to_json())
    for size in ("32", str(SIZE)):
        entry = data["summary"]["sizes"][size]["countermeasures"]["learned_cleaner"]
        assert entry["target_progress"] is not None and 0 < entry["cleaned_clean_psnr_db"] <= 100
    record = data["learned_cleaner"]
    assert record["parameters"] == sum(p.numel() for p in Cleaner(TINY.width).parameters())
    assert (record["train_pairs"], record["steps"], record["styles"], record["cached"]) == (1, 3, [STYLE], False)
    assert len(record["works"]) == 1 and len(record["held_out"]) == 1
    d = data["detection"]
    assert set(d) == {"auc", "auc_ci", "tpr_at_1pct_fpr", "tpr_ci", "train_pairs", "test_pairs", "negatives", "by_size"}
    assert set(d["by_size"]) == {"32", str(SIZE)} and d["test_pairs"] == 2 and d["negatives"] >= 100
    assert 0 <= d["auc_ci"][0] <= d["auc_ci"][1] <= 1 and 0 <= d["tpr_ci"][0] <= d["tpr_ci"][1] <= 1
    assert "## Learned cleaner" in first.to_markdown() and "## Learned detector" in first.to_markdown()
    assert len(list(cache.glob("learned_cleaner-*.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained again despite the cache")

    monkeypatch.setattr(learned_module, "train_cleaner", no_training)
    monkeypatch.setattr(learned_module, "cloak_works", no_training)
    second = json.loads(audit(pairs, settings, weights_dir=tiny_weights, robust_works=works).to_json())
    assert second["learned_cleaner"]["cached"] is True
    assert second["summary"]["countermeasures"]["learned_cleaner"] == data["summary"]["countermeasures"]["learned_cleaner"]
    assert second["detection"] == data["detection"]
    with pytest.raises(AssertionError, match="trained again"):  # other settings: another attacker
        audit(pairs, replace(settings, cleaner=replace(TINY, steps=4)), weights_dir=tiny_weights, robust_works=works)


def test_cli_trains_with_the_recorded_preset_and_needs_paintings(folders, tiny_weights, tmp_path, monkeypatch):
    presets = []

    def quick_cloaks(protector, works, size):  # the plumbing under test, not stylecloak's cloaks: noise stands in for them
        presets.append((protector.settings.intensity, protector.settings.quality, protector.settings.target_style))
        small = [F.interpolate(w, size=(size, size)) for w in works]
        return [(x, (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)) for x in small]

    monkeypatch.setattr(learned_module, "cloak_works", quick_cloaks)
    args = ["audit", str(folders / "originals"), str(folders / "cloaked"), "--weights-dir", str(tiny_weights), "--work-size", "32",
            "--countermeasures", "none,learned_cleaner"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1 and "--paintings" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    small = [
        "--paintings",
        str(folders / "paintings"),
        "--cleaner-works",
        "1",
        "--cleaner-steps",
        "2",
        "--cleaner-size",
        "32",
        "--json",
        str(tmp_path / "a.json"),
    ]
    res = CliRunner().invoke(main, [*args, *small])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "a.json").read_text())
    assert (data["settings"]["cleaner"]["intensity"], data["settings"]["cleaner"]["quality"]) == ("low", "fast")  # as protect recorded
    assert data["learned_cleaner"]["preset"]["intensity"] == "low" and data["learned_cleaner"]["steps"] == 2
    assert presets[0] == ("low", "fast", STYLE) and len(presets) == 1 * 2 + 2  # one work toward two styles, two held out
    assert "learned_cleaner" in res.output and "Detector: AUC" in res.output
    presets.clear()
    res = CliRunner().invoke(main, [*args, *small, "--cleaner-unknown-target"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "a.json").read_text())["settings"]["cleaner"]["knows_target"] is False
    assert len(presets) == 4 and STYLE not in {style for _, _, style in presets}
