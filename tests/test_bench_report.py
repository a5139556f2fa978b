"""bench/report.py renders the docs' tables from bench/results, and --check catches tables that drifted."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _module("report")

RECORD = {
    "bench": "throughput",
    "command": "python bench/throughput.py --count 4",
    "commit": "0123abcd",
    "date": "2026-01-02",
    "machine": {"cpu": {"model": "Test CPU", "flags": ["avx2"], "cores": 2}, "gpu": None, "torch": "2.13.0", "threads": 2},
    "rows": [{"case": "local", "wall_s": 243.31, "images_per_hour": 59, "same_bytes_as_local": "yes"}],
}
STALE = "Intro.\n\n<!-- table: demo -->\n| old | table |\n<!-- /table -->\n\nOutro.\n"


@pytest.fixture
def results(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    folder.mkdir()
    monkeypatch.setattr(report, "RESULTS", folder)
    (folder / "demo.json").write_text(json.dumps(RECORD))
    return folder


def test_renders_rows_and_source_between_markers(results, tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(STALE)
    assert report.main([str(doc)]) == 0
    text = doc.read_text()
    assert "| local | 243.3 | 59 | yes |" in text
    assert "`python bench/throughput.py --count 4`; commit 0123abcd, 2026-01-02; Test CPU (avx2), 2 threads; torch 2.13.0" in text
    assert "| old | table |" not in text
    assert text.startswith("Intro.\n\n<!-- table: demo -->\n") and text.endswith("<!-- /table -->\n\nOutro.\n")


def test_check_fails_on_a_stale_table_and_changes_nothing(results, tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text(STALE)
    assert report.main(["--check", str(doc)]) == 1
    assert "doc.md" in capsys.readouterr().err
    assert doc.read_text() == STALE
    report.main([str(doc)])
    assert report.main(["--check", str(doc)]) == 0


def test_check_fails_when_the_data_changes(results, tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(STALE)
    report.main([str(doc)])
    (results / "demo.json").write_text(json.dumps(RECORD | {"rows": [RECORD["rows"][0] | {"wall_s": 100.0}]}))
    assert report.main(["--check", str(doc)]) == 1


def test_a_missing_results_file_is_named(results, tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- table: nowhere -->\n<!-- /table -->\n")
    assert report.main(["--check", str(doc)]) == 1
    err = capsys.readouterr().err
    assert "nowhere.json: no such results file" in err and "doc.md" in err


def test_a_results_file_without_provenance_is_refused(results, tmp_path, capsys):
    (results / "demo.json").write_text(json.dumps({k: v for k, v in RECORD.items() if k not in ("commit", "machine")}))
    doc = tmp_path / "doc.md"
    doc.write_text(STALE)
    assert report.main([str(doc)]) == 1
    assert "demo.json: missing commit, machine" in capsys.readouterr().err
    assert doc.read_text() == STALE


def test_dict_columns_expand_and_negatives_use_the_minus_sign():
    rows = [{"m": "glaze", "drop": {"none": -0.25, "jpeg75": 0.1}}]
    assert report.table(rows, [("method", "m", ""), ("drop", "drop", "+.3f")]) == [["method", "drop none", "drop jpeg75"], ["glaze", "−0.250", "+0.100"]]


def test_every_results_file_renders_and_the_docs_are_current():
    for path in sorted((BENCH / "results").glob("*.json")):
        record = report.load(path.stem)
        assert record["rows"], path
    assert report.main(["--check"]) == 0


def test_results_record_says_where_it_ran():
    common = _module("common")
    cpuinfo = "processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 avx512f avx512_bf16\n"
    assert common.cpu_info(cpuinfo)["model"] == "Example CPU 9000"
    assert common.cpu_info(cpuinfo)["flags"] == ["sse4_2", "avx", "avx2", "avx512f", "avx512_bf16"]
    record = common.results_record("demo", [{"a": 1}], settings={"x": 2})
    assert {"bench", "command", "commit", "date", "machine", "rows", "settings"} <= set(record)
    assert record["machine"]["torch"] and record["rows"] == [{"a": 1}]


def test_markers_inside_code_blocks_are_left_alone(results, tmp_path):
    example = "```markdown\n<!-- table: nowhere -->\n<!-- /table -->\n```\n\n"
    doc = tmp_path / "doc.md"
    doc.write_text(example + STALE)
    assert report.main([str(doc)]) == 0
    assert doc.read_text().startswith(example) and "| local | 243.3 |" in doc.read_text()
