"""Replication report (issue 14 part 1): the small model on the test profile, every section present, the
manifest regenerates the same keys, the published-value tables mark disagreements, the CLI writes it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compute.profiles import PROFILES
from compute.cache import ArtifactCache
from compute.config import Settings
from compute.jobs import Cancelled, JobControl
from compute.report import (REPORT_VERSION, SOURCE_VIEWS, ReportPlan, _disagrees, compute_report,
                            comparison_tables, keys_from_manifest, plan_for)
from compute.sources import RunSettings

TEST = PROFILES["test"]


@pytest.fixture(scope="module")
def built(tmp_path_factory, data_dir):
    """The small model's report with its cache and output folder. Kept short (about 70 s of CPU): one
    module, no tubularity sensitivity grid, alignment without DSA (its bootstraps and nulls cost most)."""
    from app.report import render_report

    root = tmp_path_factory.mktemp("report")
    settings = Settings(cache_dir=root, data_dir=data_dir)
    cache = ArtifactCache(root / "artifacts")
    views = {**TEST["views"], "tubularity": {"n_boot": 3, "sensitivity": False},
             "alignment": {"methods": ["rsa", "cca", "lp"]}}
    plan = plan_for("conv3d-random", profile="test", run=RunSettings(**TEST["run"]), view_options=views,
                    modules=("Pool",))
    stages = []
    result = compute_report(plan, cache=cache, settings=settings,
                            control=JobControl(progress=lambda f, text: stages.append((f, text))))
    path = render_report(result, root / "out")
    return {"result": result, "path": path, "settings": settings, "stages": stages, "cache": cache}


@pytest.mark.slow
def test_every_section_present(built):
    result, page = built["result"], built["path"].read_text()
    assert len(result.keys) == 3 * len(SOURCE_VIEWS) + 2                    # 1 module + 2 datasets; 2 alignments
    for section in ("manifest", "tables", "alignment", *SOURCE_VIEWS):
        assert f"<section id='{section}'>" in page
    for label in ("Pool", "retina", "V1"):
        assert label in page
    assert page.count("Plotly.newPlot") >= 3 * 4 + 2                         # every source's views + alignment
    assert page.count("<script type='text/javascript'>") == 1 and "<script src" not in page  # plotly.js inline once
    assert "published column refers to the trained FNN" in page               # random weights say so
    data = built["path"].parent / "data"
    for item in result.keys:
        stem = item.replace("|", "__").replace(":", "_").replace("+", "_").replace(" ", "_")
        assert (data / f"{stem}.npz").exists() and json.loads((data / f"{stem}.json").read_text())["key"]
    stages = built["stages"]
    assert stages[-1] == (1.0, "report computed") and all(a[0] <= b[0] + 1e-9 for a, b in zip(stages, stages[1:]))


@pytest.mark.slow
def test_manifest_round_trips(built):
    manifest = json.loads((built["path"].parent / "manifest.json").read_text())
    assert manifest["report_version"] == REPORT_VERSION
    assert keys_from_manifest(manifest, built["settings"]) == manifest["keys"] == built["result"].keys
    assert manifest["plan"]["run"]["n_frames"] == 12 and manifest["plan"]["view_options"]["tubularity"]["n_boot"] == 3
    assert manifest["weights"]["untrained"] and manifest["weights"]["weights_id"]
    assert len(manifest["stimulus_suite_sha256"]) == 32 and manifest["packages"]["numpy"] == np.__version__
    assert manifest["started"] <= manifest["finished"] and manifest["machine"]["cpus"] >= 1
    # a second run is served from the cache: same keys, nothing recomputed
    again = compute_report(ReportPlan.from_json(manifest["plan"]), cache=built["cache"], settings=built["settings"])
    assert again.keys == manifest["keys"]
    manifest["report_version"] = 0
    with pytest.raises(ValueError, match="manifest has report_version 0; this twinscope reads version 1"):
        keys_from_manifest(manifest)


@pytest.mark.slow
def test_tables(built):
    tables = comparison_tables(built["result"])
    assert tables["decoding"] == []                                           # no published value for Pool
    tub = {(r["source"], r["metric"]): r for r in tables["tubularity"]}
    assert set(tub) == {(s, m) for s in ("retina", "V1") for m in ("s_tight", "s_cross")}
    assert tub[("V1", "s_tight")]["published"] == 0.135
    assert [r["claim"] for r in tables["alignment"]] == ["Rec is the most aligned module with retina",
                                                         "Rec is the most aligned module with V1"]


def test_disagreement_rule():
    assert not _disagrees(0.60, 0.01, 0.59, 0.005)                            # within 2 SD + rounding
    assert _disagrees(0.70, 0.01, 0.59, 0.005)
    assert not _disagrees(0.30, 0.0, 0.3049, 0.005)


def test_cancel_and_errors(tmp_path, data_dir):
    plan = plan_for("conv3d-random", run=RunSettings(**TEST["run"]), modules=("Pool",))
    with pytest.raises(Cancelled):
        compute_report(plan, cache=ArtifactCache(tmp_path / "a"), settings=Settings(tmp_path, data_dir),
                       control=JobControl(cancelled=lambda: True))
    with pytest.raises(ValueError, match="has no module 'Rec'"):
        plan_for("conv3d-random", modules=("Rec",))


@pytest.mark.slow
def test_cli_writes_the_report(built, tmp_path, monkeypatch, capsys):
    from compute.cli import main

    manifest = built["path"].parent / "manifest.json"
    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(built["settings"].cache_dir))
    monkeypatch.setenv("TWINSCOPE_DATA_DIR", str(built["settings"].data_dir))
    assert main(["report", "--manifest", str(manifest), "--out", str(tmp_path / "again")]) == 0
    assert "wrote" in capsys.readouterr().out
    again = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert again["keys"] == json.loads(manifest.read_text())["keys"]
    # the HTML comes from python -m app.report in a child process (compute never imports app/)
    assert (tmp_path / "again" / "report.html").read_text().count("Plotly.newPlot") >= 3 * 4 + 2
