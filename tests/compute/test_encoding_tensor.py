"""Encoding-tensor preparation: known answers for Fortran order, relNorm, zeroing, smoothing, stimulus choice."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from compute.encoding.tensor import encoding_tensor, flatten_maps, unflatten_maps
from compute.responses import ResponseSet
from compute.stimuli import CLASS_NAMES, PRESETS

BIO = tuple(CLASS_NAMES[k] for k in PRESETS["bio-matched"])


def bio_set(responses, significant=None):
    return ResponseSet(responses=responses, stimuli=BIO, time_unit="bin", significant=significant)


def model_set(responses):
    return ResponseSet(responses=responses, stimuli=CLASS_NAMES, time=np.arange(responses.shape[3]) / 30.0)


# ------------------------------------------------------------------ flattening
class TestFortranOrder:
    def test_index_is_direction_plus_8_time(self):
        d, t = np.meshgrid(np.arange(8), np.arange(5), indexing="ij")
        flat = flatten_maps((d + 8 * t)[None])
        np.testing.assert_array_equal(flat[0], np.arange(40))

    def test_matches_numpy_fortran_ravel_and_inverts(self, rng):
        maps = rng.random((3, 2, 8, 7))
        flat = flatten_maps(maps)
        np.testing.assert_array_equal(flat[1, 0], maps[1, 0].ravel(order="F"))
        np.testing.assert_array_equal(unflatten_maps(flat), maps)

    def test_unflatten_rejects_bad_length(self):
        with pytest.raises(ValueError, match="not a multiple of n_directions=8"):
            unflatten_maps(np.zeros((2, 30)))


# ------------------------------------------------------------------ relNorm and zeroing
class TestRelNorm:
    def test_maps_have_norm_relfr_and_relfr_is_known(self, rng):
        template = rng.random((4, 1, 8, 6)) + 0.1
        scales = np.array([1.0, 2.0, 4.0, 0.5, 0.0, 3.0])   # stimulus 4 silent
        et = encoding_tensor(bio_set(template * scales[None, :, None, None]))
        np.testing.assert_allclose(et.rel_fr, np.tile(scales / 4.0, (4, 1)))
        np.testing.assert_allclose(np.linalg.norm(et.full, axis=2), et.rel_fr)
        np.testing.assert_allclose(et.rel_fr.max(axis=1), 1.0)
        assert et.tensor.shape == (4, 6, 48) and et.n_time == 6 and et.smoothing_sigma == 0.0

    def test_relfr_uses_max_over_directions_of_time_mean(self):
        resp = np.zeros((1, 6, 8, 4))
        resp[0, 0, 3] = [1, 1, 1, 1]        # time-mean 1 in one direction
        resp[0, 1, :, 0] = 2.0              # time-mean 0.5 in every direction
        et = encoding_tensor(bio_set(resp))
        np.testing.assert_allclose(et.rel_fr[0], [1.0, 0.5, 0, 0, 0, 0])

    def test_nonsignificant_maps_zeroed_only_in_tensor(self, rng):
        sig = np.ones((3, 6), dtype=bool)
        sig[1, 2] = sig[2, 5] = False
        et = encoding_tensor(bio_set(rng.random((3, 6, 8, 5)) + 0.1, significant=sig))
        assert not et.tensor[1, 2].any() and not et.tensor[2, 5].any()
        assert et.full[1, 2].any() and et.full[2, 5].any()
        np.testing.assert_array_equal(et.tensor[0], et.full[0])
        np.testing.assert_array_equal(et.significant, sig)

    def test_negative_units_are_shifted_up(self):
        resp = np.ones((2, 6, 8, 3))
        resp[0, 0, 0, 0] = -2.0
        et = encoding_tensor(bio_set(resp))
        maps = unflatten_maps(et.full)
        assert maps[0, 0, 0, 0] == 0.0 and maps[0].min() == 0.0
        np.testing.assert_allclose(maps[1, 0], np.full((8, 3), 1 / np.sqrt(24)))


# ------------------------------------------------------------------ smoothing and stimulus choice
class TestModelUnits:
    def test_model_sets_are_smoothed_with_sigma_3(self, rng):
        resp = rng.random((2, 11, 8, 37)).astype(np.float32)
        et = encoding_tensor(model_set(resp))
        assert et.smoothing_sigma == 3.0
        smooth = gaussian_filter1d(resp.astype(np.float64), 3.0, axis=3, mode="nearest")
        idx = [CLASS_NAMES.index(s) for s in BIO]
        expected = smooth[:, idx] / np.linalg.norm(smooth[:, idx], axis=(2, 3), keepdims=True)
        np.testing.assert_allclose(unflatten_maps(et.full) / et.rel_fr[:, :, None, None], expected, rtol=1e-5)

    def test_per_unit_best_picks_the_better_driven_set(self):
        resp = np.full((2, 11, 8, 5), 0.01, dtype=np.float32)
        resp[0, list(PRESETS["authors-lowsf"])] = 1.0
        resp[1, list(PRESETS["authors-highsf"])] = 1.0
        et = encoding_tensor(model_set(resp), stimuli="per-unit-best", smoothing_sigma=0)
        np.testing.assert_array_equal(et.stimulus_index[0], PRESETS["authors-lowsf"])
        np.testing.assert_array_equal(et.stimulus_index[1], PRESETS["authors-highsf"])
        assert et.choice == "per-unit-best"

    def test_named_and_custom_sets(self, rng):
        rs = model_set(rng.random((2, 11, 8, 5)))
        et = encoding_tensor(rs, stimuli="authors-highsf")
        np.testing.assert_array_equal(et.stimulus_index[1], PRESETS["authors-highsf"])
        custom = encoding_tensor(rs, stimuli=["grat_W1", "grat_W2"])
        assert custom.choice == "custom" and custom.tensor.shape == (2, 2, 40)


class TestErrors:
    def test_unknown_choice(self, rng):
        with pytest.raises(ValueError, match="unknown stimulus choice 'lowsf'"):
            encoding_tensor(model_set(rng.random((1, 11, 8, 4))), stimuli="lowsf")

    def test_biology_lacks_author_sets(self, rng):
        with pytest.raises(ValueError, match=r"lacks the stimuli \['grat_W1'"):
            encoding_tensor(bio_set(rng.random((1, 6, 8, 4))), stimuli="per-unit-best")

    def test_duplicate_custom_stimuli(self, rng):
        with pytest.raises(ValueError, match="stimuli must be distinct and non-empty"):
            encoding_tensor(model_set(rng.random((1, 11, 8, 4))), stimuli=["grat_W1", "grat_W1"])

    def test_negative_sigma(self, rng):
        with pytest.raises(ValueError, match="smoothing_sigma must be >= 0; got -1"):
            encoding_tensor(bio_set(rng.random((1, 6, 8, 4))), smoothing_sigma=-1)

    def test_not_a_response_set(self):
        with pytest.raises(TypeError, match="expected a ResponseSet; got ndarray"):
            encoding_tensor(np.zeros((1, 6, 8, 4)))

    def test_nan_responses(self):
        resp = np.ones((1, 6, 8, 4))
        resp[0, 0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN or infinite"):
            encoding_tensor(bio_set(resp))
