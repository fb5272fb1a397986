"""Figure-ready collectors (``app.collect``) on view artefacts computed or planted in a temp cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app import collect
from compute.config import Settings
from compute.sources import Source, source_key
from compute.workflows import compute_view, load_view
from tests.app.conftest import complete_artifact
from tests.compute.test_workflows import N_TIME, tiny_set


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


class TestCollectors:
    def test_accuracy_series(self, tmp_cache, settings, rng):
        keys = {}
        for name in ["A", "B"]:
            source = Source("model", "fnn-random", name)
            tmp_cache.put_responses(f"responses-{name}", tiny_set(rng, label=name))
            tmp_cache.put(source_key(source, settings=settings), {}, {"responses_key": f"responses-{name}"})
            keys[name] = compute_view("accuracy", source, cache=tmp_cache, settings=settings, windows=False)
        series = collect.accuracy_series(keys, cache=tmp_cache)
        assert series["x"] == ["A", "B"] and series["chance"] == pytest.approx(1 / 6)
        # separable classes: both decoders are perfect
        assert series["series"]["logistic regression"] == [1.0, 1.0] and series["series"]["3-NN"] == [1.0, 1.0]
        assert series["untrained"] is False and series["reconstructed"] is True

    def test_accuracy_windows_reads_rows(self, tmp_cache):
        planted = np.arange(2 * 5, dtype=float).reshape(2, 5)
        tmp_cache.put("view-accuracy-planted", *complete_artifact(
            "accuracy", {"time": np.arange(5.0), "window_logistic": planted, "window_logistic_sd": planted / 10,
                         "window_knn": -planted}, {"label": "x", "time_unit": "s", "chance": 0.1}))
        windows = collect.accuracy_windows("view-accuracy-planted", cache=tmp_cache)
        assert windows["chance"] == 0.1 and windows["x_title"] == "window boundary t (s)"
        np.testing.assert_array_equal(windows["series"]["logistic, decreasing [t..end]"], planted[1])
        np.testing.assert_array_equal(windows["series"]["3-NN, increasing [0..t]"], -planted[0])
        np.testing.assert_array_equal(windows["errors"]["logistic, increasing [0..t]"], planted[0] / 10)

    def test_tubularity_comparison(self, tmp_cache):
        boots = {"retina": np.linspace(0.05, 0.07, 10), "Rec": np.linspace(0.2, 0.3, 10),
                 "V1": np.linspace(0.01, 0.02, 10)}
        keys = {}
        for name, boot in boots.items():
            keys[name] = f"view-tubularity-{name.lower()}"
            tmp_cache.put(keys[name], *complete_artifact(
                "tubularity", {"s_tight_boot": boot, "s_cross_boot": boot / 100},
                {"s_tight": boot.mean(), "s_tight_se": 0.01, "s_cross": 1e-5, "s_cross_se": 1e-6,
                 "reconstructed": name != "Rec"}))
        out = collect.tubularity_comparison(keys, reference="retina", cache=tmp_cache)
        assert out["names"] == ["retina", "Rec", "V1"] and out["unreliable_cross"] == ["retina", "V1"]
        assert out["s_tight"] == pytest.approx([0.06, 0.25, 0.015])
        assert out["p_tight"]["Rec"] < 1e-3 < 0.99 < out["p_tight"]["V1"]  # retina tighter than Rec, not V1
        with pytest.raises(ValueError, match="reference 'bogus' is not one of the compared sources"):
            collect.tubularity_comparison(keys, reference="bogus", cache=tmp_cache)

    @pytest.mark.slow
    def test_alignment_and_collectors(self, tmp_cache, data_dir, rng):
        settings = Settings(cache_dir=tmp_cache.root, data_dir=Path(data_dir))
        source = Source("model", "fnn-random", "A")
        tmp_cache.put_responses("responses-A", tiny_set(rng, label="A", reconstructed=False))
        tmp_cache.put(source_key(source, settings=settings), {}, {"responses_key": "responses-A"})
        keys = {"A": {"V1": compute_view("alignment", source, cache=tmp_cache, settings=settings,
                                         dataset="V1", methods=("rsa", "cca"))}, "B": {}}
        arrays, meta = load_view(keys["A"]["V1"], cache=tmp_cache)
        assert arrays["values"].shape == (2, 10) and arrays["per_time"].shape == (2, 10, N_TIME)
        assert meta["methods"] == ["rsa", "cca"] and meta["reconstructed"] is True and meta["dsa_z"] is None
        rsa = meta["scores"]["rsa"]
        assert rsa["low"] <= rsa["mean"] <= rsa["high"]
        assert meta["mean_alignment"] == pytest.approx(arrays["values"].mean(axis=1).mean())
        series = collect.alignment_series(keys, cache=tmp_cache)
        assert series["modules"] == ["A", "B"] and set(series["scores"]["V1"]) == {"rsa", "cca"}
        means = series["scores"]["V1"]["rsa"]["mean"]
        assert means[0] == rsa["mean"] and np.isnan(means[1])
        table = collect.alignment_table_data(keys, cache=tmp_cache)
        assert table["modules"] == ["A", "B"] and table["means"]["V1"][0] == meta["mean_alignment"]
        assert np.isnan(table["means"]["V1"][1])
