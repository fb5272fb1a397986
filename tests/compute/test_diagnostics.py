"""Unit diagnostics (METHODS.md section 8): tuning indices on hand-made curves, intensity-arm detector."""

from __future__ import annotations

import numpy as np
import pytest

from compute.analysis.diagnostics import intensity_arm, remove_flagged, unit_tuning
from compute.responses import ResponseSet

THETA = np.deg2rad(np.arange(0, 360, 45))


def _set(curves: np.ndarray, n_time: int = 5, **kwargs) -> ResponseSet:
    """Tuning curves (n_units, n_stimuli, 8) held constant over time."""
    resp = np.repeat(curves[..., None], n_time, axis=-1)
    return ResponseSet(resp.astype(np.float32), tuple(f"s{i}" for i in range(curves.shape[1])), **kwargs)


class TestUnitTuning:
    def test_hand_made_tuning_curves(self):
        curves = np.stack([
            1 + np.cos(2 * (THETA - np.deg2rad(45))),    # pure orientation tuning: OSI 1/2, DSI 0
            1 + np.cos(THETA - np.deg2rad(90)),          # pure direction tuning: DSI 1/2, OSI 0, prefers 90
            np.eye(8)[6],                                 # one direction only (270): OSI = DSI = 1
            np.ones(8),                                   # untuned
        ])[:, None, :]
        tuning = unit_tuning(_set(curves))
        np.testing.assert_allclose(tuning.osi, [0.5, 0.0, 1.0, 0.0], atol=1e-6)
        np.testing.assert_allclose(tuning.dsi, [0.0, 0.5, 1.0, 0.0], atol=1e-6)
        np.testing.assert_allclose(tuning.preferred_direction[1:3], [90.0, 270.0], atol=1e-4)

    def test_best_stimulus_and_onset_window(self):
        curves = np.stack([np.stack([np.ones(8), 3 * np.eye(8)[2]]), np.stack([2 * np.eye(8)[0], np.ones(8)])])
        rs = _set(curves, n_time=6, onset_index=2)
        resp = rs.responses.copy()
        resp[..., :2] = 100.0 * np.eye(8)[4][:, None]           # before the onset: ignored
        tuning = unit_tuning(rs.with_responses(resp))
        np.testing.assert_array_equal(tuning.best_stimulus, [1, 0])
        np.testing.assert_allclose(tuning.osi, [1.0, 1.0], atol=1e-6)
        np.testing.assert_allclose(tuning.preferred_direction, [90.0, 0.0], atol=1e-4)
        np.testing.assert_allclose(tuning.osi_per_stimulus, [[0.0, 1.0], [1.0, 0.0]], atol=1e-6)
        assert tuning.preferred_per_stimulus.shape == (2, 2) and tuning.stimuli == ("s0", "s1")

    def test_silent_unit_is_nan(self):
        tuning = unit_tuning(_set(np.zeros((1, 1, 8))))
        assert np.isnan(tuning.osi[0]) and np.isnan(tuning.dsi_per_stimulus[0, 0])

    def test_errors(self):
        with pytest.raises(TypeError, match="rs must be a ResponseSet; got ndarray"):
            unit_tuning(np.zeros((1, 1, 8, 5)))
        with pytest.raises(ValueError, match=r"need at least 2 time bins from the onset \(bin 4\); got 5 bins"):
            unit_tuning(_set(np.ones((1, 1, 8)), onset_index=4))


def _population(rng) -> tuple[ResponseSet, np.ndarray]:
    """20 non-selective rampers (planted), 15 tuned rampers, 10 non-selective transient units."""
    t = np.linspace(0, 1, 30)
    ramp = (t + 0.1)[None, None, None, :] * rng.uniform(1, 2, (20, 1, 1, 1)) * (1 + 0.02 * rng.normal(size=(20, 3, 8, 1)))
    tuned_curve = np.exp(2 * (np.cos(THETA[None, :] - rng.uniform(0, 2 * np.pi, (15, 1))) - 1))
    tuned = tuned_curve[:, None, :, None] * (t + 0.1)[None, None, None, :] * np.ones((15, 3, 8, 1))
    transient = 0.3 * np.exp(-((t - 0.3) / 0.1) ** 2)[None, None, None, :] * np.ones((10, 3, 8, 1))
    resp = np.concatenate([ramp, tuned, transient])
    rs = ResponseSet(resp.astype(np.float32), ("a", "b", "c"), provenance={"label": "enc"})
    return rs, np.arange(45) < 20


class TestIntensityArm:
    def test_flags_planted_rampers_only(self, rng):
        rs, planted = _population(rng)
        arm = intensity_arm(rs)
        np.testing.assert_array_equal(arm.flags, planted)
        assert arm.n_flagged == 20
        assert np.all(arm.ramp[:35] > 0.99) and np.all(arm.ramp[35:] < 0.5)
        assert np.all(arm.osi[20:35] > 0.2) and arm.psth_corr.shape == (45,)
        assert arm.thresholds == {"max_osi": 0.2, "max_dsi": 0.2, "min_psth_corr": 0.9, "min_ramp": 0.9}

    def test_thresholds_are_options(self, rng):
        rs, _ = _population(rng)
        assert intensity_arm(rs, max_osi=1.0, max_dsi=1.0).n_flagged == 35
        assert intensity_arm(rs, min_ramp=1.0).n_flagged <= 20

    def test_remove_flagged(self, rng):
        rs, planted = _population(rng)
        kept = remove_flagged(rs, intensity_arm(rs).flags)
        assert kept.n_units == 25
        np.testing.assert_array_equal(kept.responses, rs.responses[~planted])
        assert kept.provenance["removed_units"] == 20 and kept.label == "enc (flagged units removed)"
        again = remove_flagged(kept, np.arange(25) == 0)
        assert again.provenance["removed_units"] == 21 and again.label == "enc (flagged units removed)"

    def test_errors(self, rng):
        rs, planted = _population(rng)
        with pytest.raises(ValueError, match=r"max_osi must be a finite number in \[0, 1\]; got 1.5"):
            intensity_arm(rs, max_osi=1.5)
        with pytest.raises(ValueError, match=r"min_ramp must be a finite number in \[-1, 1\]; got 2"):
            intensity_arm(rs, min_ramp=2)
        with pytest.raises(TypeError, match="flags must be a boolean array; got dtype int64"):
            remove_flagged(rs, planted.astype(np.int64))
        with pytest.raises(ValueError, match=r"flags must have shape \(45,\), one per unit; got \(44,\)"):
            remove_flagged(rs, planted[:-1])
        with pytest.raises(ValueError, match="all 45 units are flagged; nothing would remain"):
            remove_flagged(rs, np.ones(45, dtype=bool))
        with pytest.raises(TypeError, match="rs must be a ResponseSet; got ndarray"):
            remove_flagged(rs.responses, planted)
