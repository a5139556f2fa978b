"""Tests for stylecloak.audit, stylecloak.transforms.purify and ``stylecloak audit`` (real weights, tiny images)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from helpers import STYLE, painting_crop, to_tensor
from PIL import Image

import stylecloak.audit.measure as audit_module
from stylecloak.api import Protector, ProtectResult
from stylecloak.audit import (
    ALL_COUNTERMEASURES,
    AuditSettings,
    MimicSettings,
    audit,
    audit_pair,
    pair_files,
    parse_countermeasures,
)
from stylecloak.backbones import load_backbone
from stylecloak.cli import main
from stylecloak.config import ProtectSettings
from stylecloak.errors import ConfigError, ImageError
from stylecloak.transforms import PurifySettings, consistency_error, purify

SIZE = 96
SETTINGS = AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), countermeasures=("jpeg75", "impress"), purify=PurifySettings(steps=2))


def cloaked_pair(root: Path, source: Path, weights: Path) -> tuple[Path, ProtectResult]:
    """originals/bordighera.png (a 96 px crop of ``source``) and cloaked/bordighera.png (8 steps, no EOT, settings
    recorded), plus the protect result."""
    (root / "originals").mkdir()
    (root / "cloaked").mkdir()
    original = root / "originals" / "bordighera.png"
    painting_crop(source, SIZE).save(original)
    settings = ProtectSettings(quality="fast", target_style=STYLE, overrides={"steps": 8, "work_size": SIZE}, record_settings=True)
    result = Protector(settings, weights_dir=weights).protect(original)
    result.save(root / "cloaked" / original.name)  # with the settings in its XMP, where audit finds them (no journal here)
    return root, result


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_weights, art_files):
    return cloaked_pair(tmp_path_factory.mktemp("audit"), art_files[0], tiny_weights)


def test_uncloaked_image_has_zero_progress(folders, tiny_weights):
    original = folders[0] / "originals" / "bordighera.png"
    record = audit_pair(original, original, SETTINGS, weights_dir=tiny_weights)
    assert record["target_progress"] == pytest.approx(0, abs=1e-6)
    assert record["transfer_progress"] == pytest.approx(0, abs=1e-6)
    for entry in record["countermeasures"].values():
        assert entry["target_progress"] == pytest.approx(0, abs=1e-6)
    assert record["perceptual_distance"] == pytest.approx(0, abs=1e-6)
    assert record["view_change"] == record["sizes"][str(SIZE)]["view_change"] == pytest.approx(0, abs=1e-6)


def test_cloaked_image_makes_progress_as_protect_reported(folders, tiny_weights):
    root, result = folders
    record = audit_pair(root / "originals" / "bordighera.png", root / "cloaked" / "bordighera.png", SETTINGS, weights_dir=tiny_weights)
    assert record["target_progress"] > 0.1
    assert record["target_progress"] == pytest.approx(result.target_progress, abs=0.03)  # bf16 here, fp32 in protect
    assert record["psnr_db"] == pytest.approx(result.psnr_db, abs=0.05)
    assert 0.5 < record["ssim"] < 1 and record["perceptual_distance"] > 0
    assert set(record["by_encoder"]) == {"taef2", "taesana"}
    # the encoder's view moved, by the relative latent change measured on TAEF2 directly
    f2 = load_backbone("taef2", weights_dir=tiny_weights)
    with torch.no_grad():
        z, zp = (f2.encode(to_tensor(Image.open(root / d / "bordighera.png"))) for d in ("originals", "cloaked"))
    assert record["view_change"] == pytest.approx(float((zp - z).norm() / z.norm()), rel=0.05)  # bf16 in the audit
    assert record["view_change"] > 0.01


@pytest.fixture(scope="module")
def full_report(folders, tiny_weights):
    """An audit with every countermeasure, each wrapped to record what it was applied to."""
    root, _ = folders
    calls: dict[str, list[tuple[torch.Tensor, int | None]]] = {}
    patch = pytest.MonkeyPatch()

    def recorder(name, fn):
        def wrapped(x, *args, **kwargs):
            calls.setdefault(name, []).append((x.clone(), args[0] if name != "impress" else None))
            return fn(x, *args, **kwargs)

        return wrapped

    patch.setattr(audit_module, "COUNTERMEASURES", {n: recorder(n, f) for n, f in audit_module.COUNTERMEASURES.items()})
    patch.setattr(audit_module, "purify", recorder("impress", purify))
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), purify=PurifySettings(steps=1), seed=7)
    try:
        report = audit(pair_files(root / "originals", root / "cloaked")[0], settings, weights_dir=tiny_weights)
    finally:
        patch.undo()
    return report, calls


def test_every_countermeasure_is_applied_to_both_sides(full_report, folders):
    report, calls = full_report
    root, result = folders
    original = to_tensor(Image.open(root / "originals" / "bordighera.png"))
    assert set(calls) == set(ALL_COUNTERMEASURES)
    for name, seen in calls.items():
        assert len(seen) == 2, name
        (x, seed_x), (xp, seed_xp) = seen
        assert torch.equal(x, original) and torch.equal(xp, result.cloaked), name
        if name != "impress":  # purify takes no seed
            assert seed_x == seed_xp == 7
    assert list(report.summary["countermeasures"]) == list(ALL_COUNTERMEASURES)
    assert list(report.images[0]["countermeasures"]) == list(ALL_COUNTERMEASURES)


def test_json_has_every_field(full_report):
    data = json.loads(full_report[0].to_json())
    assert {"summary", "images", "settings", "mimic"} <= set(data)
    summary = data["summary"]
    assert {"target_progress", "transfer_progress", "psnr_db", "ssim", "perceptual_distance", "countermeasures"} <= set(summary)
    for entry in summary["countermeasures"].values():
        assert {"target_progress", "transfer_progress"} <= set(entry)
    image = data["images"][0]
    assert {"target_progress", "transfer_progress", "psnr_db", "ssim", "perceptual_distance", "countermeasures"} <= set(image)
    assert data["settings"]["target_style"] == STYLE and data["settings"]["seed"] == 7


def test_markdown_and_plot_are_written(full_report, tmp_path):
    report = full_report[0]
    text = report.to_markdown()
    assert text.startswith("# Protection audit")
    assert all(f"| {name} |" in text for name in ("none", *ALL_COUNTERMEASURES))
    path = report.plot(tmp_path / "sub" / "tp.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    s = report.summary
    measured = {"none": s, **s["countermeasures"]}
    for name, v in measured.items():  # each row ends with its worst-size TP and transfer, as measured
        assert table[name].endswith(" | ".join("–" if v[k] is None else f"{v[k]:.2f}" for k in ("target_progress", "transfer_progress")) + " |"), name


def test_countermeasures_are_deterministic(folders, tiny_weights):
    root, _ = folders
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), countermeasures=("noise_0.05", "noisy_upscale"), seed=3)
    a, b = (audit_pair(root / "originals" / "bordighera.png", root / "cloaked" / "bordighera.png", settings, weights_dir=tiny_weights) for _ in range(2))
    assert a["countermeasures"] == b["countermeasures"]


@pytest.mark.weights
@pytest.mark.paintings
def test_purification_lowers_autoencoder_error(small_painting, weights_dir):
    f2 = load_backbone("taef2", weights_dir=weights_dir)
    x = torch.nn.functional.interpolate(small_painting, size=(64, 64), mode="area")
    noisy = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    purified = purify(noisy, f2, PurifySettings(steps=5))
    assert purified.shape == noisy.shape and purified.min() >= 0 and purified.max() <= 1
    assert float(consistency_error(f2, purified)) < 0.8 * float(consistency_error(f2, noisy))
    odd = purify(noisy[..., :60, :50], f2, PurifySettings(steps=1))  # sizes not multiples of 8 are padded
    assert odd.shape[-2:] == (60, 50)


def test_purify_settings_are_checked():
    with pytest.raises(ConfigError, match="bad purification settings"):
        PurifySettings(lr=0)


def test_pairing_by_relative_name(tmp_path):
    o, c = tmp_path / "o", tmp_path / "c"
    (o / "sub").mkdir(parents=True)
    (c / "sub").mkdir(parents=True)
    pixel = Image.new("RGB", (8, 8))
    for p in (o / "a.png", o / "sub" / "b.gif", o / "lonely.png", c / "a.png", c / "sub" / "b.png", c / "a.preview.png", c / "extra.png"):
        pixel.save(p)
    pairs, warnings = pair_files(o, c)
    assert pairs == [(o / "a.png", c / "a.png"), (o / "sub" / "b.gif", c / "sub" / "b.png")]
    assert len(warnings) == 2
    assert any("lonely.png: no cloaked copy" in w for w in warnings) and any("extra.png: no original" in w for w in warnings)
    assert pair_files(o / "a.png", c / "a.png") == ([(o / "a.png", c / "a.png")], [])
    with pytest.raises(ImageError, match="not one of each"):
        pair_files(o, c / "a.png")
    with pytest.raises(ImageError, match="not found"):
        pair_files(o, tmp_path / "missing")


def test_bad_pairs_become_warnings(folders, tiny_weights, tmp_path):
    root, _ = folders
    small = tmp_path / "small.png"
    Image.new("RGB", (40, 40)).save(small)
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), countermeasures=())
    pairs = [(root / "originals" / "bordighera.png", small), (root / "originals" / "bordighera.png", root / "cloaked" / "bordighera.png")]
    report = audit(pairs, settings, weights_dir=tiny_weights)
    assert len(report.images) == 1 and "pair each original" in report.warnings[0]
    with pytest.raises(ImageError, match="no pair could be audited"):
        audit(pairs[:1], settings, weights_dir=tiny_weights)


def test_settings_and_countermeasure_lists_are_checked():
    assert parse_countermeasures("all") == ALL_COUNTERMEASURES
    assert parse_countermeasures("none") == ()
    assert parse_countermeasures("jpeg75, impress") == ("jpeg75", "impress")
    with pytest.raises(ConfigError, match="unknown countermeasure 'jpeg12'"):
        parse_countermeasures("jpeg12")
    with pytest.raises(ConfigError, match="unknown countermeasure"):
        AuditSettings(target_style=STYLE, countermeasures=("sharpen",))


@pytest.mark.weights
@pytest.mark.paintings
def test_audit_with_the_mimic_proxy(tmp_path, weights_dir, paintings_dir):
    root, _ = cloaked_pair(tmp_path, paintings_dir / "claude-monet" / "bordighera.jpg", weights_dir)
    mimic = MimicSettings(paintings_dir, content=2, countermeasures=("none", "jpeg75"), judge_size=128)
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), countermeasures=("jpeg75",))
    report = audit(pair_files(root / "originals", root / "cloaked")[0], settings, mimic=mimic, weights_dir=weights_dir)
    assert report.mimic["artist"] == "Claude Monet"  # inferred from the file name
    assert set(report.mimic["countermeasures"]) == {"none", "jpeg75"}
    assert {"victim_score_clean", "victim_score_cloaked", "score_drop", "base_score"} <= set(report.mimic["countermeasures"]["none"])
    assert "Latent style-mimic proxy" in report.to_markdown() and "score drop" in report.to_markdown()
    with pytest.raises(ConfigError, match="needs countermeasure 'impress'"):
        audit([], settings, mimic=MimicSettings(paintings_dir), weights_dir=weights_dir)


def test_a_shared_memo_purifies_each_image_once(folders, tiny_weights, monkeypatch):
    root, _ = folders
    calls = []
    monkeypatch.setattr(audit_module, "purify", lambda x, *a, **k: calls.append(x) or purify(x, *a, **k))
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), countermeasures=("impress",), transfer=(), purify=PurifySettings(steps=1))
    pairs, memo = pair_files(root / "originals", root / "cloaked")[0], {}
    first = audit(pairs, settings, weights_dir=tiny_weights, memo=memo)
    assert len(calls) == 2  # original and cloak
    second = audit(pairs, settings, weights_dir=tiny_weights, memo=memo)
    assert len(calls) == 2 and second.summary["countermeasures"] == first.summary["countermeasures"]


def test_cli_runs_end_to_end(folders, tiny_weights, tmp_path):
    root, _ = folders
    out = tmp_path / "out"
    args = ["audit", str(root / "originals"), str(root / "cloaked"), "--style", STYLE, "--work-size", str(SIZE),
            "--countermeasures", "jpeg75", "--weights-dir", str(tiny_weights),
            "--json", str(out / "a.json"), "--markdown", str(out / "a.md"), "--plot", str(out / "a.png")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    data = json.loads((out / "a.json").read_text())
    assert set(data["summary"]["countermeasures"]) == {"jpeg75"}
    assert (out / "a.md").exists() and (out / "a.png").exists()
    assert "Protection audit" in res.output


def test_cli_needs_a_target_style_when_none_was_recorded(folders, tiny_weights, tmp_path):
    root, _ = folders
    bare = tmp_path / "bare"
    bare.mkdir()
    with Image.open(root / "cloaked" / "bordighera.png") as im:
        im.save(bare / "bordighera.png")  # the pixels without protect's XMP record
    res = CliRunner().invoke(main, ["audit", str(root / "originals"), str(bare), "--weights-dir", str(tiny_weights)])
    assert res.exit_code == 1
    assert "--style" in res.output and "Traceback" not in res.output


def test_every_mimic_size_is_measured_and_the_headline_is_the_worst(folders, tiny_weights):
    """Sizes above the image's long side are measured once, at its own size; headlines are minima over sizes."""
    root, _ = folders
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(64, 96, 128), countermeasures=("jpeg75",))
    report = audit(pair_files(root / "originals", root / "cloaked")[0], settings, weights_dir=tiny_weights)
    summary = json.loads(report.to_json())["summary"]
    sizes = summary["sizes"]
    assert list(sizes) == ["64", "96", "128"]
    assert sizes["128"] == sizes["96"]  # the 96 px image is not enlarged
    for key in ("target_progress", "transfer_progress"):
        assert summary[key] == min(s[key] for s in sizes.values())
        assert summary["countermeasures"]["jpeg75"][key] == min(s["countermeasures"]["jpeg75"][key] for s in sizes.values())
    assert str(summary["worst_size"]) in sizes and sizes[str(summary["worst_size"])]["target_progress"] == summary["target_progress"]
    assert sizes["64"]["target_progress"] != sizes["96"]["target_progress"]
    assert summary["view_change"] == min(s["view_change"] for s in sizes.values()) and sizes["64"]["view_change"] > 0
    image = report.images[0]
    assert image["sizes"]["96"]["long_side"] == image["sizes"]["128"]["long_side"] == 96
    assert "worst mimic size" in report.to_markdown().lower()
