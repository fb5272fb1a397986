"""Cached view workflows: source tokens, keys, compute-once, summaries, end-to-end views."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from compute import views, workflows
from compute.bio.datasets import BIO_STIMULI
from compute.config import Settings
from compute.jobs import JobControl
from compute.responses import ResponseSet
from compute.sources import RunSettings, Source, source_key, source_responses
from compute.workflows import VIEW_OPTIONS, compute_view, load_view, unit_response_map, view_key, view_summary

N_UNITS, N_TIME = 24, 12


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


def tiny_set(rng: np.random.Generator, *, label: str = "tiny", reconstructed: bool = True,
             preferred: int = 3) -> ResponseSet:
    """Separable stimuli (each drives its own units), every unit tuned to direction ``preferred``."""
    n_stim, n_dir = len(BIO_STIMULI), 8
    tuning = np.exp(np.cos(np.deg2rad(45.0 * (np.arange(n_dir) - preferred))))
    drive = np.zeros((N_UNITS, n_stim))
    drive[np.arange(N_UNITS), np.arange(N_UNITS) % n_stim] = 3.0
    ramp = np.linspace(0.2, 1.0, N_TIME)
    resp = drive[:, :, None, None] * tuning[None, None, :, None] * ramp + 0.05 * rng.random(
        (N_UNITS, n_stim, n_dir, N_TIME))
    return ResponseSet(responses=resp.astype(np.float32), stimuli=BIO_STIMULI, time_unit="bin",
                       units={"cell_type": np.array([f"type{i % 3}" for i in range(N_UNITS)])},
                       provenance={"label": label, "reconstructed": reconstructed})


@pytest.fixture
def bio_source(tmp_cache, settings, rng) -> Source:
    """A 'bio' source whose responses are planted in the cache under its source key."""
    source = Source("bio", "V1")
    tmp_cache.put_responses(source_key(source, settings=settings), tiny_set(rng))
    return source


# ---------------------------------------------------------------------------------------------- Source
class TestSource:
    @pytest.mark.parametrize("source, token", [
        (Source("model", "fnn-random", "Rec"), "model:fnn-random:Rec"),
        (Source("model", "fnn-random", "Enc L1"), "model:fnn-random:Enc+L1"),
        (Source("bio", "V1"), "bio:V1"),
    ], ids=["model", "space", "bio"])
    def test_token_round_trip(self, source, token):
        assert source.to_token() == token
        assert Source.parse(token) == source

    def test_parse_accepts_raw_spaces(self):
        assert Source.parse("model:fnn-random:Enc L8") == Source("model", "fnn-random", "Enc L8")

    @pytest.mark.parametrize("token, message", [
        ("cat:fnn-random:Rec", "cannot read source"),
        ("model:fnn-random:Rec:extra", "cannot read source"),
        ("V1", "cannot read source"),
        ("bio:../../etc", "source name must be"),
        ("model:fnn-random:a/b", "source module must be"),
        ("model:fnn-random", "a model source needs a module"),
        ("bio:V1:Rec", "a biological source has no module"),
    ])
    def test_parse_errors(self, token, message):
        with pytest.raises(ValueError, match=message):
            Source.parse(token)

    def test_parse_type_error(self):
        with pytest.raises(TypeError, match="source token must be a str"):
            Source.parse(3)

    def test_kind_error(self):
        with pytest.raises(ValueError, match="source kind must be one of"):
            Source("net", "x")

    def test_bio_label(self, monkeypatch):
        monkeypatch.delenv("TWINSCOPE_BIO_TRACES", raising=False)
        assert Source("bio", "V1").label == "V1 (reconstructed from published factors)"


# ---------------------------------------------------------------------------------------------- RunSettings
class TestRunSettings:
    def test_quick_look(self):
        assert RunSettings.quick_look().instances == 1
        assert RunSettings.quick_look(seed=2) == RunSettings(instances=1, seed=2)

    def test_key_parts_are_json(self):
        parts = RunSettings().key_parts()
        assert json.loads(json.dumps(parts))["classes"] == list(range(11))

    def test_suite_and_sampling(self):
        run = RunSettings(instances=1, n_frames=4, classes=(0, 3), n_maps=4, n_positions=5, crop="symmetric")
        assert run.suite_spec().classes == (0, 3) and run.suite_spec().n_instances == 1
        sampling = run.sampling_settings()
        assert (sampling.n_maps, sampling.n_positions, sampling.crop) == (4, 5, "symmetric")

    @pytest.mark.parametrize("changes, error, message", [
        ({"instances": 0}, ValueError, "instances must be an integer >= 1"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"n_frames": 2.5}, TypeError, "n_frames must be an int"),
        ({"instances": True}, TypeError, "instances must be an int"),
        ({"classes": ()}, ValueError, "classes must be distinct"),
        ({"classes": (1, 1)}, ValueError, "classes must be distinct"),
    ])
    def test_errors(self, changes, error, message):
        with pytest.raises(error, match=message):
            RunSettings(**changes)


# ---------------------------------------------------------------------------------------------- keys
_OTHER_VALUES = {"stimuli": "all", "drop_flagged": True, "windows": False, "n_boot": 5, "q": 0.8,
                 "smoothing": 1.0, "sensitivity": False, "random_state": 1, "dataset": "retina",
                 "preset": "publication", "methods": ("rsa",), "rank": 5, "n_restarts": 2,
                 "stimulus_set": "bio-matched", "ian": "greedy", "k_far": 0, "k_near": 0, "eps_rule": "exact",
                 "n_nulls": 3, "dsa_method": "wasserstein", "with_clips": True}
_OTHER_IN_VIEW = {("encoding", "preset"): "interactive"}
_BASE = {"alignment": {"dataset": "V1"}}


class TestKeys:
    model = Source("model", "fnn-random", "Rec")

    def test_stable(self, settings):
        a = view_key("tubularity", self.model, settings=settings, n_boot=30)
        assert a == view_key("tubularity", Source.parse("model:fnn-random:Rec"), settings=settings)
        assert a.startswith("view-tubularity-")

    @pytest.mark.parametrize("view, option", [(v, o) for v in VIEW_OPTIONS for o in VIEW_OPTIONS[v]])
    def test_sensitive_to_every_option(self, settings, view, option):
        base = _BASE.get(view, {})
        changed = {**base, option: _OTHER_IN_VIEW.get((view, option), _OTHER_VALUES[option])}
        assert view_key(view, self.model, settings=settings, **base) != view_key(view, self.model,
                                                                                settings=settings, **changed)

    @pytest.mark.parametrize("view", ["tubularity", "alignment"])
    def test_sensitive_to_view_version(self, settings, monkeypatch, view):
        base = _BASE.get(view, {})
        before = view_key(view, self.model, settings=settings, **base)
        monkeypatch.setitem(workflows.VIEW_VERSIONS, view, workflows.VIEW_VERSIONS[view] + 1)
        assert view_key(view, self.model, settings=settings, **base) != before

    # clips (a folder of files): tests/compute/test_clips.py TestSuiteAndKeys
    @pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(RunSettings) if f.name != "clips"])
    def test_model_key_sensitive_to_every_run_setting(self, settings, field):
        other = {"classes": (0, 1), "crop": "symmetric", "recurrent_channels": "all streams"}
        changed = other[field] if field in other else getattr(RunSettings(), field) + 1
        a = view_key("decoding", self.model, settings=settings)
        b = view_key("decoding", self.model, run=RunSettings(**{field: changed}), settings=settings)
        assert a != b

    def test_bio_key_depends_on_seed_and_traces_only(self, settings, tmp_path):
        bio = Source("bio", "V1")
        base = view_key("decoding", bio, settings=settings)
        assert view_key("decoding", bio, run=RunSettings(crop="symmetric", instances=1), settings=settings) == base
        assert view_key("decoding", bio, run=RunSettings(seed=1), settings=settings) != base
        traced = dataclasses.replace(settings, bio_traces_dir=tmp_path)
        assert view_key("decoding", bio, settings=traced) != base

    def test_sensitive_to_source_and_view(self, settings):
        keys = {view_key("decoding", s, settings=settings) for s in
                (self.model, Source("model", "fnn-random", "RecOut"), Source("model", "fnn-official", "Rec"),
                 Source("bio", "V1"), Source("bio", "retina"))}
        keys.add(view_key("accuracy", self.model, settings=settings))
        assert len(keys) == 6

    def test_presets_resolve_to_names(self, settings):
        names = ["grat_W12", "grat_W2", "neg1dotflow_D2_bg", "neg3dotflow_D2_bg", "pos1dotflow_D2_bg",
                 "pos3dotflow_D2_bg"]
        by_preset = view_key("decoding", self.model, settings=settings, stimuli="bio-matched")
        assert by_preset == view_key("decoding", self.model, settings=settings, stimuli=names)
        assert by_preset == view_key("decoding", self.model, settings=settings, stimuli=[0, 2, 5, 6, 9, 10])

    @pytest.mark.parametrize("view, options, message", [
        ("trajectory", {}, "unknown view 'trajectory'"),
        ("decoding", {"rank": 3}, r"unknown option\(s\) \['rank'\] for view 'decoding'"),
        ("alignment", {}, r"needs option\(s\) \['dataset'\]"),
        ("decoding", {"stimuli": ["grat_W99"]}, "unknown stimulus 'grat_W99'"),
        ("decoding", {"stimuli": [0, 0]}, "stimuli must be distinct"),
        ("decoding", {"stimuli": "bogus-preset"}, "bogus-preset"),
    ])
    def test_option_errors(self, settings, view, options, message):
        with pytest.raises(ValueError, match=message):
            view_key(view, self.model, settings=settings, **options)


class TestOptionBounds:
    """v1 checked no option value: a crafted request with n_boot=10,000,000 was accepted and ran."""

    def test_every_option_has_a_bound_its_default_meets(self):
        from compute.workflows import OPTION_BOUNDS, normalise_options

        for view, options in VIEW_OPTIONS.items():
            assert set(options) - {"stimuli"} <= set(OPTION_BOUNDS), view
            base = _BASE.get(view, {})
            explicit = {k: v for k, v in options.items() if k != "stimuli" and v is not workflows._REQUIRED}
            assert normalise_options(view, {**base, **explicit}) == normalise_options(view, base)

    def test_choices_mirror_the_analyses(self):
        from compute.analysis.alignment import DSA_METHODS, METHODS, PRESETS
        from compute.bio.datasets import DATASETS
        from compute.workflows import OPTION_BOUNDS

        assert OPTION_BOUNDS["dataset"].choices == DATASETS and OPTION_BOUNDS["methods"].choices == METHODS
        assert OPTION_BOUNDS["preset"].choices == tuple(PRESETS) and OPTION_BOUNDS["dsa_method"].choices == DSA_METHODS

    def test_profiles_and_the_explore_rank_field_use_the_bounds(self):
        from app.pages import explore
        from compute.profiles import PROFILES
        from compute.workflows import OPTION_BOUNDS, normalise_options

        assert (explore.RANK_LOW, explore.RANK_HIGH) == (OPTION_BOUNDS["rank"].low, OPTION_BOUNDS["rank"].high)
        for profile in PROFILES.values():
            for view, options in profile.get("views", {}).items():
                normalise_options(view, {**_BASE.get(view, {}), **options})

    @pytest.mark.parametrize("view, options, error, message", [
        ("tubularity", {"n_boot": 10_000_000}, ValueError, r"n_boot must be an integer in 2..200; got 10000000"),
        ("tubularity", {"n_boot": 30.0}, TypeError, "n_boot must be an integer"),
        ("tubularity", {"q": float("nan")}, ValueError, r"q must be a finite number in \[0.5, 1.0\]; got nan"),
        ("tubularity", {"smoothing": "2"}, TypeError, "smoothing must be a finite number"),
        ("tubularity", {"sensitivity": 1}, TypeError, "sensitivity must be True or False; got 1"),
        ("tubularity", {"random_state": -1}, ValueError, "random_state must be an integer in 0..4294967295"),
        ("encoding", {"rank": 41}, ValueError, r"rank must be an integer in 2..40 or None; got 41"),
        ("encoding", {"n_restarts": 10**6}, ValueError, "n_restarts must be an integer in 1..100"),
        ("alignment", {"dataset": "V2"}, ValueError, r"dataset must be one of \['retina', 'V1'\]; got 'V2'"),
        ("alignment", {"dataset": "V1", "preset": "huge"}, ValueError, "preset must be one of"),
        ("alignment", {"dataset": "V1", "methods": ["rsa", "rsa"]}, ValueError, "methods must be a non-empty"),
        ("alignment", {"dataset": "V1", "methods": "rsa"}, TypeError, "methods must be a non-empty"),
    ], ids=["n_boot-huge", "n_boot-float", "q-nan", "smoothing-str", "sensitivity-int", "seed-negative",
            "rank", "restarts", "dataset", "preset", "methods-repeat", "methods-str"])
    def test_out_of_bounds(self, settings, view, options, error, message):
        with pytest.raises(error, match=message):
            view_key(view, Source("model", "fnn-random", "Rec"), settings=settings, **options)


# ---------------------------------------------------------------------------------------------- compute once
class TestComputeView:
    def test_second_call_computes_nothing(self, tmp_cache, settings, bio_source, monkeypatch):
        calls = []
        real = views.BUILDERS["decoding"]

        def counting(rs, ctx, **kw):
            calls.append(kw)
            return real(rs, ctx, **kw)

        monkeypatch.setitem(views.BUILDERS, "decoding", counting)
        key = compute_view("decoding", bio_source, cache=tmp_cache, settings=settings)
        again = compute_view("decoding", bio_source, cache=tmp_cache, settings=settings)
        assert key == again and len(calls) == 1
        compute_view("decoding", bio_source, cache=tmp_cache, settings=settings, stimuli=["grat_W12", "grat_W2"])
        assert len(calls) == 2
        assert key == view_key("decoding", bio_source, settings=settings)

    def test_progress_and_meta(self, tmp_cache, settings, bio_source):
        seen = []
        key = compute_view("decoding", bio_source, cache=tmp_cache, settings=settings,
                           control=JobControl(progress=lambda f, text: seen.append(f)))
        assert seen[-1] == 1.0 and seen == sorted(seen)
        _, meta = load_view(key, cache=tmp_cache)
        assert meta["view"] == "decoding" and meta["source"] == "bio:V1" and meta["reconstructed"] is True
        assert meta["options"] == {"stimuli": None, "drop_flagged": False}
        assert meta["input_hash"] == tmp_cache.get_responses(source_key(bio_source, settings=settings)).content_hash()

    def test_cancel_stores_nothing(self, tmp_cache, settings, bio_source):
        from compute.jobs import Cancelled

        with pytest.raises(Cancelled):
            compute_view("decoding", bio_source, cache=tmp_cache, settings=settings,
                         control=JobControl(cancelled=lambda: True))
        assert view_key("decoding", bio_source, settings=settings) not in tmp_cache

    def test_summary_is_small(self, tmp_cache, settings, bio_source):
        key = compute_view("decoding", bio_source, cache=tmp_cache, settings=settings)
        summary = view_summary(key, cache=tmp_cache)
        assert len(json.dumps(summary)) < 10_000
        assert summary["key"] == key and summary["label"] == "tiny"
        assert summary["counts"]["n_conditions"] == 48 and summary["counts"]["n_units"] == N_UNITS

    def test_missing_key(self, tmp_cache):
        with pytest.raises(KeyError):
            view_summary("view-decoding-0123", cache=tmp_cache)

    def test_stimuli_a_source_lacks_are_left_out(self, tmp_cache, settings, bio_source):
        key = compute_view("decoding", bio_source, cache=tmp_cache, settings=settings,
                           stimuli=["grat_W1", "grat_W2", "grat_W12"])
        arrays, meta = load_view(key, cache=tmp_cache)
        assert meta["stimuli"] == ["grat_W2", "grat_W12"] and meta["missing_stimuli"] == ["grat_W1"]
        assert arrays["coords"].shape == (16, 3)

    def test_no_requested_stimulus_present(self, tmp_cache, settings, bio_source):
        with pytest.raises(ValueError, match="has none of the stimuli"):
            compute_view("decoding", bio_source, cache=tmp_cache, settings=settings, stimuli=["grat_W1"])


# ---------------------------------------------------------------------------------------------- sources
class TestSourceResponses:
    def test_model_pointer_is_read_without_extraction(self, tmp_cache, settings, rng):
        source = Source("model", "fnn-random", "Rec")
        rs = tiny_set(rng, label="planted")
        tmp_cache.put_responses("responses-planted", rs)
        tmp_cache.put(source_key(source, settings=settings), {}, {"responses_key": "responses-planted"})
        assert source_responses(source, cache=tmp_cache, settings=settings).equals(rs)

    def test_bio_loaded_once_then_cached(self, tmp_cache, data_dir, monkeypatch):
        import compute.bio.datasets as datasets

        calls = []
        real = datasets.load_dataset

        def counting(name, **kw):
            calls.append(name)
            return real(name, **kw)

        monkeypatch.setattr(datasets, "load_dataset", counting)
        settings = Settings(cache_dir=tmp_cache.root, data_dir=Path(data_dir))
        first = source_responses(Source("bio", "V1"), cache=tmp_cache, settings=settings)
        second = source_responses(Source("bio", "V1"), cache=tmp_cache, settings=settings)
        assert calls == ["V1"] and first.shape == (637, 6, 8, 135) and second.equals(first)
        assert first.provenance["reconstructed"] is True


# ---------------------------------------------------------------------------------------------- end to end
class TestViewsEndToEnd:
    def test_decoding(self, tmp_cache, settings, bio_source):
        arrays, meta = load_view(compute_view("decoding", bio_source, cache=tmp_cache, settings=settings),
                                 cache=tmp_cache)
        assert arrays["coords"].shape == (48, 3) and arrays["curves"].shape == (48, N_TIME, 3)
        assert meta["stimuli"] == list(BIO_STIMULI) and meta["time_unit"] == "bin"
        np.testing.assert_array_equal(arrays["labels"][9], [1, 1])

    @pytest.mark.slow
    def test_tubularity(self, tmp_cache, settings, bio_source):
        key = compute_view("tubularity", bio_source, cache=tmp_cache, settings=settings, n_boot=3,
                           stimuli=["grat_W12", "grat_W2", "pos1dotflow_D2_bg"])
        arrays, meta = load_view(key, cache=tmp_cache)
        assert arrays["s_tight_boot"].shape == (3,) and arrays["bundle_curves"].shape == (24, 150, 3)
        assert arrays["centerlines"].shape == (3, 150, 3) and arrays["sensitivity_s_tight"].shape == (6, 5)
        assert meta["s_tight"] == pytest.approx(arrays["s_tight_boot"].mean()) and meta["s_tight"] > 0
        assert meta["stimuli"] == ["grat_W12", "grat_W2", "pos1dotflow_D2_bg"]


# ---------------------------------------------------------------------------------------------- unit maps
class TestUnitResponseMap:
    def test_rolled_to_planted_preferred_direction(self, tmp_cache, settings, bio_source):
        out = unit_response_map(bio_source, 5, cache=tmp_cache, settings=settings)
        assert out["map"].shape == (6, 8, N_TIME) and out["stimuli"] == list(BIO_STIMULI)
        assert out["preferred_direction"] == pytest.approx(135.0, abs=1.0)  # planted at index 3
        peak = out["map"].mean(axis=2).argmax(axis=1)
        assert peak[5 % 6] == 0  # the driven stimulus peaks at the first (preferred) direction
        np.testing.assert_array_equal(out["directions"], np.arange(8) * 45.0)
        assert out["unit"] == {"cell_type": "type2"} and out["label"] == "tiny"

    def test_errors(self, tmp_cache, settings, bio_source):
        with pytest.raises(ValueError, match=r"unit_index must be an integer in 0..23 \(the units of tiny\); got 99"):
            unit_response_map(bio_source, 99, cache=tmp_cache, settings=settings)
        with pytest.raises(TypeError, match="unit_index must be an integer >= 0; got 1.5"):
            unit_response_map(bio_source, 1.5, cache=tmp_cache, settings=settings)
        with pytest.raises(KeyError, match="not computed yet"):
            unit_response_map(Source("model", "fnn-random", "Rec"), 0, cache=tmp_cache, settings=settings)


def test_drop_flagged_removes_planted_intensity_arm(tmp_cache, settings, rng):
    rs = tiny_set(rng)
    arm = np.broadcast_to(np.linspace(0.1, 2.0, N_TIME), (4, 6, 8, N_TIME))  # untuned ramps
    planted = ResponseSet(responses=np.concatenate([rs.responses, arm]), stimuli=rs.stimuli, time_unit="bin",
                          provenance={"label": "with arm"})
    source = Source("bio", "retina")
    tmp_cache.put_responses(source_key(source, settings=settings), planted)
    kept = view_summary(compute_view("decoding", source, cache=tmp_cache, settings=settings, drop_flagged=True),
                        cache=tmp_cache)
    full = view_summary(compute_view("decoding", source, cache=tmp_cache, settings=settings), cache=tmp_cache)
    assert full["counts"]["n_units"] == N_UNITS + 4 and kept["counts"]["n_units"] == N_UNITS


@pytest.mark.slow
def test_encoding_view_on_tiny_model_source(tmp_cache, settings, rng):
    source = Source("model", "fnn-random", "Rec")
    tmp_cache.put_responses("responses-enc", tiny_set(rng, label="enc"))
    tmp_cache.put(source_key(source, settings=settings), {}, {"responses_key": "responses-enc"})
    key = compute_view("encoding", source, cache=tmp_cache, settings=settings, rank=2, n_restarts=1, k_far=0, k_near=0)
    arrays, meta = load_view(key, cache=tmp_cache)
    assert arrays["coords"].shape == (N_UNITS, 3)
    np.testing.assert_array_equal(arrays["unit_index"], np.arange(N_UNITS))
    assert meta["color_options"]["OSI"] == "continuous" and meta["color_options"]["cell_type"] == "categorical"
    assert arrays["color__cell_type"][4] == "type1" and arrays["color__intensity arm"].dtype == bool
    assert meta["diagnostics"]["rank"] == 2 and meta["restarts_note"] == "1 restarts (publication preset; the authors ran 50)"
    assert arrays["nn_distances"].shape == arrays["nn_removed"].shape and arrays["nn_removed"].sum() == 0
    assert (meta["diagnostics"]["k_far"], meta["diagnostics"]["ian_objective"]) == (0, "lp")
    # The preset's bound (OPTION_BOUNDS) answers before the encoding precheck, whose own preset check was dead.
    with pytest.raises(ValueError, match=r"preset must be one of \['interactive', 'publication'\]; got 'fast'"):
        compute_view("encoding", source, cache=tmp_cache, settings=settings, preset="fast")
    with pytest.raises(ValueError, match="no seed-study rank for module 'Pool'"):
        compute_view("encoding", Source("model", "conv3d-random", "Pool"), cache=tmp_cache, settings=settings)
