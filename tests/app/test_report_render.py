"""``python -m app.report OUT``: the renderer that ``python -m compute report`` runs in a child process (the
whole path is tests/compute/test_report.py::test_cli_writes_the_report); here its refusals."""

from __future__ import annotations

import json

import pytest

from app.report import main
from compute.cache import ArtifactCache
from compute.profiles import PROFILES
from compute.report import REPORT_VERSION, ReportPlan, plan_for, written_result
from compute.sources import RunSettings


@pytest.fixture
def plan_json() -> dict:
    """A small plan as manifest.json holds it (JSON lists, not tuples)."""
    return json.loads(json.dumps(plan_for("conv3d-random", profile="test", run=RunSettings(**PROFILES["test"]["run"]),
                                          modules=("Pool",)).to_json()))


def _write_manifest(folder, **manifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_folder_without_a_report_says_how_to_write_one(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err and not (tmp_path / "report.html").exists()


def test_another_report_version_is_refused(tmp_path, plan_json, capsys):
    _write_manifest(tmp_path, report_version=REPORT_VERSION + 1, plan=plan_json, keys={})
    assert main([str(tmp_path)]) == 2
    assert f"report_version {REPORT_VERSION + 1}" in capsys.readouterr().err


def test_views_missing_from_the_cache_name_the_command_that_recomputes_them(tmp_path, plan_json, capsys,
                                                                           monkeypatch):
    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path / "empty-cache"))
    keys = {"decoding|bio:retina": "view-decoding-0000"}
    _write_manifest(tmp_path / "out", report_version=REPORT_VERSION, plan=plan_json, keys=keys)
    assert main([str(tmp_path / "out")]) == 2
    assert "--manifest" in capsys.readouterr().err and not (tmp_path / "out" / "report.html").exists()


def test_written_result_reads_plan_and_keys_from_the_manifest(tmp_path, plan_json):
    keys = {"decoding|bio:retina": "view-decoding-0000"}
    _write_manifest(tmp_path, report_version=REPORT_VERSION, plan=plan_json, keys=keys)
    result = written_result(tmp_path, cache=ArtifactCache(tmp_path / "cache"))
    assert result.keys == keys and result.plan == ReportPlan.from_json(plan_json) and result.manifest["keys"] == keys
