"""Every callback function called directly (no browser), with bad inputs: empty selections, unknown
modules, malformed URL state. View artefacts are planted in a temp cache under the keys the app asks for."""

from __future__ import annotations

import io
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from dash.exceptions import PreventUpdate

from app.pages import accuracy as accuracy_page
from app.pages import alignment as alignment_page
from app.pages import compare as compare_page
from app.pages import explore as explore_page
from app.pages import stimuli as stimuli_page
from app.pages import tubularity as tubularity_page
from app.requests import explore_request
from app.state import Reader, encode_query
from callbacks import accuracy, alignment, compare, explore, jobs, shell, stimuli, tubularity
from callbacks.common import find_view, named_views, picked, plain_figure
from tests.app.conftest import decoding_arrays, encoding_arrays, plant_view

RETINA = "bio:retina"
CONV1 = "model:conv3d-random:Conv1"


def _annotation_text(fig) -> str:
    layout = fig["layout"] if isinstance(fig, dict) else fig.to_plotly_json()["layout"]
    return " ".join(a.get("text", "") for a in layout.get("annotations", []))


def _progress_sink():
    calls = []
    return calls, calls.append


# ---------------------------------------------------------------------------------------------- URL state
class TestReader:
    def test_valid_values_pass(self):
        reader = Reader({"a": "x", "b": "x,y", "n": "3", "f": "1"})
        assert reader.choice("a", ["x", "y"], "y") == "x"
        assert reader.choices("b", ["x", "y", "z"], ["z"]) == ["x", "y"]
        assert reader.number("n", 1, low=0, high=5, integer=True) == 3
        assert reader.flag("f", False) is True
        assert reader.notices == []

    @pytest.mark.parametrize("query, call, expected, notice", [
        ({"a": "nope"}, lambda r: r.choice("a", ["x"], "x"), "x", "expected one of"),
        ({"b": "x,bad"}, lambda r: r.choices("b", ["x"], ["x"]), ["x"], "unknown ['bad'] dropped"),
        ({"b": "bad"}, lambda r: r.choices("b", ["x"], ["x"]), ["x"], "nothing valid left"),
        ({"b": "x,y,z"}, lambda r: r.choices("b", ["x", "y", "z"], ["x"], max_items=2), ["x", "y"], "at most 2"),
        ({"n": "abc"}, lambda r: r.number("n", 1.0, low=0, high=5), 1.0, "not a number"),
        ({"n": "2.5"}, lambda r: r.number("n", 1, low=0, high=5, integer=True), 1, "not an integer"),
        ({"n": "99"}, lambda r: r.number("n", 1.0, low=0, high=5), 1.0, "outside"),
        ({"f": "maybe"}, lambda r: r.flag("f", False), False, "expected 1 or 0"),
    ], ids=["choice", "choices-partial", "choices-empty", "choices-max", "nan", "non-int", "range", "flag"])
    def test_bad_values_fall_back_with_a_notice(self, query, call, expected, notice):
        reader = Reader(query)
        assert call(reader) == expected
        assert notice in reader.notices[-1]

    def test_encode_query_round_trips_through_the_reader(self):
        query = encode_query({"modules": ["Enc L1", "Rec"], "cross": True, "eps": 0.25, "unit": None})
        assert "unit" not in query
        from urllib.parse import parse_qsl

        reader = Reader(dict(parse_qsl(query[1:])))
        assert reader.choices("modules", ["Enc L1", "Rec"], []) == ["Enc L1", "Rec"]
        assert reader.flag("cross", False) is True and reader.number("eps", 1.0, low=0, high=1) == 0.25


class TestUrlSelections:
    @pytest.mark.parametrize("raw", ["", " , ,"], ids=["empty", "separators-only"])
    def test_an_empty_selection_falls_back_with_a_notice(self, raw):
        """v1 fell back to the defaults silently when a list parameter was present but empty."""
        reader = Reader({"sources": raw})
        assert reader.choices("sources", ["x", "y"], ["y"]) == ["y"]
        assert reader.notices == ["URL parameter sources is empty; using ['y']."]

    def test_compare_tokens_typed_with_plus_are_read(self, catalog):
        """v1 dropped 'model:fnn-random:Enc+L1' typed into a URL: the query parser turns '+' into a space."""
        typed = {"sources": "model:fnn-random:Enc L1,bio:V1", "tube": "model:fnn-random:Enc L1"}
        state, notices = compare_page.read_state(typed, catalog)
        assert state["sources"] == ["model:fnn-random:Enc+L1", "bio:V1"] and notices == []
        state, notices = tubularity_page.read_state(typed, catalog)
        assert state["tube"] == "model:fnn-random:Enc+L1" and notices == []

    def test_encoded_tokens_round_trip_through_a_url(self, catalog):
        from urllib.parse import parse_qsl

        state = {"sources": ["model:fnn-random:Enc+L1", "bio:V1"], "view": "decoding", "link": True}
        query = encode_query(state)
        assert "Enc%2BL1" in query
        assert compare_page.read_state(dict(parse_qsl(query[1:])), catalog) == (state, [])


class TestPageStates:
    @pytest.mark.parametrize("page", [stimuli_page, explore_page, compare_page, tubularity_page, alignment_page,
                                      accuracy_page], ids=lambda p: p.__name__.rsplit(".", 1)[-1])
    def test_malformed_url_gives_defaults_and_notices(self, page, catalog):
        bad = {"cls": "no-class", "dir": "17", "source": "model:../etc", "modules": "Nope", "preset": "x",
               "sources": "model:evil:Rec", "view": "x", "datasets": "mars", "t": "-4", "eps": "nan?",
               "color": "rainbow", "tube": "x", "link": "2", "rank": "1"}
        default_state, default_notices = page.read_state({}, catalog)
        state, notices = page.read_state(bad, catalog)
        assert default_notices == []
        assert notices, "a malformed URL must be reported to the user"
        assert state == default_state
        layout = page.layout(catalog, **bad)
        assert any(n in json.dumps(layout.to_plotly_json(), default=str) for n in notices[:1])

    def test_explore_url_state_is_read(self, catalog):
        state, notices = explore_page.read_state(
            {"source": "model:fnn-random", "modules": "Enc L1,Rec", "show": "Rec", "preset": "all", "t": "5",
             "cross": "1", "eps": "0.3", "delta": "4", "color": "OSI"}, catalog)
        assert notices == []
        assert state["modules"] == ["Enc L1", "Rec"] and state["show"] == "Rec" and state["t"] == 5
        assert state["stimuli"] == list(catalog.classes) and state["cross"] and state["eps"] == 0.3

    def test_explore_request_covers_each_module(self, catalog):
        request = explore_request("model:fnn-random", ["Enc L1", "Rec"], ["grat_W12"])
        assert [(v["view"], v["source"]) for v in request["views"]] == [
            ("decoding", "model:fnn-random:Enc+L1"), ("encoding", "model:fnn-random:Enc+L1"),
            ("decoding", "model:fnn-random:Rec"), ("encoding", "model:fnn-random:Rec")]
        assert explore_request("bio:V1", [], ["grat_W12"])["views"][0]["source"] == "bio:V1"

    def test_selected_clip_classes_enter_a_models_encoding_manifold(self, catalog):
        def encoding_options(source, stimuli):
            return [v["options"] for v in explore_request(source, ["Rec"], stimuli)["views"] if v["view"] == "encoding"]

        assert encoding_options("model:fnn-random", ["grat_W12"]) == [{}]
        assert encoding_options("model:fnn-random", ["grat_W12", "clip_walk"]) == [{"with_clips": True}]
        assert encoding_options("bio:V1", ["grat_W12", "clip_walk"]) == [{}]

    def test_compare_keeps_at_most_four_panels(self, catalog):
        tokens = catalog.all_tokens()[:6]
        state, notices = compare_page.read_state({"sources": ",".join(tokens)}, catalog)
        assert state["sources"] == tokens[:4] and "at most 4" in notices[0]


# ---------------------------------------------------------------------------------------------- jobs
class TestJobs:
    @pytest.mark.parametrize("request_, error, match", [
        (None, ValueError, "still preparing its selection"),
        ([], TypeError, "must be a dict with a 'views' list"),
        ({"views": []}, ValueError, "nothing to compute"),
        ({"views": [{"view": "nope", "source": RETINA}]}, ValueError, "needs 'view' in"),
        ({"views": [{"view": "decoding", "source": "disk:/etc/passwd"}]}, ValueError, "cannot read source"),
        ({"views": [{"view": "decoding", "source": RETINA, "options": []}]}, TypeError, "options must be a dict"),
        ({"views": [{"view": "decoding", "source": RETINA}] * 41}, ValueError, "at most 40 views"),
    ], ids=["none", "not-dict", "empty", "view", "source", "options", "too-many"])
    def test_parse_request_errors(self, request_, error, match):
        with pytest.raises(error, match=match):
            jobs.parse_request(request_)

    def test_bad_request_is_reported_not_raised(self, ctx):
        calls, sink = _progress_sink()
        result, error, stage = jobs.run_views(sink, {"views": []}, ctx=ctx)
        assert result is None and "nothing to compute" in error and stage == ("0", "failed") and not calls

    def test_profile_view_options_are_defaults(self, ctx):
        arrays, meta = encoding_arrays()
        key = plant_view(ctx, "encoding", CONV1, arrays, meta, **ctx.catalog.profile.options_for("encoding"))
        result, error, _ = jobs.run_views(lambda p: None, {"views": [{"view": "encoding", "source": CONV1}]},
                                          ctx=ctx)
        assert ctx.catalog.profile.options_for("encoding") == {"rank": 4, "n_restarts": 2}
        assert error == "" and result["views"][0]["key"] == key

    def test_cached_views_come_back_as_summaries(self, ctx):
        arrays, meta = decoding_arrays()
        key = plant_view(ctx, "decoding", RETINA, arrays, meta, stimuli=["grat_W12", "grat_W1"])
        calls, sink = _progress_sink()
        request = {"page": "explore", "views": [{"view": "decoding", "source": RETINA,
                                                 "options": {"stimuli": ["grat_W12", "grat_W1"]}}]}
        result, error, stage = jobs.run_views(sink, request, ctx=ctx)
        assert error == "" and result["views"][0]["key"] == key
        assert calls[0] == ("0", "starting 1 view(s)") and stage == ("1", "done: 1 of 1 view(s)")
        assert len(json.dumps(result)) < 10_000

    def test_a_failing_view_does_not_stop_the_others(self, ctx):
        arrays, meta = decoding_arrays()
        plant_view(ctx, "decoding", RETINA, arrays, meta)
        request = {"page": "explore", "views": [{"view": "decoding", "source": "model:no-such-model:Rec"},
                                                {"view": "decoding", "source": RETINA}]}
        result, error, stage = jobs.run_views(lambda p: None, request, ctx=ctx)
        assert [v["source"] for v in result["views"]] == [RETINA] and stage[1] == "done: 1 of 2 view(s)"
        assert "no-such-model" in error

    @pytest.mark.parametrize("fmt", ["npz", "csv"])
    def test_export_gives_the_shown_arrays(self, ctx, fmt):
        arrays, meta = decoding_arrays()
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        payload = jobs.export_views({"page": "explore", "views": [{"view": "decoding", "source": RETINA,
                                                                    "key": key}]}, fmt, ctx=ctx)
        assert payload["filename"] == f"twinscope-explore.{fmt}"
        import base64

        content = base64.b64decode(payload["content"]) if payload["base64"] else payload["content"].encode()
        if fmt == "npz":
            with np.load(io.BytesIO(content)) as npz:
                np.testing.assert_array_equal(npz[f"decoding|{RETINA}|coords"], arrays["coords"])
        else:
            lines = content.decode().splitlines()
            assert lines[0] == "view,source,array,axis_1,index_1,axis_2,index_2,axis_3,index_3,value"
            n, t, _ = arrays["curves"].shape
            assert (f"decoding,{RETINA},curves,condition,{n - 1},time_bin,{t - 1},pc,2,{arrays['curves'][-1, -1, 2]}"
                    in lines)

    @pytest.mark.parametrize("result, fmt, match", [(None, "npz", "nothing to export"),
                                                    ({"views": [{"key": "k"}]}, "xls", "'npz' or 'csv'")])
    def test_export_errors(self, ctx, result, fmt, match):
        with pytest.raises(ValueError, match=match):
            jobs.export_views(result, fmt, ctx=ctx)


class TestUntrustedStores:
    """v1 trusted the browser's stores: n_boot=10,000,000 ran, export served any cache key (the 360 MB
    stimulus artefact; a CSV 36x its artefact), and a malformed result raised into an HTTP 500."""

    def test_a_crafted_option_stops_the_job_before_any_work(self, ctx, monkeypatch):
        from compute import workflows

        monkeypatch.setattr(workflows, "compute_view", lambda *a, **k: pytest.fail("must not compute"))
        request = {"page": "tubularity", "views": [{"view": "tubularity", "source": RETINA,
                                                    "options": {"n_boot": 10_000_000}}]}
        result, error, stage = jobs.run_views(lambda p: None, request, ctx=ctx)
        assert result is None and stage == ("0", "failed")
        assert error == "Job not started: n_boot must be an integer in 2..200; got 10000000"

    def test_unknown_page_is_refused(self):
        with pytest.raises(ValueError, match=r"page must be one of \['explore'"):
            jobs.parse_request({"page": "admin", "views": [{"view": "decoding", "source": RETINA}]})

    @pytest.mark.parametrize("entry, match", [
        ({"view": "decoding", "source": RETINA, "key": "stimuli-0123abcd"}, "not a decoding or encoding view"),
        ({"view": "tubularity", "source": RETINA, "key": "view-tubularity-0123"}, "not a decoding or encoding"),
        ({"view": "decoding", "source": RETINA, "key": "view-decoding-0123abcd"}, "no longer in the cache"),
        ({"view": "decoding", "source": RETINA, "key": "view-decoding-../../x"}, "invalid cache key"),
        ("view-decoding-0123", "not a decoding or encoding view"),
        ({"view": "decoding", "source": RETINA, "key": ["view-decoding-0123"]}, "not a decoding or encoding"),
    ], ids=["other-kind", "other-page", "stale", "path", "not-a-dict", "key-not-str"])
    def test_export_serves_only_cached_views_of_the_page(self, ctx, entry, match):
        ctx.cache.put("stimuli-0123abcd", {"frames": np.zeros((4, 4))}, {"view": "decoding"})
        with pytest.raises(ValueError, match=match):
            jobs.export_views({"page": "explore", "views": [entry]}, "npz", ctx=ctx, page="explore")

    def test_export_of_another_page_is_refused(self, ctx):
        arrays, meta = decoding_arrays()
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        result = {"page": "explore", "views": [{"view": "decoding", "source": RETINA, "key": key}]}
        with pytest.raises(ValueError, match="belongs to page 'explore', not 'accuracy'"):
            jobs.export_views(result, "npz", ctx=ctx, page="accuracy")

    @pytest.mark.parametrize("fmt, cap, match", [("npz", "EXPORT_MAX_BYTES", "capped at 0 MiB"),
                                                 ("csv", "EXPORT_MAX_CSV_VALUES", "CSV export is capped at 100")])
    def test_export_is_size_capped(self, ctx, monkeypatch, fmt, cap, match):
        arrays, meta = decoding_arrays()  # 16 conditions x 5 times x 3 curves alone: 240 values
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        monkeypatch.setattr(jobs, cap, 100)
        result = {"page": "explore", "views": [{"view": "decoding", "source": RETINA, "key": key}]}
        with pytest.raises(ValueError, match=match):
            jobs.export_views(result, fmt, ctx=ctx, page="explore")

    @pytest.mark.parametrize("result", [{"views": "x"}, {"views": [None, 3, {"view": "decoding", "key": 5}]},
                                        "text", {"views": [{"view": "decoding", "source": RETINA}]}],
                             ids=["views-str", "entries", "not-a-dict", "no-key"])
    def test_malformed_results_find_no_view(self, ctx, result):
        assert find_view(result, "decoding", RETINA) is None and named_views(result, "decoding", ctx=ctx) == []


# ---------------------------------------------------------------------------------------------- shell
class TestShell:
    def test_job_bar_state(self):
        assert shell.job_bar_state(True, True, 2) == (False, [True, True])
        assert shell.job_bar_state(True, False, 1) == (True, [True]), "no cancel before the job reported"
        assert shell.job_bar_state(False, True, 1) == (True, [False])

    def test_badge_names_untrained_models_and_reconstructed_biology(self, ctx):
        requests = [explore_request("model:conv3d-random", ["Conv1"], []),
                    explore_request(RETINA, [], [])]
        text = shell.badges(requests, ctx=ctx)
        assert text.startswith(shell.UNTRAINED) and shell.RECONSTRUCTED in text
        assert shell.badges([], ctx=ctx).startswith(shell.UNTRAINED)
        assert shell.badges([{"views": [{"source": "garbage::"}]}], ctx=ctx) == ""

    def test_image_format_of_every_graph(self):
        ids = [{"type": "graph", "name": "a"}, {"type": "graph", "name": "b"}]
        configs = shell.graph_configs("svg", ids)
        assert [c["toImageButtonOptions"]["format"] for c in configs] == ["svg", "svg"]
        assert shell.graph_configs("bmp", ids)[0]["toImageButtonOptions"]["format"] == "png"


# ---------------------------------------------------------------------------------------------- stimuli
class TestStimuli:
    @pytest.mark.slow
    def test_preview_animates_the_chosen_sequence(self, ctx):
        fig, caption, query = stimuli.preview("grat_W2", 90, ctx=ctx)
        assert len(fig.frames) == 37 and "grat_W2" in caption and query == "?cls=grat_W2&dir=90"
        other, _, _ = stimuli.preview("grat_W2", 0, ctx=ctx)
        assert other.data[0].source != fig.data[0].source

    @pytest.mark.parametrize("name, direction, match", [("nope", 0, "unknown stimulus class"),
                                                        ("grat_W2", 17, "unknown direction")])
    def test_bad_selection_shows_the_message(self, ctx, name, direction, match):
        fig, caption, _ = stimuli.preview(name, direction, ctx=ctx)
        assert match in caption and match in _annotation_text(fig)

    def test_thumbnails_and_click(self, ctx):
        fig = stimuli.thumbnails(0, ctx=ctx)
        assert len(fig.data) == len(ctx.catalog.classes)
        assert stimuli.clicked_class({"points": [{"curveNumber": 2}]}, ctx=ctx) == ctx.catalog.classes[2]
        with pytest.raises(PreventUpdate):
            stimuli.clicked_class({"points": []}, ctx=ctx)
        assert stimuli.thumbnail_png("grat_W12", ctx=ctx).startswith(b"\x89PNG")
        with pytest.raises(ValueError, match="unknown stimulus class"):
            stimuli.thumbnail_png("../../etc", ctx=ctx)


# ---------------------------------------------------------------------------------------------- explore
class TestExplore:
    def test_selection_helpers(self, ctx):
        options, value = explore.modules_for_source("model:conv3d-random", ctx=ctx)
        assert [o["value"] for o in options] == list(ctx.catalog.models["conv3d-random"].modules) and value == ["Conv1"]
        assert explore.modules_for_source(RETINA, ctx=ctx) == ([], [])
        assert explore.modules_for_source("model:unknown", ctx=ctx) == ([], [])
        bio = ctx.catalog.preset_names("bio-matched")
        assert explore.sync_stimuli("explore-preset", "bio-matched", [], ctx=ctx) == ("bio-matched", bio)
        assert explore.sync_stimuli("explore-stimuli", "custom", list(reversed(bio)), ctx=ctx)[0] == "bio-matched"
        assert explore.sync_stimuli("explore-stimuli", "all", ["grat_W1", "bogus"], ctx=ctx) == ("custom", ["grat_W1"])
        assert explore.show_options([], "Rec") == ([], None)
        assert explore.show_options(["Conv1", "Conv2"], "Rec")[1] == "Conv1"
        assert explore.slider_value(None, 36) == 36 and explore.slider_value(50, 11) == 11

    def test_page_state_writes_url_and_request(self, ctx):
        query, request, notice = explore.page_state("model:conv3d-random", ["Conv1"], "custom", ["grat_W1"], "Conv1",
                                                    "OSI", 3, ["on"], 0.2, 1, 7, 4, 6, ctx=ctx)
        assert "modules=Conv1" in query and "stimuli=grat_W1" in query and "cross=1" in query and "hl=4" in query
        assert "rank=6" in query and notice == ""
        assert request["views"][0]["options"] == {"stimuli": ["grat_W1"]}
        assert request["views"][1] == {"view": "encoding", "source": CONV1, "options": {"rank": 6}}
        _, empty, _ = explore.page_state("model:conv3d-random", [], "bio-matched", [], None, "cluster", None, [], 0.5,
                                         2, None, None, 4, ctx=ctx)
        assert empty["views"] == []


    def test_views_before_any_job_say_press_run(self, ctx):
        manifold, trajectories, count, last = explore.decoding_views(None, RETINA, None, True, 0.5, 2, ctx=ctx)
        assert explore.NOT_RUN in _annotation_text(manifold) and last is None and count == ""
        fig, _ = explore.encoding_view(None, RETINA, None, "cluster", ctx=ctx)
        assert explore.NOT_RUN in _annotation_text(fig)
        assert "Click a unit" in _annotation_text(explore.psth_view(None, None, RETINA, None, ctx=ctx))

    def test_decoding_views_and_crossings(self, ctx):
        from compute.analysis.crossings import crossing_events

        arrays, meta = decoding_arrays(n_time=5)
        arrays["curves"][1] = arrays["curves"][0] + 0.01  # condition 1 runs next to condition 0: crossings
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        result = {"views": [{"view": "decoding", "source": RETINA, "key": key}]}
        manifold, trajectories, count, last = explore.decoding_views(result, RETINA, None, True, 0.5, 1, ctx=ctx)
        expected = len(crossing_events(arrays["curves"], 0.5, 1).midpoint)
        assert expected > 0 and count.startswith(f"{expected} crossing events") and last == 4
        kinds = [t["meta"]["kind"] for t in trajectories["data"]]
        assert kinds.count("trajectory") == 16 and kinds[-1] == "crossings"
        assert isinstance(trajectories["data"][0]["x"], list), "clientside code slices plain lists"
        assert sum(len(t["x"]) for t in manifold["data"]) == 16
        _, plain, off, _ = explore.decoding_views(result, RETINA, None, False, 0.5, 1, ctx=ctx)
        assert off == "" and "crossings" not in [t["meta"]["kind"] for t in plain["data"]]

    @pytest.mark.parametrize("crossings, eps", [(True, 0.5), (False, 0.5), (True, -1.0)],
                             ids=["crossings", "no-crossings", "bad-epsilon"])
    def test_memoised_views_equal_a_fresh_build(self, ctx, crossings, eps):
        """Figures are memoised per artefact and only the crossing layer is rebuilt per call: the output
        equals building both figures from the artefact (reconstructed biology adds the crossing note)."""
        from app.figures import decoding_manifold_figure, trajectories_figure
        from compute.analysis.crossings import crossing_events

        arrays, meta = decoding_arrays(n_time=5)
        arrays["curves"][1] = arrays["curves"][0] + 0.01
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        result = {"views": [{"view": "decoding", "source": RETINA, "key": key}]}
        for _ in range(2):  # the second call is served from the memo
            manifold, trajectories, _, _ = explore.decoding_views(result, RETINA, None, crossings, eps, 1, ctx=ctx)
        flags = {"untrained": False, "reconstructed": True, "title": f"planted {RETINA}"}
        fresh_manifold = decoding_manifold_figure(arrays["coords"], arrays["labels"], meta["stimuli"],
                                                  explained_variance=arrays["manifold_evr"], **flags)
        midpoints = crossing_events(arrays["curves"], eps, 1).midpoint if crossings and eps > 0 else None
        fresh = trajectories_figure(arrays["curves"], arrays["labels"], meta["stimuli"], time=arrays["time"],
                                    explained_variance=arrays["trajectory_evr"], crossings=midpoints, **flags)
        for fig in (fresh_manifold, fresh):
            fig.update_layout(uirevision=key)
        assert manifold == plain_figure(fresh_manifold)
        assert trajectories == plain_figure(fresh)
        assert ("unreliable" in json.dumps(trajectories["layout"])) is (midpoints is not None)

    def test_encoding_colour_by_and_unit_click(self, ctx):
        arrays, meta = encoding_arrays()
        key = plant_view(ctx, "encoding", CONV1, arrays, meta)
        result = {"views": [{"view": "encoding", "source": CONV1, "key": key}]}
        fig, options = explore.encoding_view(result, "model:conv3d-random", "Conv1", "cluster", ctx=ctx)
        assert len(fig["data"]) == 3 and {o["value"] for o in options} == set(meta["color_options"])
        assert isinstance(fig["data"][0]["customdata"][0], list), "clickData needs plain customdata rows"
        continuous, _ = explore.encoding_view(result, "model:conv3d-random", "Conv1", "OSI", ctx=ctx)
        assert len(continuous["data"]) == 1 and continuous["data"][0]["marker"]["showscale"]
        unknown, _ = explore.encoding_view(result, "model:conv3d-random", "Conv1", "rainbow", ctx=ctx)
        assert len(unknown["data"]) == 1
        assert explore.clicked_unit({"points": [{"customdata": [7]}]}) == 7
        with pytest.raises(PreventUpdate):
            explore.clicked_unit({"points": [{}]})

    def test_psth_of_an_unextracted_model_says_so(self, ctx):
        arrays, meta = encoding_arrays()
        key = plant_view(ctx, "encoding", CONV1, arrays, meta)
        result = {"views": [{"view": "encoding", "source": CONV1, "key": key}]}
        fig = explore.psth_view(3, result, "model:conv3d-random", "Conv1", ctx=ctx)
        assert "not computed yet" in _annotation_text(fig)


# ---------------------------------------------------------------------------------------------- CP rank
class TestRank:
    """The Explore rank field: default per module, validation with a notice, URL state, job request."""

    def test_defaults(self, ctx, catalog):
        from app.catalog import FALLBACK_RANK
        from compute.profiles import run_profile
        from compute.seed_ranks import MODULE_RANKS

        assert catalog.default_rank("model:fnn-random", "Rec") == MODULE_RANKS["Rec"] == 9
        assert catalog.default_rank("model:conv3d-random", "Conv1") == 4, "the test profile's encoding rank"
        assert catalog.default_rank(RETINA, None) is None
        default = type(catalog)(**{**catalog.__dict__, "profile": run_profile({})})
        assert default.default_rank("model:conv3d-random", "Conv1") == FALLBACK_RANK
        assert explore.rank_for_source("model:fnn-random", ctx=ctx) == (9, False)
        assert explore.rank_for_source(RETINA, ctx=ctx) == (None, True)

    @pytest.mark.parametrize("value, expected, match", [
        (7, 7, None), (2.0, 2, None), (40, 40, None),
        (41, 9, "must be between 2 and 40; got 41"), (1, 9, "must be between 2 and 40; got 1"),
        (None, 9, "is empty or not a whole number"), (2.5, 9, "must be a whole number; got 2.5"),
        ("12", 9, "must be a whole number; got '12'"), (True, 9, "must be a whole number; got True"),
    ], ids=["valid", "valid-float", "high-edge", "too-high", "too-low", "none", "fraction", "text", "bool"])
    def test_checked_rank(self, value, expected, match):
        rank, notice = explore.checked_rank(value, 9)
        assert rank == expected and type(rank) is int
        if match is None:
            assert notice == ""
        else:
            assert match in notice and "using the default rank 9" in notice

    def test_dataset_has_no_rank(self):
        assert explore.checked_rank(55, None) == (None, "")

    @pytest.mark.parametrize("rank, used, in_url", [(12, 12, True), (99, 4, False), (None, 4, False)],
                             ids=["valid", "out-of-range", "none"])
    def test_rank_goes_into_the_request_and_url(self, ctx, rank, used, in_url):
        query, request, notice = explore.page_state("model:conv3d-random", ["Conv1", "Conv2"], "bio-matched", [],
                                                    "Conv1", "cluster", None, [], 0.5, 2, None, None, rank, ctx=ctx)
        encoding = [v["options"] for v in request["views"] if v["view"] == "encoding"]
        assert encoding == [{"rank": used}] * 2
        assert (f"rank={rank}" in query) is in_url and bool(notice) is not in_url
        bio_query, bio_request, bio_notice = explore.page_state(RETINA, [], "bio-matched", [], None, "cluster", None,
                                                                [], 0.5, 2, None, None, rank, ctx=ctx)
        assert "rank" not in bio_query and bio_notice == "" and bio_request["views"][1]["options"] == {}

    def test_url_restores_the_rank(self, catalog):
        state, notices = explore_page.read_state({"source": "model:fnn-random", "modules": "Rec", "rank": "20"},
                                                 catalog)
        assert state["rank"] == 20 and notices == []
        request = explore_request(state["source"], state["modules"], state["stimuli"], state["rank"])
        assert request["views"][1]["options"] == {"rank": 20}
        layout = explore_page.layout(catalog, source="model:fnn-random", modules="Rec", rank="20")
        field = next(c for c in layout._traverse() if getattr(c, "id", None) == "explore-rank")
        assert field.value == 20 and not field.disabled

    def test_encoding_title_names_the_rank(self, ctx):
        arrays, meta = encoding_arrays()
        key = plant_view(ctx, "encoding", CONV1, arrays, meta, rank=7)
        result = {"views": [{"view": "encoding", "source": CONV1, "key": key}]}
        fig, _ = explore.encoding_view(result, "model:conv3d-random", "Conv1", "cluster", ctx=ctx)
        assert fig["layout"]["title"]["text"] == f"planted {CONV1}, CP rank 7"

    def test_nn_histogram_and_interactive_restarts_in_the_title(self, ctx):
        arrays, meta = encoding_arrays()
        arrays.update(nn_distances=np.array([0.1, 0.5, 0.5, 2.0]), nn_removed=np.array([True, False, False, True]))
        meta = {**meta, "restarts_note": "10 restarts (interactive preset; the authors ran 50)",
                "diagnostics": {**meta.get("diagnostics", {}), "k_far": 1, "k_near": 1}}
        key = plant_view(ctx, "encoding", CONV1, arrays, meta, rank=7)
        result = {"views": [{"view": "encoding", "source": CONV1, "key": key}]}
        hist = explore.nn_histogram_view(result, "model:conv3d-random", "Conv1", ctx=ctx)
        assert [len(t["x"]) for t in hist["data"]] == [2, 2] and "k_far 1, k_near 1" in hist["layout"]["title"]["text"]
        fig, _ = explore.encoding_view(result, "model:conv3d-random", "Conv1", "cluster", ctx=ctx)
        assert fig["layout"]["title"]["text"].endswith("CP rank 7, 10 restarts (interactive preset; the authors ran 50)")
        assert "Run" in _annotation_text(explore.nn_histogram_view(None, "model:conv3d-random", "Conv1", ctx=ctx))

    @pytest.mark.parametrize("query, expected, notice", [
        ({"source": "model:fnn-random", "modules": "Enc L1,Rec"}, 8, None),
        ({"source": "model:fnn-random", "modules": "Enc L1,Rec", "show": "Rec"}, 9, None),
        ({"source": "model:fnn-random", "modules": "Rec", "rank": "41"}, 9, "outside [2, 40]"),
        ({"source": "model:fnn-random", "modules": "Rec", "rank": "x"}, 9, "not an integer"),
        ({"source": "bio:V1", "rank": "12"}, None, None),
    ], ids=["first-module", "shown-module", "out-of-range", "not-a-number", "dataset"])
    def test_url_rank_defaults_and_bad_values(self, catalog, query, expected, notice):
        state, notices = explore_page.read_state(query, catalog)
        assert state["rank"] == expected
        assert (notices == []) if notice is None else (notice in notices[-1] and "rank" in notices[-1])

# ---------------------------------------------------------------------------------------------- other pages
class TestOtherPages:
    def test_compare(self, ctx):
        query, request, notice = compare.compare_state([RETINA, "bio:V1", CONV1, RETINA, "bio:V1"], "encoding", ["on"],
                                                       ctx=ctx)
        assert "link=1" in query and len(request["views"]) == 4 and "At most 4" in notice
        assert all(v["view"] == "encoding" for v in request["views"])
        # models get the default rank (the test profile's 4 for conv3d), datasets their published factors
        assert [v["options"] for v in request["views"]] == [{}, {}, {"rank": 4}, {}]
        fnn = compare.compare_state(["model:fnn-random:Rec"], "encoding", [], ctx=ctx)[1]
        assert fnn["views"][0]["options"] == {"rank": 9}, "the seed-study rank of Rec"
        arrays, meta = decoding_arrays()
        key = plant_view(ctx, "decoding", RETINA, arrays, meta)
        result = {"views": [{"view": "decoding", "source": RETINA, "key": key}]}
        figures, styles = compare.panels(result, [RETINA, "bio:V1"], "trajectories", ctx=ctx)
        assert len(figures[0].data) == 16 + 2 and "Press Run" in _annotation_text(figures[1])
        assert styles[:2] == [{}, {}] and styles[2] == {"display": "none"}
        assert "Add a source" in _annotation_text(compare.panels(None, [], "decoding", ctx=ctx)[0][0])

    def test_tubularity_alignment_accuracy_before_a_job(self, ctx):
        assert "Press Run" in _annotation_text(tubularity.bars(None, ctx=ctx))
        assert all("Press Run" in _annotation_text(f) for f in tubularity.tube_views(None, RETINA, ctx=ctx))
        fig, columns, rows = alignment.alignment_views({"views": []}, ctx=ctx)
        assert "Press Run" in _annotation_text(fig) and rows == []
        fig, columns, rows = accuracy.accuracy_views(None, ctx=ctx)
        assert "Press Run" in _annotation_text(fig) and rows == []
        assert "Press Run" in _annotation_text(accuracy.window_view(None, RETINA, ctx=ctx))

    def test_page_states(self):
        assert picked("bio:nope", [RETINA, "bio:V1"]) == RETINA and picked(None, []) is None
        query, request = tubularity.tubularity_state([RETINA, "bio:V1"], RETINA)
        assert len(request["views"]) == 2 and "sources=" in query and "tube=" in query
        query, request = alignment.alignment_state([CONV1], ["retina", "V1"])
        assert [v["options"]["dataset"] for v in request["views"]] == ["retina", "V1"]
        assert accuracy.accuracy_state(None)[1]["views"] == []

    def test_accuracy_from_planted_views(self, ctx):
        n_time = 4
        arrays = {"time": np.arange(n_time) / 30.0, "window_logistic": np.full((2, n_time), 0.5),
                  "window_logistic_sd": np.zeros((2, n_time)), "window_knn": np.full((2, n_time), 0.4),
                  "logistic_repeats": np.full(5, 0.6)}
        meta = {"stimuli": ["grat_W12"], "chance": 1 / 11, "logistic": 0.6, "logistic_sd": 0.01, "knn": 0.5,
                "not_converged": 0, "time_unit": "s"}
        key = plant_view(ctx, "accuracy", CONV1, arrays, meta)
        result = {"views": [{"view": "accuracy", "source": CONV1, "key": key}]}
        fig, columns, rows = accuracy.accuracy_views(result, ctx=ctx)
        assert rows == [{"source": "Conv1", "logistic regression": 0.6, "3-NN": 0.5}]
        assert len(accuracy.window_view(result, CONV1, ctx=ctx).data) >= 4

    def test_alignment_from_planted_views(self, ctx):
        """Two modules x two datasets, planted in request order (dataset-major, as alignment_request emits)."""
        conv2 = "model:conv3d-random:Conv2"
        views = []
        for d, dataset in enumerate(["retina", "V1"]):
            for m, token in enumerate([CONV1, conv2]):
                score = 0.1 * (1 + m) + 0.5 * d
                meta = {"methods": ["rsa", "cca"], "dsa_z": None, "mean_alignment": score,
                        "scores": {method: {"mean": score, "low": score - 0.05, "high": score + 0.05}
                                   for method in ("rsa", "cca")}}
                key = plant_view(ctx, "alignment", token, {"values": np.full((2, 3), score)}, meta, dataset=dataset)
                views.append({"view": "alignment", "source": token, "key": key, "options": {"dataset": dataset}})
        fig, columns, rows = alignment.alignment_views({"views": views}, ctx=ctx)
        assert [c["id"] for c in columns] == ["module", "retina", "V1"]
        assert rows == [{"module": "Conv1", "retina": 0.1, "V1": 0.6}, {"module": "Conv2", "retina": 0.2, "V1": 0.7}]
        means = [t for t in fig.data if t.meta["kind"] == "mean"]
        assert {(t.meta["dataset"], t.meta["method"]) for t in means} == {(d, m) for d in ("retina", "V1")
                                                                        for m in ("rsa", "cca")}
        for trace in means:
            assert list(trace.x) == ["Conv1", "Conv2"]
            offset = 0.5 if trace.meta["dataset"] == "V1" else 0.0
            assert np.allclose(trace.y, [0.1 + offset, 0.2 + offset])


def test_job_ids_name_the_page():
    from app.ids import JobIds

    methods = {"run": JobIds.RUN, "request": JobIds.REQUEST, "result": JobIds.RESULT, "query": JobIds.QUERY,
               "export": JobIds.EXPORT, "export_format": JobIds.EXPORT_FORMAT, "download": JobIds.DOWNLOAD}
    for method, kind in methods.items():
        assert getattr(JobIds, method)("tubularity") == {"type": kind, "page": "tubularity"}
    assert len(set(methods.values())) == len(methods)


def test_named_views_keep_request_order(ctx):
    views = [{"view": "accuracy", "source": CONV1, "key": "a"}, {"view": "tubularity", "source": RETINA, "key": "b"},
             {"view": "accuracy", "source": "model:fnn-random:Rec", "key": "c"},
             {"view": "accuracy", "source": RETINA, "key": "d"}]
    named = named_views({"views": views}, "accuracy", ctx=ctx)
    assert [(name, entry["key"]) for name, entry in named] == [("Conv1", "a"), ("fnn-random/Rec", "c"),
                                                                ("retina", "d")]
    assert named_views(None, "accuracy", ctx=ctx) == [] and named_views({"views": views}, "alignment", ctx=ctx) == []


def test_find_view_and_plain_figure():
    result = {"views": [{"view": "decoding", "source": "a", "key": "k1"}, {"view": "encoding", "source": "a"}]}
    assert find_view(result, "decoding", "a")["key"] == "k1" and find_view(result, "decoding", "b") is None
    fig = go.Figure(go.Scatter3d(x=np.arange(3.0), y=np.zeros(3), z=np.ones(3)))
    assert plain_figure(fig)["data"][0]["x"] == [0.0, 1.0, 2.0]
