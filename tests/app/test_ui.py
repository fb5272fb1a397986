"""First-use behaviour of the app (issue 17): no cloud export, cost before Run, cheap defaults, relative
crossing epsilon, the Methods page's settings, the preferred direction of biology."""

from __future__ import annotations

import numpy as np
import pytest

from app.components import graph_config
from callbacks import explore, home, plan
from tests.app.conftest import decoding_arrays, plant_view

RETINA, V1 = "bio:retina", "bio:V1"
CONV1 = "model:conv3d-random:Conv1"
FNN_REC = "model:fnn-random:Rec"


# ---------------------------------------------------------------------------------------------- security
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_no_graph_can_send_data_to_the_cloud(fmt):
    """v1's config left plotly's defaults, whose mode bar could offer "Share chart" (send to plotly cloud)."""
    config = graph_config("x", fmt)
    assert config["showSendToCloud"] is False and config["showEditInChartStudio"] is False
    assert {"sendDataToCloud", "editInChartStudio"} <= set(config["modeBarButtonsToRemove"])
    assert config["plotlyServerURL"] == "" and config["toImageButtonOptions"]["format"] == fmt
    with pytest.raises(ValueError, match="image_format must be one of"):
        graph_config("x", "jpeg")


# ---------------------------------------------------------------------------------------------- crossings
class TestRelativeEpsilon:
    def test_epsilon_is_a_percentage_of_the_bounding_box_diagonal(self):
        curves = np.zeros((2, 3, 3))
        curves[1, 2] = [3.0, 4.0, 12.0]  # box diagonal 13
        assert explore.crossing_epsilon(curves, 10.0) == pytest.approx(1.3)

    def test_pair_counts_against_a_loop(self, rng):
        from compute.analysis.crossings import crossing_events

        curves = rng.normal(size=(6, 8, 3))
        stimulus_of = np.array([0, 0, 1, 1, 2, 2])
        events = crossing_events(curves, 1.0, 1)
        expected = np.zeros((3, 3), dtype=int)
        for i, j in zip(events.i, events.j):
            a, b = stimulus_of[i], stimulus_of[j]
            expected[a, b] += 1
            if a != b:
                expected[b, a] += 1
        assert events.i.size > 0
        np.testing.assert_array_equal(explore.pair_counts(events, stimulus_of, 3), expected)

    def test_panel_states_both_units_and_draws_the_matrix(self, ctx):
        """v1 took epsilon as an absolute 0.5 (493,335 events on the retina); the panel now reads percent."""
        arrays, meta = decoding_arrays(n_time=5)  # box: x 0..4, y 0..150: diagonal ~150.05
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        result = {"views": [{"view": "decoding", "source": RETINA, "key": key}]}
        _, _, count, matrix, last = explore.decoding_panel(result, RETINA, None, True, 10.0, 2, ctx=ctx)
        epsilon = 0.1 * np.linalg.norm([4.0, 150.0, 0.0])
        assert f"= {epsilon:.3g} PCA units" in count and "10 % of the diagonal" in count
        assert "delta 2 bins = 67 ms" in count and last == 4
        assert matrix["data"][0]["type"] == "heatmap" and len(matrix["data"][0]["z"]) == 2


# ---------------------------------------------------------------------------------------------- plan
class TestPlan:
    def test_cached_views_cost_nothing(self, ctx):
        arrays, meta = decoding_arrays()
        plant_view(ctx, "decoding", RETINA, arrays, meta)
        request = {"page": "explore", "views": [{"view": "decoding", "source": RETINA, "options": {}}]}
        text, seconds = plan.plan_summary(request, ctx=ctx)
        assert seconds == 0 and "cached (instant)" in text and "decoding of retina (biology): cached" in text

    def test_uncached_fnn_module_names_the_extraction_and_its_time(self, ctx):
        request = {"page": "explore", "views": [{"view": "decoding", "source": FNN_REC, "options": {}},
                                                {"view": "encoding", "source": FNN_REC, "options": {}}]}
        items = plan.plan_request(request, ctx=ctx)
        assert items[0].text.startswith("extract Rec + decoding") and "not cached yet" in items[0].text
        assert "extract" not in items[1].text, "one extraction per module"
        frames = plan._frame_samples(ctx)
        assert items[0].seconds == pytest.approx(plan.REFERENCE_FRAME_SECONDS["fnn-random"] * frames
                                                 + 2.0 * ctx.run.n_output / plan.REFERENCE_UNITS)
        text, _ = plan.plan_summary(request, ctx=ctx)
        assert "not measured here yet" in text

    def test_measured_throughput_replaces_the_reference(self, ctx):
        plan.record_throughput(ctx, "extract|fnn-random|Enc L1", 0.5)
        plan.record_throughput(ctx, "view|decoding|fnn-random", 7.0)
        # A request's page must be a job page since parse_request checks it (main's "x" planned nothing).
        request = {"page": "explore", "views": [{"view": "decoding", "source": "model:fnn-random:Enc L1",
                                                 "options": {}}]}
        item = plan.plan_request(request, ctx=ctx)[0]
        assert item.measured and item.seconds == pytest.approx(0.5 * plan._frame_samples(ctx) + 7.0)
        assert plan.read_throughput(ctx) == {"extract|fnn-random|Enc L1": 0.5, "view|decoding|fnn-random": 7.0}

    def test_compute_and_record_measures_a_view(self, ctx, monkeypatch):
        import compute.workflows

        monkeypatch.setattr(compute.workflows, "compute_view", lambda *a, **k: "key")
        from compute.sources import Source

        assert plan.compute_and_record("decoding", Source.parse(RETINA), ctx=ctx, control=None) == "key"
        assert "view|decoding|bio" in plan.read_throughput(ctx)

    @pytest.mark.parametrize("seconds, text", [(3, "under 5 s"), (40, "40 s"), (1140, "19 min"), (7200, "2.0 h")])
    def test_duration_text(self, seconds, text):
        assert plan.duration_text(seconds) == text


# ---------------------------------------------------------------------------------------------- defaults
class TestCheapDefaults:
    def test_uncached_fnn_is_never_a_default(self, catalog):
        """v1 selected four FNN modules on Tubularity (the whole extraction on the first Run)."""
        fnn = type(catalog)(**{**catalog.__dict__, "profile": type(catalog.profile)("default", "fnn-random")})
        assert fnn.default_source == V1 and fnn.default_model_tokens() == []
        assert fnn.default_comparison_tokens() == [RETINA, V1]
        assert fnn.default_compare_tokens() == [RETINA, V1]

    def test_extracted_modules_are_defaults(self, catalog):
        ready = type(catalog)(**{**catalog.__dict__, "profile": type(catalog.profile)("default", "fnn-random"),
                                 "ready": lambda token: token.endswith(":Rec")})
        assert ready.default_source == "model:fnn-random" and ready.default_model_tokens() == [FNN_REC]

    def test_biology_is_coloured_by_type_and_layer(self, catalog):
        assert [catalog.default_color(s) for s in (RETINA, V1, "model:fnn-random")] == ["cell_type", "layer", "cluster"]


# ---------------------------------------------------------------------------------------------- methods page
class TestMethods:
    def test_settings_are_read_from_the_code(self):
        from compute.analysis.alignment import dsa_score
        import inspect

        expected = repr(inspect.signature(dsa_score).parameters["score_method"].default)
        assert home.code_setting("compute.analysis.alignment:dsa_score(score_method)") == expected
        assert home.code_setting("compute.sampling:SamplingSettings.crop") == repr("authors")
        assert home.code_setting("compute.workflows:VIEW_OPTIONS[alignment]").startswith("dataset=required")
        assert home.code_setting("compute.stimuli:NO_SUCH_NAME") == home.NOT_FOUND

    def test_every_decision_has_a_row_with_a_place_to_change_it(self):
        rows = home.decision_rows()
        assert len(rows) == len(home.DECISIONS) and all(r["where"] and r["setting"] for r in rows)


# ---------------------------------------------------------------------------------------------- preferred direction
def test_biology_has_a_preferred_direction_per_unit(ctx):
    """v1 stored NaN for every biological unit (the published factors carry no direction): colour by
    preferred direction was all grey and its export all NaN, while the PSTH named a direction."""
    from compute.analysis.diagnostics import unit_tuning
    from compute.sources import Source, source_responses
    from compute.workflows import compute_view, load_view

    source = Source.parse(RETINA)
    key = compute_view("encoding", source, run=ctx.run, cache=ctx.cache, settings=ctx.settings)
    arrays, _ = load_view(key, cache=ctx.cache)
    values = arrays["color__preferred direction"]
    assert np.isfinite(values).all() and ((values >= 0) & (values < 360)).all()
    rs = source_responses(source, run=ctx.run, cache=ctx.cache, settings=ctx.settings)
    np.testing.assert_allclose(values, unit_tuning(rs).preferred_direction[arrays["unit_index"]] % 360)


# ---------------------------------------------------------------------------------------------- progressive views
class TestCachedResult:
    def test_cached_views_are_found_without_a_job(self, ctx):
        """v1 showed nothing until Run, even when every view of a shared URL was cached."""
        arrays, meta = decoding_arrays()
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        request = {"page": "explore", "views": [{"view": "decoding", "source": RETINA, "options": {}},
                                                {"view": "encoding", "source": RETINA, "options": {}}]}
        found = plan.cached_result(request, ctx=ctx)
        assert [v["key"] for v in found["views"]] == [key] and found["views"][0]["view"] == "decoding"
        assert plan.same_views(found, {"views": [{"key": key}]}) and not plan.same_views(found, None)
        assert plan.cached_result(None, ctx=ctx) is None


def test_accuracy_says_what_to_remove_when_class_counts_differ(ctx):
    """v1 said only "compare like with like" when a model (11 classes) and biology (6) were selected."""
    from callbacks import accuracy

    for token, chance in ((CONV1, 1 / 11), (V1, 1 / 6)):
        plant_view(ctx, "accuracy", token, {"time": np.zeros(0)}, {"chance": chance})
    from compute.sources import Source
    from compute.workflows import view_key

    named = [(name, {"key": view_key("accuracy", Source.parse(t), run=ctx.run, settings=ctx.settings)})
             for name, t in (("Conv1", CONV1), ("V1", V1))]
    text = accuracy.mixed_chance_text(named, ctx=ctx)
    assert "Conv1 decode 11 classes" in text and "V1 decode 6 classes" in text and "Remove one group" in text
    assert accuracy.mixed_chance_text(named[:1], ctx=ctx) == ""
