"""The protection methods (glaze, mist, photoguard): one optimiser, three targets, the same caps."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from helpers import STYLE, painting_crop, to_tensor
from PIL import Image

from stylecloak.api import Protector, provenance
from stylecloak.audit import AuditSettings, audit_pair
from stylecloak.cli import main
from stylecloak.cloak import METHODS, FixedTargetMethod, PhotoGuard, get_method
from stylecloak.cloak.mist import pattern
from stylecloak.config import DEFAULT_METHOD, INTENSITY, ProtectSettings
from stylecloak.errors import ConfigError
from stylecloak.io import LoadedImage, read_xmp, xmp_values
from stylecloak.perceptual import psnr

SIZE = 64
FAST = {"steps": 10, "work_size": SIZE, "view_sizes": ()}


def test_fixed_targets_are_drawn_here_and_deterministic():
    p = pattern((40, 70))
    assert p.shape == (1, 3, 40, 70) and set(p.unique().tolist()) == {0.0, 1.0}
    assert 0.3 < float(p.mean()) < 0.7  # high contrast: about half black, half white
    assert torch.equal(p, pattern((40, 70))) and torch.equal(p[..., :32, :32], pattern((32, 32)))
    grey = get_method("photoguard").aim(None, None, {})(torch.rand(1, 3, 8, 8), (8, 8))
    assert torch.equal(grey, torch.full((1, 3, 8, 8), 0.5))
    assert torch.equal(get_method("mist").aim(None, "ignored", {})(grey, (8, 8)), pattern((8, 8)))
    labels = {name: m.target_label("woodcut") for name, m in METHODS.items()}
    assert labels == {"glaze": "woodcut", "mist": "mist-pattern", "photoguard": "flat-grey"}
    assert [name for name, m in METHODS.items() if m.needs_style] == ["glaze"] and not METHODS["glaze"].published
    assert all(name == m.name and m.summary for name, m in METHODS.items()) and DEFAULT_METHOD in METHODS
    assert all(isinstance(m, FixedTargetMethod) == (not m.needs_style) for m in METHODS.values())


def test_unknown_method_is_refused_before_any_model_loads(tmp_path):
    with pytest.raises(ConfigError, match="unknown method 'nightshade'; choose one of glaze, mist, photoguard"):
        Protector(ProtectSettings(method="nightshade"), weights_dir=tmp_path)  # an empty folder: no weights needed
    with pytest.raises(ConfigError, match="unknown method 'nightshade'"):
        AuditSettings(target_style=STYLE, method="nightshade")


@pytest.fixture(scope="module")
def cloaks(tmp_path_factory, art_files, tiny_weights):
    """A 64 px crop of a synthetic painting cloaked by each method at the default intensity (10 steps, no EOT), saved as PNG."""
    root = tmp_path_factory.mktemp("methods")
    original = root / "original.png"
    painting_crop(art_files[0], SIZE).save(original)
    results = {}
    for method in METHODS:
        settings = ProtectSettings(method=method, quality="fast", target_style=STYLE, overrides=FAST, record_settings=True)
        result = Protector(settings, weights_dir=tiny_weights).protect(original)
        result.save(root / f"{method}.png")
        results[method] = result
    return root, results


def test_each_method_moves_latents_toward_its_own_target_within_the_caps(cloaks, tiny_weights):
    root, results = cloaks
    x = to_tensor(Image.open(root / "original.png"))
    caps = INTENSITY["default"]
    progress = {}  # (cloaked by, target of) -> TP measured by the audit
    for made_by in METHODS:
        result = results[made_by]
        delta = result.cloaked - x
        assert float(delta.abs().max()) <= caps["max_linf"] + 0.5 / 255 + 1e-6  # + 8-bit rounding
        assert float(psnr(x, result.cloaked)) >= caps["min_psnr"] - 1e-6
        for aimed in METHODS:
            settings = AuditSettings(target_style=METHODS[aimed].target_label(STYLE), method=aimed, mimic_sizes=(SIZE,), countermeasures=(), transfer=())
            progress[made_by, aimed] = audit_pair(root / "original.png", root / f"{made_by}.png", settings, weights_dir=tiny_weights)["target_progress"]
    for method in METHODS:
        assert progress[method, method] > 0.05, (method, progress)
        assert progress[method, method] == pytest.approx(results[method].target_progress, abs=0.02)
        others = [progress[other, method] for other in METHODS if other != method]
        assert progress[method, method] > max(others), (method, progress)  # each cloak aims at its own target


def test_results_and_files_name_the_method(cloaks):
    root, results = cloaks
    for method in METHODS:
        summary = results[method].summary()
        assert summary["method"] == method and summary["target_style"] == METHODS[method].target_label(STYLE)
        props = xmp_values(read_xmp(root / f"{method}.png"))
        assert props["method"] == method and props["targetStyle"] == summary["target_style"]
        record = provenance(results[method].settings)
        assert record["method"] == method and record["targetStyle"] == summary["target_style"]


def test_published_budget_is_an_linf_cap_reached_by_sign_steps(small_art, tiny_weights):
    settings = ProtectSettings(method="photoguard", target_style=STYLE, overrides={**PhotoGuard.published, "steps": 6, "work_size": SIZE, "view_sizes": ()})
    assert settings.cloak.method == "sign" and settings.cloak.min_psnr is None
    image = small_art[..., :SIZE, :SIZE]
    loaded = LoadedImage(path=None, rgb=image, alpha=None, mode="RGB", format="PNG", info={}, frames=1)
    result = Protector(settings, weights_dir=tiny_weights).protect(loaded)
    delta = (result.cloaked - image).abs()
    assert float(delta.max()) <= PhotoGuard.published["max_linf"] + 0.5 / 255 + 1e-6
    assert float((delta >= 0.02).float().mean()) > 0.3  # sign steps push most pixels toward the cap
    assert result.target_progress > 0.05


def test_cli_protect_and_audit_with_a_method(tmp_path, art_files, tiny_weights):
    originals, protected = tmp_path / "originals", tmp_path / "protected"
    originals.mkdir()
    painting_crop(art_files[0], 48).save(originals / "a.png")
    run = CliRunner().invoke
    common = ["--quality", "fast", "--steps", "2", "--weights-dir", str(tiny_weights)]
    res = run(main, ["protect", str(originals), "--out", str(protected), "--method", "photoguard", "--record-settings", *common])
    assert res.exit_code == 0, res.output
    assert "target style: flat-grey  (method photoguard," in res.output
    props = xmp_values(read_xmp(protected / "a.png"))
    assert props["method"] == "photoguard" and props["targetStyle"] == "flat-grey"
    res = run(
        main,
        [
            "audit",
            str(originals),
            str(protected),
            "--countermeasures",
            "none",
            "--transfer",
            "",
            "--weights-dir",
            str(tiny_weights),
            "--json",
            str(tmp_path / "a.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["settings"]["method"] == "photoguard" and data["settings"]["target_style"] == "flat-grey"
    res = run(main, ["protect", str(originals), "--out", str(tmp_path / "o2"), "--method", "mist", "--style", "woodcut", *common])
    assert res.exit_code == 1 and "--style is for --method glaze" in res.output
    assert "semantic loss needs a diffusion UNet" in " ".join(run(main, ["protect", "--help"]).output.split())  # however --help wraps
