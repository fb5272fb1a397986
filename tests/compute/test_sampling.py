"""Unit sampling (METHODS.md 2.3): candidate regions, streamed scores, proportional draws."""

import numpy as np
import pytest
import torch

from compute.sampling import (SamplingSettings, ScoreAccumulator, UnitSample, candidate_region,
                              clipped_instance_mean, module_rng, normalise_frames, position_scores, sample_outputs,
                              sample_units)


def brute_force_scores(activity: np.ndarray) -> np.ndarray:
    """The v2 definition (METHODS 2.3), loop by loop: average over instances, then clip; divide each frame
    of each condition by its max over all units (floor 1e-8); average over time; max over conditions."""
    best = np.zeros(activity.shape[3:])
    for c in range(activity.shape[0]):
        mean = np.clip(activity[c].astype(np.float64).mean(axis=0), 0, None)   # (time, *units)
        total = np.zeros(activity.shape[3:])
        for frame in mean:
            total += frame / max(frame.max(), 1e-8)
        best = np.maximum(best, total / mean.shape[0])
    return best


def v1_scores(activity: np.ndarray) -> np.ndarray:
    """What v1 did: clip each instance; divide each sequence by its max over units and time; average over
    time, then over instances; max over conditions."""
    n_cond, n_inst = activity.shape[:2]
    best = np.zeros(activity.shape[3:])
    for c in range(n_cond):
        mean = np.zeros(activity.shape[3:])
        for i in range(n_inst):
            seq = np.clip(activity[c, i].astype(np.float64), 0, None)
            peak = seq.max()
            mean += (seq / peak).mean(axis=0) if peak > 0 else 0.0
        best = np.maximum(best, mean / n_inst)
    return best


# ---------------------------------------------------------------------------------------------- settings
class TestSettings:
    def test_defaults_and_key_parts(self):
        s = SamplingSettings()
        assert s.key_parts() == {"n_maps": 40, "n_positions": 50, "crop": "authors",
                                 "recurrent_channels": "authors", "n_output": 2000}
        assert s.key_parts("conv") == {"n_maps": 40, "n_positions": 50, "crop": "authors"}
        assert s.key_parts("map") == {"n_maps": 40, "n_positions": 50, "recurrent_channels": "authors"}
        assert s.key_parts("output") == {"n_output": 2000}
        assert s.n_units("conv") == 2000 and SamplingSettings(n_output=7).n_units("output") == 7

    @pytest.mark.parametrize("kwargs, error, message", [
        ({"n_maps": 0}, ValueError, "n_maps must be an integer >= 1; got 0"),
        ({"n_positions": 2.5}, TypeError, "n_positions must be an integer >= 1; got 2.5"),
        ({"n_output": True}, TypeError, "n_output must be an integer >= 1; got True"),
        ({"crop": "centre"}, ValueError, r"crop must be one of \['authors', 'symmetric'\]; got 'centre'"),
        ({"recurrent_channels": "all"}, ValueError, "recurrent_channels must be one of"),
    ], ids=["zero-maps", "float-positions", "bool-output", "bad-crop", "bad-channels"])
    def test_invalid_settings(self, kwargs, error, message):
        with pytest.raises(error, match=message):
            SamplingSettings(**kwargs)

    def test_unknown_kind(self):
        with pytest.raises(ValueError, match="kind must be one of"):
            SamplingSettings().key_parts("readout")


# ---------------------------------------------------------------------------------------------- regions
class TestCandidateRegion:
    def test_authors_crop_removes_top_and_left_margins(self):
        region = candidate_region((8, 16, 24), kind="conv", settings=SamplingSettings())
        rows, cols = np.arange(16)[region[1]], np.arange(24)[region[2]]
        assert (rows[0], rows[-1], cols[0], cols[-1]) == (4, 15, 4, 23)
        assert region[0] == slice(None)

    def test_symmetric_crop_removes_all_margins_with_the_same_m(self):
        region = candidate_region((8, 64, 96), kind="conv", settings=SamplingSettings(crop="symmetric"))
        rows, cols = np.arange(64)[region[1]], np.arange(96)[region[2]]
        assert (rows[0], rows[-1], cols[0], cols[-1]) == (16, 47, 16, 79)

    def test_maps_keep_positions_and_restrict_channels(self):
        authors = candidate_region((512, 30), kind="map", settings=SamplingSettings(n_maps=40))
        everything = candidate_region((512, 30), kind="map",
                                      settings=SamplingSettings(recurrent_channels="all streams"))
        assert authors == (slice(0, 40), slice(None)) and everything == (slice(None), slice(None))

    def test_conv_needs_two_spatial_axes(self):
        with pytest.raises(ValueError, match=r"a conv module must give \(channels, H, W\) maps; got a map of "
                                             r"shape \(8, 30\)"):
            candidate_region((8, 30), kind="conv", settings=SamplingSettings())


# ---------------------------------------------------------------------------------------------- scores
class TestScores:
    def test_streamed_scores_equal_the_definition(self, rng):
        activity = rng.normal(size=(5, 3, 7, 4, 6, 5)).astype(np.float32)
        np.testing.assert_allclose(position_scores(activity), brute_force_scores(activity), rtol=1e-5)

    def test_instances_are_averaged_before_clipping(self):
        """v1 clipped each instance first: a unit at +1 in one instance and -1 in the other kept half its
        score (0.5); v2 averages first, so it is silent (score 0, never drawn)."""
        activity = np.zeros((1, 2, 2, 2), np.float32)        # 1 condition, 2 instances, 2 frames, 2 units
        activity[0, :, :, 0] = [[1.0, 1.0], [-1.0, -1.0]]     # unit 0: cancels across instances
        activity[0, :, :, 1] = 0.25                           # unit 1: weak but consistent
        np.testing.assert_allclose(position_scores(activity), [0.0, 1.0])
        np.testing.assert_allclose(v1_scores(activity), [0.5, 0.625])

    def test_each_frame_is_normalised_by_its_own_max(self):
        """v1 divided by the max over the whole sequence: a unit that drives only quiet frames scored as
        low as one that is weak next to a loud unit; v2 normalises each frame."""
        activity = np.zeros((1, 1, 2, 3), np.float32)        # 1 condition, 1 instance, 2 frames, 3 units
        activity[0, 0, 0] = [10.0, 1.0, 0.0]                  # a loud frame
        activity[0, 0, 1] = [0.0, 0.0, 1.0]                   # a quiet frame
        np.testing.assert_allclose(position_scores(activity), [0.5, 0.05, 0.5], rtol=1e-6)
        np.testing.assert_allclose(v1_scores(activity), [0.5, 0.05, 0.05], rtol=1e-6)

    def test_the_two_orders_draw_different_units(self, rng):
        """Planted activity: map 0 is loud but flips sign between instances, map 1 is weak and steady.
        v1 scores favour map 0; v2 scores it 0, so it is never drawn."""
        activity = np.zeros((3, 2, 4, 2, 3, 3), np.float32)  # (cond, inst, time, map, H, W)
        activity[:, 0, :, 0] = 5.0 * rng.random((3, 4, 3, 3))
        activity[:, 1, :, 0] = -activity[:, 0, :, 0]
        activity[:, :, :, 1] = 0.2
        settings = SamplingSettings(n_maps=1, n_positions=3)
        v2 = {tuple(set(sample_units(position_scores(activity), module="m", settings=settings,
                                     random_state=s).channel)) for s in range(20)}
        v1 = [sample_units(v1_scores(activity), module="m", settings=settings, random_state=s).channel[0]
              for s in range(20)]
        assert v2 == {(1,)} and 0 in v1

    def test_scores_are_blind_to_a_frame_scale_but_see_a_unit_scale(self, rng):
        activity = rng.random(size=(4, 2, 5, 3, 8)).astype(np.float32)
        louder_frame = activity.copy()
        louder_frame[2, :, 3] *= 10  # every instance of condition 2 at frame 3
        np.testing.assert_allclose(position_scores(louder_frame), position_scores(activity), rtol=1e-5)
        louder_unit = activity.copy()
        louder_unit[..., 1, 3] *= 10
        assert not np.allclose(position_scores(louder_unit), position_scores(activity))

    def test_silent_frames_and_units_score_zero(self):
        activity = np.zeros((2, 1, 3, 2, 2), np.float32)
        activity[0, 0, :, 0, 0] = 2.0
        activity[1, 0, :, 1, 1] = -5.0  # negative activity is clipped: a silent condition
        scores = position_scores(activity)
        assert scores[0, 0] == 1.0 and np.count_nonzero(scores) == 1

    def test_clipped_instance_mean_and_frame_normalisation(self):
        activity = torch.tensor([[2.0, -4.0], [-1.0, 1.0], [0.0, 0.0], [-3.0, 0.0]])  # 2 conditions x 2
        mean = clipped_instance_mean(activity, 2)
        np.testing.assert_allclose(mean.numpy(), [[0.5, 0.0], [0.0, 0.0]])
        np.testing.assert_allclose(normalise_frames(torch.tensor([[4.0, 2.0], [1e-9, 0.0]])).numpy(),
                                   [[1.0, 0.5], [0.1, 0.0]], rtol=1e-6)  # floor 1e-8

    def test_errors(self):
        with pytest.raises(ValueError, match="ScoreAccumulator.end called before any frame was added"):
            ScoreAccumulator().end()
        with pytest.raises(ValueError, match="no batch was accumulated"):
            ScoreAccumulator().scores()
        with pytest.raises(ValueError, match=r"activity must be \(condition, instance, time, \*unit_shape\)"):
            position_scores(np.zeros((2, 3, 4)))


# ---------------------------------------------------------------------------------------------- draws
def _scores_with_active_maps(active: list[int], n_channels: int = 6, shape=(8, 10)) -> np.ndarray:
    scores = np.zeros((n_channels,) + shape)
    scores[active] = 1.0
    return scores


class TestSampleUnits:
    def test_a_much_more_active_map_is_drawn_proportionally(self):
        # map 2 has three times the score of map 4: drawn first in ~3/4 of the single-map draws
        scores = np.zeros((6, 5, 5))
        scores[2], scores[4] = 3.0, 1.0
        settings = SamplingSettings(n_maps=1, n_positions=5)
        first = [sample_units(scores, module="m", settings=settings, random_state=s).channel[0]
                 for s in range(600)]
        assert set(first) == {2, 4}
        assert np.mean(np.array(first) == 2) == pytest.approx(0.75, abs=0.05)  # sd 0.018

    def test_zero_activity_maps_and_positions_are_never_drawn(self, rng):
        scores = _scores_with_active_maps([0, 3, 5]) * rng.random((6, 8, 10))
        scores[:, :, 0] = 0.0  # column 0 never responds
        sample = sample_units(scores, module="m", settings=SamplingSettings(n_maps=3, n_positions=30),
                              random_state=1)
        assert set(sample.channel.tolist()) == {0, 3, 5}
        assert (sample.x > 0).all()
        assert scores.reshape(-1)[sample.index].min() > 0

    @pytest.mark.parametrize("crop, rows, cols", [("authors", (4, 15), (4, 23)), ("symmetric", (4, 11), (4, 19))])
    def test_positions_respect_the_crop_exactly(self, rng, crop, rows, cols):
        settings = SamplingSettings(n_maps=2, n_positions=(rows[1] - rows[0] + 1) * (cols[1] - cols[0] + 1),
                                    crop=crop)
        region = candidate_region((2, 16, 24), kind="conv", settings=settings)
        activity = rng.random((3, 1, 4, 2, 16, 24)).astype(np.float32) + 0.1  # every unit responds
        scores = np.zeros((2, 16, 24))
        scores[region] = position_scores(activity[(Ellipsis,) + region])
        sample = sample_units(scores, module="Enc", settings=settings, random_state=0)
        # drawing every candidate position recovers the crop's bounds exactly, and nothing else
        assert (sample.y.min(), sample.y.max(), sample.x.min(), sample.x.max()) == rows + cols
        assert len(set(zip(sample.channel, sample.y, sample.x))) == sample.n_units

    def test_seeded_determinism(self, rng):
        scores = rng.random((8, 6, 6))
        settings = SamplingSettings(n_maps=4, n_positions=5)
        a, b, c = (sample_units(scores, module="m", settings=settings, random_state=s) for s in (7, 7, 8))
        np.testing.assert_array_equal(a.index, b.index)
        assert not np.array_equal(a.index, c.index)
        d = sample_units(scores, module="m", settings=settings, random_state=module_rng(0, "Rec"))
        e = sample_units(scores, module="m", settings=settings, random_state=module_rng(0, "RecOut"))
        f = sample_units(scores, module="m", settings=settings, random_state=module_rng(0, "Rec"))
        np.testing.assert_array_equal(d.index, f.index)
        assert not np.array_equal(d.index, e.index)

    def test_metadata_of_a_streamed_spatial_map(self, rng):
        scores = rng.random((8, 4, 6)) + 0.01  # 4 streams x 2 channels
        sample = sample_units(scores, module="Enc L8", streams=4,
                              settings=SamplingSettings(n_maps=3, n_positions=4), random_state=3)
        assert isinstance(sample, UnitSample) and sample.n_units == 12 and sample.map_shape == (8, 4, 6)
        global_channel = sample.stream * 2 + sample.channel
        np.testing.assert_array_equal(np.ravel_multi_index((global_channel, sample.y, sample.x), (8, 4, 6)),
                                      sample.index)
        assert (np.diff(global_channel.reshape(3, 4), axis=1) == 0).all()  # map by map
        cols = sample.columns()
        assert set(cols) == {"module", "stream", "channel", "y", "x", "output_index"}
        assert (cols["module"] == "Enc L8").all() and (cols["output_index"] == -1).all()

    def test_metadata_of_readout_features(self, rng):
        scores = rng.random((512, 30)) + 0.01
        sample = sample_units(scores, module="Readout", streams=4, settings=SamplingSettings(n_maps=5, n_positions=6),
                              random_state=0)
        assert (sample.y == -1).all() and (sample.x == -1).all()
        assert sample.output_index.min() >= 0 and sample.output_index.max() < 30
        np.testing.assert_array_equal(sample.index, (sample.stream * 128 + sample.channel) * 30 + sample.output_index)

    def test_short_maps_give_all_their_responsive_positions(self):
        scores = np.zeros((3, 4, 5))
        scores[0].flat[[1, 7, 13]] = 1.0  # 3 responsive positions
        scores[1].flat[:12] = 2.0
        sample = sample_units(scores, module="m", settings=SamplingSettings(n_maps=2, n_positions=5),
                              random_state=0)
        assert sample.n_units == 8
        assert set((sample.index[sample.channel == 0]).tolist()) == {1, 7, 13}
        assert (sample.channel == 1).sum() == 5 and (scores.reshape(-1)[sample.index] > 0).all()

    def test_all_responding_maps_are_taken_when_fewer_than_n_maps(self):
        scores = _scores_with_active_maps([1, 4])
        sample = sample_units(scores, module="m", settings=SamplingSettings(n_maps=4, n_positions=3),
                              random_state=0)
        assert sorted(set(sample.channel.tolist())) == [1, 4] and sample.n_units == 6

    @pytest.mark.parametrize("scores, kwargs, error, message", [
        (np.zeros((4, 3, 3)), {}, ValueError, "module 'm': no candidate unit responds to any stimulus of the suite"),
        (-np.ones((4, 3, 3)), {}, ValueError, "scores must be finite and non-negative"),
        (np.ones(5), {}, ValueError, r"scores must be \(channel, H, W\) or \(channel, position\); got shape \(5,\)"),
        (np.ones((6, 3, 3)), {"streams": 4}, ValueError, "6 channels cannot form 4 equal streams"),
        (np.ones((6, 3, 3)), {"random_state": "x"}, TypeError, "random_state must be an int"),
    ], ids=["silent", "negative", "rank", "streams", "random-state"])
    def test_errors(self, scores, kwargs, error, message):
        with pytest.raises(error, match=message):
            sample_units(scores, module="m", **kwargs)


class TestSampleOutputs:
    def test_uniform_draw_without_replacement(self):
        draws = [sample_outputs(20, module="Output", settings=SamplingSettings(n_output=10), random_state=s)
                 for s in range(800)]
        for d in draws[:5]:
            assert len(set(d.index)) == 10 and (np.diff(d.index) > 0).all()
            np.testing.assert_array_equal(d.output_index, d.index)
            assert (d.channel == -1).all() and (d.stream == -1).all() and d.map_shape == (20,)
        counts = np.bincount(np.concatenate([d.index for d in draws]), minlength=20)
        assert np.all(np.abs(counts - 400) < 60)  # each unit in half of the draws (sd ~ 14)

    def test_errors(self):
        with pytest.raises(ValueError, match="module 'Output' has 30 output units; n_output=2000 cannot be drawn"):
            sample_outputs(30, module="Output")
        with pytest.raises(TypeError, match="n_outputs must be an int"):
            sample_outputs(30.0, module="Output")
