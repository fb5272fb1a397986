"""The response data model: validation, selection, lossless save/load and the content hash."""

import numpy as np
import pytest

from compute.responses import ResponseSet

STIMULI = ("grat_W12", "grat_W2", "neg1dotflow_D2_bg")


def make_set(rng, n_units=5, n_time=7, **kwargs):
    return ResponseSet(
        responses=rng.random((n_units, len(STIMULI), 8, n_time)),
        stimuli=STIMULI,
        time=np.arange(n_time) / 30.0,
        units={"module": np.array(["Rec"] * 3 + ["Output"] * (n_units - 3)),
               "channel": np.arange(n_units), "cell_type": [None, "ds", "on", "off", "ds"][:n_units]},
        significant=rng.random((n_units, len(STIMULI))) > 0.5,
        provenance={"model": "fnn", "weights": "random-seed-0", "settings": {"crop": "authors"}},
        **kwargs,
    )


# ------------------------------------------------------------------ validation
class TestValidation:
    def test_rejects_wrong_ndim(self):
        with pytest.raises(ValueError, match=r"must be 4-D \(unit, stimulus, direction, time\); got shape \(2, 3, 8\)"):
            ResponseSet(np.zeros((2, 3, 8)), stimuli=STIMULI)

    def test_rejects_wrong_stimulus_count(self):
        with pytest.raises(ValueError, match="2 stimulus names for 3 stimuli"):
            ResponseSet(np.zeros((2, 3, 8, 4)), stimuli=STIMULI[:2])

    def test_rejects_bad_unit_column(self):
        with pytest.raises(ValueError, match=r"unit metadata 'layer' must have shape \(2,\)"):
            ResponseSet(np.zeros((2, 3, 8, 4)), stimuli=STIMULI, units={"layer": [1, 2, 3]})

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
    def test_rejects_non_finite_responses(self, bad):
        """v1 accepted NaN / inf: decode and encode then failed deep in ARPACK / LAPACK with a traceback."""
        responses = np.ones((2, 3, 8, 4))
        responses[1, 2, 3, :2] = bad
        with pytest.raises(ValueError, match=r"^V1: 2 of 192 responses are NaN or infinite; a ResponseSet needs"):
            ResponseSet(responses, stimuli=STIMULI, provenance={"label": "V1"})

    @pytest.mark.parametrize("value", [0.0, 3.5], ids=["all-zero", "constant"])
    def test_require_variation_names_the_set(self, value):
        rs = ResponseSet(np.full((2, 3, 8, 4), value), stimuli=STIMULI, provenance={"label": "FNN / Rec"})
        with pytest.raises(ValueError, match=rf"^FNN / Rec: all 192 responses equal {value:g}; nothing to analyse"):
            rs.require_variation()
        varied = rs.responses.copy()
        varied[0, 0, 0, 0] += 1
        ok = ResponseSet(varied, stimuli=STIMULI)
        assert ok.require_variation() is ok

    def test_none_in_string_column_becomes_empty(self, rng):
        rs = make_set(rng)
        assert rs.units["cell_type"][0] == "" and rs.units["cell_type"][1] == "ds"
        assert rs.responses.dtype == np.float32


# ------------------------------------------------------------------ selection
class TestSelect:
    def test_stimuli_by_name_keep_given_order(self, rng):
        rs = make_set(rng)
        sub = rs.select(stimuli=["neg1dotflow_D2_bg", "grat_W12"])
        assert sub.stimuli == ("neg1dotflow_D2_bg", "grat_W12")
        np.testing.assert_array_equal(sub.responses[:, 0], rs.responses[:, 2])
        np.testing.assert_array_equal(sub.significant[:, 1], rs.significant[:, 0])

    def test_module_and_units(self, rng):
        rs = make_set(rng)
        rec = rs.select(module="Rec")
        assert rec.n_units == 3 and set(rec.units["module"]) == {"Rec"}
        np.testing.assert_array_equal(rs.select(module="Output", units=[1]).responses, rs.responses[4:5])
        np.testing.assert_array_equal(rs.select(units=rs.units["channel"] > 2).units["channel"], [3, 4])

    def test_unknown_names_raise(self, rng):
        rs = make_set(rng)
        with pytest.raises(ValueError, match="unknown stimulus 'grat_W99'"):
            rs.select(stimuli=["grat_W99"])
        with pytest.raises(ValueError, match="no units of module 'Enc L1'"):
            rs.select(module="Enc L1")


# ------------------------------------------------------------------ save / load / hash
class TestPersistence:
    def test_round_trip_is_identical(self, rng, tmp_path):
        rs = make_set(rng, time_unit="s", onset_index=0)
        back = ResponseSet.load(rs.save(tmp_path / "sub" / "rs.npz"))
        np.testing.assert_array_equal(back.responses, rs.responses)
        assert back.stimuli == rs.stimuli and back.provenance == rs.provenance
        for k in rs.units:
            np.testing.assert_array_equal(back.units[k], rs.units[k])
        assert back.content_hash() == rs.content_hash()
        assert back.equals(rs)

    def test_hash_is_stable_and_sees_every_label(self, rng):
        rs = make_set(rng)
        base = rs.content_hash()
        assert base == make_set(np.random.default_rng(42)).content_hash()
        assert base == ResponseSet.from_arrays(rs.to_arrays()).content_hash()
        changed = [
            rs.with_responses(rs.responses + np.float32(1e-3)),
            rs.with_responses(rs.responses, note="x"),
            ResponseSet(rs.responses, stimuli=("a", "b", "c"), time=rs.time, units=rs.units,
                        significant=rs.significant, provenance=rs.provenance),
            ResponseSet(rs.responses, stimuli=rs.stimuli, time=rs.time + 1, units=rs.units,
                        significant=rs.significant, provenance=rs.provenance),
            ResponseSet(rs.responses, stimuli=rs.stimuli, time=rs.time, units={**rs.units, "channel": np.arange(5) + 1},
                        significant=rs.significant, provenance=rs.provenance),
            ResponseSet(rs.responses, stimuli=rs.stimuli, time=rs.time, units=rs.units,
                        significant=~rs.significant, provenance=rs.provenance),
            ResponseSet(rs.responses, stimuli=rs.stimuli, time=rs.time, units=rs.units, time_unit="bin",
                        significant=rs.significant, provenance=rs.provenance),
        ]
        hashes = {c.content_hash() for c in changed}
        assert base not in hashes and len(hashes) == len(changed)

    def test_load_refuses_pickles(self, tmp_path):
        bad = tmp_path / "bad.npz"
        np.savez(bad, responses=np.array([object()], dtype=object), meta=np.array("{}"))
        with pytest.raises(ValueError, match="allow_pickle"):
            ResponseSet.load(bad)
