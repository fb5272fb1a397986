"""Encoding-tensor preparation: known answers for Fortran order, relNorm, zeroing, smoothing, stimulus choice."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from compute.encoding.tensor import OPTSF_SETS, encoding_tensor, flatten_maps, unflatten_maps
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
        np.testing.assert_allclose(et.tensor[0] * et.rel_fr[0][:, None], et.full[0])   # biology: relFR only in full
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
    def test_model_sets_are_smoothed_with_sigma_3_reflect(self, rng):
        """v1 smoothed with boundary mode "nearest"; v2 (METHODS 5.1) uses scipy's default "reflect"."""
        resp = rng.random((2, 11, 8, 37)).astype(np.float32)
        et = encoding_tensor(model_set(resp), stimuli="bio-matched")
        assert et.smoothing_sigma == 3.0
        idx = [CLASS_NAMES.index(s) for s in BIO]

        def unit_maps(mode):
            smooth = gaussian_filter1d(resp.astype(np.float64), 3.0, axis=3, mode=mode)[:, idx]
            return smooth / np.linalg.norm(smooth, axis=(2, 3), keepdims=True)

        got = unflatten_maps(et.full) / et.rel_fr[:, :, None, None]
        np.testing.assert_allclose(got, unit_maps("reflect"), rtol=1e-5)
        assert np.abs(got - unit_maps("nearest")).max() > 1e-3

    def test_optsf_majority_of_slots_not_total_drive(self):
        """v1 ("per-unit-best") summed the drive over the authors' [:6] / [0, 6..10] sets; v2's "optSF"
        compares the slot-aligned low-SF [0,2,5,6,9,10] and high-SF [0,1,3,4,7,8] sets slot by slot and
        takes the majority: unit 0 wins 3 of 5 slots narrowly on low-SF, loses 2 by far -> low-SF."""
        low, high = OPTSF_SETS["low-SF"], OPTSF_SETS["high-SF"]
        resp = np.full((2, 11, 8, 5), 0.01, dtype=np.float32)
        resp[0, list(low[1:4])] = 1.1
        resp[0, list(high[1:4])] = 1.0
        resp[0, list(low[4:])] = 0.1
        resp[0, list(high[4:])] = 5.0
        resp[1, list(high)] = 1.0
        et = encoding_tensor(model_set(resp), smoothing_sigma=0)
        assert et.choice == "optSF"
        np.testing.assert_array_equal(et.stimulus_index[0], low)
        np.testing.assert_array_equal(et.stimulus_index[1], high)

    def test_optsf_ties_go_to_high_sf(self):
        """Two slots each (and a silent unit: no slot at all) -> the high-SF set."""
        low, high = OPTSF_SETS["low-SF"], OPTSF_SETS["high-SF"]
        resp = np.zeros((2, 11, 8, 5), dtype=np.float32)
        resp[0, list(low[1:3])] = 2.0
        resp[0, list(high[3:5])] = 2.0
        et = encoding_tensor(model_set(resp), stimuli="optSF", smoothing_sigma=0)
        np.testing.assert_array_equal(et.stimulus_index, np.tile(high, (2, 1)))

    def test_model_tensor_carries_relfr_biology_tensor_is_unit_norm(self, rng):
        """v1 multiplied every decomposed map by relFR; v2 keeps relFR in the decomposed tensor only for
        model units; biology decomposes unit-norm maps and relFR enters only ``full`` (the neural matrix)."""
        template = rng.random((3, 1, 8, 6)) + 0.1
        scales = np.array([1.0, 2.0, 4.0, 0.5, 0.3, 3.0])
        bio = encoding_tensor(bio_set(template * scales[None, :, None, None]))
        assert not bio.rel_fr_in_tensor
        np.testing.assert_allclose(np.linalg.norm(bio.tensor, axis=2), 1.0)
        np.testing.assert_allclose(np.linalg.norm(bio.full, axis=2), np.tile(scales / 4.0, (3, 1)))
        resp = np.repeat(template, 11, axis=1) * np.linspace(0.5, 1.5, 11)[None, :, None, None]
        model = encoding_tensor(model_set(resp), stimuli="bio-matched", smoothing_sigma=0)
        assert model.rel_fr_in_tensor
        np.testing.assert_array_equal(model.tensor, model.full)
        assert np.linalg.norm(model.tensor, axis=2).min() < 0.9

    def test_named_and_custom_sets(self, rng):
        rs = model_set(rng.random((2, 11, 8, 5)))
        et = encoding_tensor(rs, stimuli="authors-highsf")
        np.testing.assert_array_equal(et.stimulus_index[1], PRESETS["authors-highsf"])
        custom = encoding_tensor(rs, stimuli=["grat_W1", "grat_W2"])
        assert custom.choice == "custom" and custom.tensor.shape == (2, 2, 40)

    def test_extra_stimuli_are_appended_to_every_units_set(self):
        """The user's clip classes join each unit's optSF set; relFR is over all slots: a clip that drives
        unit 0 twice as hard as its best suite stimulus gets relFR 1 and that stimulus 0.5."""
        resp = np.full((2, 12, 8, 5), 0.5, dtype=np.float32)
        resp[:, 11] = [[[1.0]], [[0.25]]]
        rs = ResponseSet(responses=resp, stimuli=(*CLASS_NAMES, "clip_walk"), time=np.arange(5) / 30.0)
        et = encoding_tensor(rs, extra_stimuli=["clip_walk"], smoothing_sigma=0)
        assert et.choice == "optSF + clip_walk" and et.tensor.shape == (2, 7, 40)
        np.testing.assert_array_equal(et.stimulus_index[:, 6], [11, 11])
        np.testing.assert_array_equal(et.stimulus_index[:, :6], np.tile(OPTSF_SETS["high-SF"], (2, 1)))
        np.testing.assert_allclose(et.rel_fr[0], [0.5] * 6 + [1.0])
        np.testing.assert_allclose(et.rel_fr[1], [1.0] * 6 + [0.5])
        with pytest.raises(ValueError, match=r"extra_stimuli \['grat_W12'\] are already in the 'optSF' set"):
            encoding_tensor(rs, extra_stimuli=["grat_W12"])


class TestErrors:
    def test_unknown_choice(self, rng):
        with pytest.raises(ValueError, match="unknown stimulus choice 'lowsf'"):
            encoding_tensor(model_set(rng.random((1, 11, 8, 4))), stimuli="lowsf")

    def test_biology_lacks_author_sets(self, rng):
        with pytest.raises(ValueError, match=r"lacks the stimuli \['grat_W1'"):
            encoding_tensor(bio_set(rng.random((1, 6, 8, 4))), stimuli="optSF")

    def test_duplicate_custom_stimuli(self, rng):
        with pytest.raises(ValueError, match="stimuli must be distinct and non-empty"):
            encoding_tensor(model_set(rng.random((1, 11, 8, 4))), stimuli=["grat_W1", "grat_W1"])

    def test_negative_sigma(self, rng):
        with pytest.raises(ValueError, match="smoothing_sigma must be a finite number >= 0 or None; got -1"):
            encoding_tensor(bio_set(rng.random((1, 6, 8, 4))), smoothing_sigma=-1)

    def test_not_a_response_set(self):
        with pytest.raises(TypeError, match="rs must be a ResponseSet; got ndarray"):
            encoding_tensor(np.zeros((1, 6, 8, 4)))

    def test_nan_responses(self):
        resp = np.ones((1, 6, 8, 4))
        resp[0, 0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN or infinite"):
            encoding_tensor(bio_set(resp))
