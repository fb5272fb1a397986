"""``python -m compute tubularity`` and ``align`` on tiny synthetic sources (the sources' responses patched;
the views are computed through ``compute.workflows.compute_view`` like the app's)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from compute.bio.datasets import BIO_STIMULI
from compute.cli import align as align_cli
from compute.cli import tubularity as tubularity_cli
from compute.responses import ResponseSet

MODEL_STIMULI = ("grat_W12", "grat_W1", "grat_W2", "neg1dotflow_D1_bg", "neg3dotflow_D1_bg", "neg1dotflow_D2_bg",
                 "neg3dotflow_D2_bg", "pos1dotflow_D1_bg", "pos3dotflow_D1_bg", "pos1dotflow_D2_bg",
                 "pos3dotflow_D2_bg")


def _bio(name: str, seed: int = 0) -> ResponseSet:
    rng = np.random.default_rng(len(name))
    resp = np.abs(rng.normal(size=(20, 6, 8, 1)) * np.sin(np.linspace(0.2, 3, 16)) + 0.1 * rng.normal(size=(20, 6, 8, 16)))
    return ResponseSet(resp.astype(np.float32), BIO_STIMULI, time=np.arange(16.0), time_unit="bin",
                       provenance={"label": f"{name} (reconstructed from published factors)", "reconstructed": True})


def _module(model: str, module: str, seed: int = 0) -> ResponseSet:
    if module == "Missing":
        raise KeyError(f"{model} / {module} has not been extracted; run `python -m compute extract`")
    rng = np.random.default_rng(7)
    resp = np.abs(rng.normal(size=(24, 11, 8, 1)) * np.linspace(0.1, 1, 10) + 0.1 * rng.normal(size=(24, 11, 8, 10)))
    return ResponseSet(resp.astype(np.float32), MODEL_STIMULI, provenance={"label": f"{model} / {module}"})


def _responses(source, **kwargs) -> ResponseSet:
    return _bio(source.name) if source.kind == "bio" else _module(source.name, source.module)


@pytest.fixture
def patched(monkeypatch, tmp_path):
    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("compute.workflows.source_responses", _responses)


def test_tubularity_table_and_csv(patched, tmp_path, capsys):
    out = tmp_path / "tub.csv"
    code = tubularity_cli.main(["--datasets", "retina", "--modules", "Rec", "Missing", "--n-boot", "2",
                                "--csv", str(out)])
    printed = capsys.readouterr()
    assert code == 1                                              # one module was missing
    assert "skipped Missing: fnn-random / Missing has not been extracted" in printed.err
    assert "S_tight (lower = tighter)" in printed.out and "mean +- SE over 2 unit bootstraps" in printed.out
    assert "S_cross is not reliable" in printed.out
    rows = list(csv.DictReader(out.open()))
    assert [r["source"] for r in rows] == ["retina", "Rec"] and rows[0]["reconstructed"] == "True"
    assert float(rows[1]["s_tight_mean"]) > 0 and rows[1]["n_boot"] == "2"


def test_tubularity_eps_rule(patched, tmp_path, capsys):
    """v1 had no --eps-rule (always the exact nearest-other-curve median); v2 defaults to the authors' rule."""
    values = {}
    for rule in ("authors", "exact"):
        out = tmp_path / f"{rule}.csv"
        extra = [] if rule == "authors" else ["--eps-rule", "exact"]
        assert tubularity_cli.main(["--datasets", "--modules", "Rec", "--n-boot", "2", "--csv", str(out), *extra]) == 0
        assert f"eps rule '{rule}'" in capsys.readouterr().out
        (row,) = csv.DictReader(out.open())
        assert row["eps_rule"] == rule
        values[rule] = row
    assert values["authors"]["s_tight_mean"] == values["exact"]["s_tight_mean"]   # S_tight does not use eps
    assert values["authors"]["s_cross_mean"] != values["exact"]["s_cross_mean"]
    with pytest.raises(SystemExit):
        tubularity_cli.main(["--eps-rule", "median"])
    assert "invalid choice: 'median'" in capsys.readouterr().err


def test_tubularity_nothing_to_do(patched, capsys):
    assert tubularity_cli.main(["--datasets"]) == 2
    assert "nothing to do" in capsys.readouterr().err


def test_align_table_and_csv(patched, tmp_path, capsys):
    out = tmp_path / "align.csv"
    code = align_cli.main(["--modules", "Rec", "--datasets", "retina", "V1", "--n-boot", "2", "--n-nulls", "3",
                           "--dsa-method", "wasserstein", "--csv", str(out)])  # angular: tests/compute/test_alignment
    printed = capsys.readouterr().out
    assert code == 0
    assert "RSA" in printed and "DSA z" in printed and "interactive preset, DSA wasserstein" in printed
    rows = list(csv.DictReader(out.open()))
    assert [(r["module"], r["dataset"]) for r in rows] == [("Rec", "retina"), ("Rec", "V1")]
    means = [float(rows[0][f"{m}_mean"]) for m in ("rsa", "cca", "lp", "dsa")]
    assert float(rows[0]["mean_alignment"]) == pytest.approx(np.mean(means))


def test_align_only_missing_modules(patched, capsys):
    assert align_cli.main(["--modules", "Missing", "--datasets", "V1"]) == 1
    assert "skipped Missing" in capsys.readouterr().err
