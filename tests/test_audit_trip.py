"""The audit measures what a mimic really gets: the repost trip, the visibility referee, style progress.

Weight-free tests first; those marked ``weights`` audit tiny crops with the real encoders.
"""

from __future__ import annotations

import ast
import io
import json
import math
from pathlib import Path

import pytest
import torch
from helpers import STYLE, painting_crop, to_tensor
from PIL import Image, JpegImagePlugin

import stylecloak.audit.measure as audit_module
from stylecloak.api import Protector
from stylecloak.audit import AuditSettings, audit, audit_pair
from stylecloak.audit.report import protection
from stylecloak.audit.style_progress import latent_style, style_progress
from stylecloak.config import ProtectSettings
from stylecloak.referee import mean_and_worst, ms_ssim_scales, visibility
from stylecloak.styles import LatentStats, adain
from stylecloak.transforms import COUNTERMEASURES, REPOSTS, jpeg, repost

SRC = Path(__file__).resolve().parents[1] / "src" / "stylecloak"


def textured(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth colour field with fine texture, (1,3,h,w) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), (h, w), mode="bilinear", align_corners=False)
    return (0.8 * coarse + 0.2 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


@pytest.fixture
def served(monkeypatch) -> list[Image.Image]:
    """Every JPEG the countermeasures write, reopened as a platform's visitor (the mimic) would download it."""
    files: list[Image.Image] = []
    save = Image.Image.save

    def spy(self, fp, format=None, **params):
        save(self, fp, format=format, **params)
        if format == "JPEG":
            files.append(Image.open(io.BytesIO(fp.getvalue())))

    monkeypatch.setattr(Image.Image, "save", spy)
    return files


def reference_tables(size: tuple[int, int], quality: int) -> dict:
    """The quantisation tables libjpeg writes at ``quality``."""
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, format="JPEG", quality=quality, subsampling=2)
    return Image.open(io.BytesIO(buf.getvalue())).quantization


# --------------------------------------------------------------------------- the repost trip


@pytest.mark.parametrize(("name", "side", "quality"), [("repost_1080", 1080, 75), ("repost_2048", 2048, 85)])
def test_repost_serves_the_long_side_at_the_platform_quality(name, side, quality, served):
    x = textured(1500, side + 600)
    out = COUNTERMEASURES[name](x, 0)
    (file,) = served
    assert file.size == (side, round(1500 * side / (side + 600)))  # long side brought to the platform's, aspect kept
    assert tuple(out.shape[-2:]) == (file.height, file.width)
    assert JpegImagePlugin.get_sampling(file) == 2  # 4:2:0
    assert file.quantization == reference_tables(file.size, quality)
    assert torch.equal(out, to_tensor(file.convert("RGB")))  # the mimic gets the decoded JPEG itself


def test_repost_never_enlarges_a_smaller_image_only_re_encodes_it(served):
    x = textured(300, 200)
    for name in REPOSTS:
        out = COUNTERMEASURES[name](x, 0)
        assert out.shape == x.shape
    assert [f.size for f in served] == [(200, 300), (200, 300)]
    assert torch.equal(repost(x, 1080, 75), jpeg(x, 75))


def test_reposts_are_on_by_default():
    assert set(REPOSTS) <= set(AuditSettings(target_style=STYLE).countermeasures)


def test_headline_is_the_worst_size_after_the_repost_trip():
    def block(tp, sp, reposts):
        return {
            "target_progress": tp,
            "style_progress": sp,
            "countermeasures": {c: {"target_progress": v, "style_progress": v / 2} for c, v in reposts.items()},
        }

    per_size = {
        "512": block(0.4, 0.2, {"jpeg75": 0.05, "repost_1080": 0.3, "repost_2048": 0.35}),
        "1024": block(0.3, 0.1, {"jpeg75": 0.1, "repost_1080": 0.2, "repost_2048": 0.25}),
    }
    assert protection(per_size) == {"target_progress": 0.2, "style_progress": 0.1, "countermeasure": "repost_1080", "size": 1024}
    without = {k: {**v, "countermeasures": {"jpeg75": v["countermeasures"]["jpeg75"]}} for k, v in per_size.items()}
    assert protection(without) == {"target_progress": 0.3, "style_progress": 0.1, "countermeasure": "none", "size": 1024}


# --------------------------------------------------------------------------- the visibility referee


def test_identical_images_are_invisible():
    x = textured(200, 240)
    assert visibility(x, x) == {"psnr_db": math.inf, "ssim": 1.0, "ms_ssim": 1.0, "vif": 1.0}


def test_referee_ranks_stronger_noise_as_more_visible():
    x = textured(200, 240)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    weak, strong = (visibility(x, ((x + s / 255 * noise).clamp(0, 1) * 255).round() / 255) for s in (2, 8))
    for k in ("psnr_db", "ssim", "ms_ssim", "vif"):
        assert weak[k] > strong[k], k
    for v in (weak, strong):
        assert 0 < v["ssim"] < 1 and 0 < v["ms_ssim"] < 1 and 0 < v["vif"] < 1
    assert strong["vif"] < 0.9  # on the 8-bit scale VIF's visual noise is defined on: not ≈ 1 for everything


def test_small_images_use_fewer_ms_ssim_scales():
    assert [ms_ssim_scales(s) for s in (10, 11, 12, 44, 99, 176, 4000)] == [0, 1, 2, 3, 4, 5, 5]
    for side in (11, 12, 43, 44, 98, 99, 175):
        x = textured(side, side + 3)
        v = visibility(x, (x + 0.02).clamp(0, 1))
        assert 0 < v["ms_ssim"] <= 1, side
        assert (v["vif"] is None) == (side < 41), side
    assert visibility(textured(10, 40), textured(10, 40, seed=1))["ms_ssim"] is None


def test_mean_and_worst_over_images():
    records = [{"psnr_db": 34.0, "ssim": 0.9, "ms_ssim": 0.98, "vif": 0.6}, {"psnr_db": 32.0, "ssim": 0.95, "ms_ssim": 0.96, "vif": None}]
    assert mean_and_worst(records) == {
        "mean": {"psnr_db": 33.0, "ssim": 0.925, "ms_ssim": 0.97, "vif": 0.6},
        "worst": {"psnr_db": 32.0, "ssim": 0.9, "ms_ssim": 0.96, "vif": 0.6},
    }


def _imports(path: Path) -> set[str]:
    """The stylecloak modules ``path`` imports (absolute names)."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    package = package.rsplit(".", 1)[0] if path.name != "__init__.py" else package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found |= {module, *(f"{module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("stylecloak")}


def test_the_optimiser_never_imports_the_referee():
    """Nothing the cloak package reaches through its imports is the referee (or torchmetrics). The walk skips the
    top-level package, the public façade Python runs before any submodule (it reaches everything)."""
    files = {".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__"): p for p in SRC.rglob("*.py")}
    del files["stylecloak"]
    seen, todo = set(), [m for m in files if m.startswith("stylecloak.cloak")]
    while todo:
        module = todo.pop()
        if module in seen or module not in files:
            continue
        seen.add(module)
        todo += _imports(files[module])
    assert "stylecloak.cloak.optimiser" in seen and "stylecloak.transforms.eot" in seen  # the walk follows imports
    assert "stylecloak.referee" not in seen
    assert not any("torchmetrics" in files[m].read_text() for m in seen)


# --------------------------------------------------------------------------- style progress


def test_style_progress_is_zero_unchanged_and_counts_the_way_to_the_target():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 16, 12, 10, generator=g)
    target = LatentStats(torch.randn(16, generator=g), torch.rand(16, generator=g) + 0.5)
    s_t = target.feature()
    assert style_progress(z, z.clone(), s_t) == 0
    assert style_progress(z, adain(z, target, 0.5), s_t) == pytest.approx(0.5, abs=1e-3)  # statistics moved halfway
    assert style_progress(z, adain(z, target, 1.0), s_t) == pytest.approx(1.0, abs=1e-3)
    assert style_progress(z, adain(z, target, -0.5), s_t) < 0  # moved away
    assert torch.allclose(latent_style(adain(z, target)), s_t, atol=1e-4)


# --------------------------------------------------------------------------- with the real encoders

SIZE = 96


@pytest.fixture(scope="module")
def cloak(tmp_path_factory, weights_dir, art_files):
    """A 96 px crop of a synthetic painting and its cloak (8 steps), as files, with the protect result."""
    root = tmp_path_factory.mktemp("trip")
    original = root / "bordighera.png"
    painting_crop(art_files[0], SIZE).save(original)
    settings = ProtectSettings(quality="fast", target_style=STYLE, overrides={"steps": 8, "work_size": SIZE})
    result = Protector(settings, weights_dir=weights_dir).protect(original)
    result.save(root / "cloaked.png")
    return original, root / "cloaked.png", result


@pytest.mark.weights
def test_protect_report_has_the_referees_numbers(cloak):
    original, cloaked, result = cloak
    summary = json.loads(json.dumps(result.summary()))
    v = summary["visibility"]
    assert set(v) == {"psnr_db", "ssim", "ms_ssim", "vif"}
    assert v["psnr_db"] == pytest.approx(result.psnr_db, abs=0.01)
    assert 0 < v["ssim"] < 1 and 0 < v["ms_ssim"] < 1 and 0 < v["vif"] < 1
    assert v == visibility(to_tensor(Image.open(original)), to_tensor(Image.open(cloaked)))  # the saved file is what is judged


@pytest.mark.weights
def test_audit_reports_style_progress_visibility_and_the_repost_rows(cloak, weights_dir):
    original, cloaked, _ = cloak
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(64, SIZE), countermeasures=("jpeg75", *REPOSTS), transfer=())
    report = audit([(original, cloaked)], settings, weights_dir=weights_dir)
    summary = json.loads(report.to_json())["summary"]
    for block in summary["sizes"].values():
        assert list(block["countermeasures"]) == ["jpeg75", *REPOSTS]
        for entry in (block, *block["countermeasures"].values()):
            assert -1 < entry["style_progress"] < 1 and entry["style_progress"] != 0
    assert summary["style_progress"] == min(b["style_progress"] for b in summary["sizes"].values())
    head = summary["protection"]
    assert head["countermeasure"] in REPOSTS
    assert head["target_progress"] == summary["sizes"][str(head["size"])]["countermeasures"][head["countermeasure"]]["target_progress"]
    assert head["target_progress"] == min(b["countermeasures"][c]["target_progress"] for b in summary["sizes"].values() for c in REPOSTS)
    assert summary["visibility"]["worst"] == report.images[0]["visibility"] == visibility(to_tensor(Image.open(original)), to_tensor(Image.open(cloaked)))
    text = report.to_markdown()
    assert "after the repost trip" in text and "| repost_1080 |" in text and "VIF" in text


@pytest.mark.weights
def test_unchanged_image_has_zero_style_progress_everywhere(cloak, weights_dir):
    original = cloak[0]
    record = audit_pair(
        original, original, AuditSettings(target_style=STYLE, mimic_sizes=(SIZE,), countermeasures=REPOSTS, transfer=()), weights_dir=weights_dir
    )
    block = record["sizes"][str(SIZE)]
    assert block["style_progress"] == 0 and all(e["style_progress"] == 0 for e in block["countermeasures"].values())
    assert record["visibility"]["psnr_db"] == math.inf


@pytest.mark.weights
def test_a_repost_smaller_than_the_mimic_size_is_measured_at_its_own_size(cloak, weights_dir, monkeypatch):
    """The mimic trains at the served size when the platform served less; the target is rendered there too."""
    original, cloaked, _ = cloak
    rendered: list[tuple[int, int]] = []
    target_image = audit_module._target_image

    def spy(models, view):
        rendered.append(tuple(view.shape[-2:]))
        return target_image(models, view)

    monkeypatch.setattr(audit_module, "_target_image", spy)
    monkeypatch.setitem(audit_module.COUNTERMEASURES, "repost_1080", lambda x, seed: repost(x, 48, 75))
    settings = AuditSettings(target_style=STYLE, mimic_sizes=(64,), countermeasures=("repost_1080",), transfer=())
    record = audit_pair(original, cloaked, settings, weights_dir=weights_dir)
    assert sorted(set(rendered)) == [(48, 48), (64, 64)]
    entry = record["sizes"]["64"]["countermeasures"]["repost_1080"]
    assert math.isfinite(entry["target_progress"]) and math.isfinite(entry["style_progress"])
