"""Stimulus suite: statistics against the authors' images, motion, determinism, presets, folders, cache.

The statistics are measured by the estimators below, applied alike to the authors' reference images
(reference_dir / "stimuli") and to generated ones, both after the same 0.7 resize and 144x256 crop. The
authors' values are kept in tests/facts/reference_stimuli.json (so these tests need no download);
TestReferenceFacts re-measures them from the images.
Grating period and mean luminance are measured on the resized 560x420 frame before the crop: the crop
(144 px tall) is shorter than one W12 period (0.7 x 258 = 181 px), and the mean of a grating over less
than whole periods depends on its phase.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from compute import stimuli as S
from compute.cache import content_key
from compute.cli import main as cli_main
from compute.jobs import Cancelled, JobControl
from tests.facts import load_fact

GRATINGS = (0, 1, 2)
DOT_FLOWS = tuple(range(3, 11))


# ============================================================================ estimators
def motion_profile(image: np.ndarray, direction: int) -> np.ndarray:
    """Mean grey level in 1-px bins of position along the motion; image (rows, columns) -> (n_bins,)."""
    theta = np.deg2rad(direction)
    rows, cols = np.indices(image.shape)
    t = cols * np.cos(theta) - rows * np.sin(theta)
    bins = np.rint(t - t.min()).astype(int).ravel()
    return np.bincount(bins, image.ravel().astype(float)) / np.bincount(bins)


def grating_period(image: np.ndarray, direction: int) -> float:
    """Period (px) along the motion: peak of the zero-padded spectrum of the Hann-windowed profile."""
    profile = motion_profile(image, direction)
    profile = (profile - profile.mean()) * np.hanning(profile.size)
    n_fft = 1 << 17
    power = np.abs(np.fft.rfft(profile, n_fft))
    lowest = int(np.ceil(n_fft / profile.size))  # at least one period inside the profile
    return n_fft / (lowest + int(np.argmax(power[lowest:])))


def grating_mean(image: np.ndarray, direction: int, period: float) -> float:
    """Mean grey level over the largest whole number of periods of the profile."""
    profile = motion_profile(image, direction)
    return float(profile[:int(np.floor(profile.size / period) * period)].mean())


def grating_levels(crop: np.ndarray) -> tuple[float, float]:
    """Dark and bright grey levels: medians below and above mid-grey."""
    return float(np.median(crop[crop < 128])), float(np.median(crop[crop > 128]))


@dataclass(frozen=True)
class DotStats:
    """polarity -1 (dark) or +1 (bright); level: dot grey level; count: connected blobs in the image;
    diameters (n_interior,): 4 x minor-axis SD of each blob not touching the border (the width of a
    dot, also of a triplet); mean: mean grey level."""

    polarity: int
    level: float
    count: int
    diameters: np.ndarray
    mean: float


def dot_stats(crop: np.ndarray) -> DotStats:
    dev = crop.astype(float) - 128
    strong = np.abs(dev) > 60
    polarity = int(np.sign(dev[strong].mean()))
    level = float(np.median(crop[strong]))
    weight = np.clip(polarity * dev / abs(level - 128), 0, 1)
    labels, count = ndi.label(weight > 0.5)
    index = np.arange(1, count + 1)
    rows, cols = np.indices(crop.shape)

    def moment(values):
        return ndi.sum(weight * values, labels, index) / ndi.sum(weight, labels, index)

    mr, mc = moment(rows), moment(cols)
    vrr, vcc, vrc = moment(rows ** 2) - mr ** 2, moment(cols ** 2) - mc ** 2, moment(rows * cols) - mr * mc
    minor = (vrr + vcc) / 2 - np.sqrt(((vrr - vcc) / 2) ** 2 + vrc ** 2)
    interior = np.array([s[0].start > 0 and s[1].start > 0 and s[0].stop < crop.shape[0]
                         and s[1].stop < crop.shape[1] for s in ndi.find_objects(labels)], dtype=bool)
    return DotStats(polarity, level, count, 4 * np.sqrt(minor[interior]), float(crop.mean()))


def brute_disc_image(centres, diameter: float, shape=S.FRAME_SHAPE, level: int = 8) -> np.ndarray:
    """Grey canvas with hard-edged discs: pixel centre within the radius of a centre (x, row)."""
    rows, cols = np.indices(shape)
    inside = np.zeros(shape, dtype=bool)
    for x, r in centres:
        inside |= (cols - x) ** 2 + (rows - r) ** 2 <= (diameter / 2) ** 2
    return np.where(inside, level, S.BACKGROUND).astype(np.uint8)


class TestEstimators:
    @pytest.mark.parametrize("direction", [0, 45, 90, 135])
    def test_period_of_planted_grating(self, direction):
        theta = np.deg2rad(direction)
        rows, cols = np.indices((420, 560))
        image = np.where(np.cos(2 * np.pi * (cols * np.cos(theta) - rows * np.sin(theta)) / 33.3) > 0, 188, 68)
        assert grating_period(image, direction) == pytest.approx(33.3, rel=0.01)
        assert grating_mean(image, direction, 33.3) == pytest.approx(128, abs=1.5)

    def test_planted_discs_and_triplets(self):
        centres = [(20 + 30 * i, 20 + 30 * j) for i in range(7) for j in range(4)]
        stats = dot_stats(brute_disc_image(centres, 9.0))
        assert (stats.polarity, stats.level, stats.count) == (-1, 8, 28)
        assert np.median(stats.diameters) == pytest.approx(9.0, rel=0.05)
        triplets = [(x + dx, y) for x, y in centres[::2] for dx in (-6, 0, 6)]  # 6 px dots, touching
        stats = dot_stats(255 - brute_disc_image(triplets, 6.0))
        assert (stats.polarity, stats.count) == (1, 14)
        assert np.median(stats.diameters) == pytest.approx(6.0, rel=0.1)


# ============================================================================ fixtures
@functools.lru_cache(maxsize=None)
def canvas(c: int, d: int, k: int) -> np.ndarray:
    """A generated canvas (seed 0), rendered once per test session."""
    image = S.render_image(c, d, k)
    image.flags.writeable = False
    return image


def _read_canvas(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)[..., 0]


@pytest.fixture(scope="module")
def reference_frames(reference_dir):
    """The authors' images as a suite: (11, 8, 1, 2, 144, 256)."""
    return S.load_suite_folder(reference_dir / "stimuli", n_frames=2)


@pytest.fixture(scope="module")
def reference(reference_dir, reference_frames):
    """Frame-0 crops (11, 8, 144, 256) and resized grating canvases {(class, direction): (420, 560)}."""
    folder = reference_dir / "stimuli"
    crops = reference_frames[:, :, 0, 0]
    resized = {(c, d): S._resize(_read_canvas(folder / f"{S.CLASS_NAMES[c]}_inst0" / str(d) / "0.png"))
               for c in GRATINGS for d in S.DIRECTIONS}
    return crops, resized


@pytest.fixture(scope="module")
def reference_facts():
    """The authors' statistics per class name, as measured by ``_grating_summary`` / ``_dot_summary``."""
    return load_fact("reference_stimuli.json")["classes"]


@pytest.fixture(scope="module")
def suite():
    """The generated suite with 3 instances and 2 frames: (11, 8, 3, 2, 144, 256)."""
    return S.render_suite(S.SuiteSpec(n_instances=3, n_frames=2))


@pytest.fixture(scope="module")
def generated(suite):
    """Frame-0 crops (11, 8, 3, 144, 256) and resized grating canvases {(class, direction, instance): ...}."""
    resized = {(c, d, k): S._resize(canvas(c, d, k)) for c in GRATINGS for d in S.DIRECTIONS
               for k in range(3)}
    return suite[:, :, :, 0], resized


def _grating_summary(crops, resized):
    """Pooled levels (dark, bright), period per direction (8,) and pooled mean of one grating class."""
    levels = np.array([grating_levels(c) for c in crops.reshape(-1, *S.FRAME_SHAPE)]).mean(axis=0)
    periods = {key: grating_period(image, key[1]) for key, image in resized.items()}
    means = [grating_mean(image, key[1], periods[key]) for key, image in resized.items()]
    per_direction = [np.mean([p for key, p in periods.items() if key[1] == d]) for d in S.DIRECTIONS]
    return levels, np.array(per_direction), float(np.mean(means))


def _dot_summary(crops):
    stats = [dot_stats(c) for c in crops.reshape(-1, *S.FRAME_SHAPE)]
    return ({s.polarity for s in stats}, float(np.median([s.level for s in stats])),
            float(np.mean([s.count for s in stats])), float(np.median(np.concatenate([s.diameters for s in stats]))),
            float(np.mean([s.mean for s in stats])))


# ============================================================================ statistics vs the authors
@pytest.mark.slow
class TestMatchesReference:
    @pytest.mark.parametrize("c", GRATINGS, ids=[S.CLASS_NAMES[c] for c in GRATINGS])
    def test_grating_statistics(self, c, reference_facts, generated):
        ref = reference_facts[S.CLASS_NAMES[c]]
        gen_levels, gen_period, gen_mean = _grating_summary(
            generated[0][c], {k: v for k, v in generated[1].items() if k[0] == c})
        np.testing.assert_allclose(gen_levels, ref["levels"], atol=5)
        np.testing.assert_allclose(gen_period, ref["periods"], rtol=0.10)
        assert gen_mean == pytest.approx(ref["mean"], abs=3)

    @pytest.mark.parametrize("c", DOT_FLOWS, ids=[S.CLASS_NAMES[c] for c in DOT_FLOWS])
    def test_dot_statistics(self, c, reference_facts, generated):
        ref = reference_facts[S.CLASS_NAMES[c]]
        gen_pol, gen_level, gen_count, gen_diam, gen_mean = _dot_summary(generated[0][c])
        expected_polarity = -1 if S.CLASS_NAMES[c].startswith("neg") else 1
        assert set(ref["polarity"]) == gen_pol == {expected_polarity}
        assert gen_level == pytest.approx(ref["level"], abs=5)
        assert gen_diam == pytest.approx(ref["diameter"], rel=0.15)
        assert gen_count == pytest.approx(ref["count"], rel=0.15)
        assert gen_mean == pytest.approx(ref["mean"], abs=3)


class TestReferenceFacts:
    """The stored statistics are those of the authors' images (fetched through the data manifest)."""

    @pytest.mark.parametrize("c", GRATINGS, ids=[S.CLASS_NAMES[c] for c in GRATINGS])
    def test_grating_facts(self, c, reference, reference_facts):
        levels, periods, mean = _grating_summary(reference[0][c], {k: v for k, v in reference[1].items() if k[0] == c})
        ref = reference_facts[S.CLASS_NAMES[c]]
        np.testing.assert_allclose(levels, ref["levels"], rtol=1e-9)
        np.testing.assert_allclose(periods, ref["periods"], rtol=1e-9)
        assert mean == pytest.approx(ref["mean"], rel=1e-9)

    @pytest.mark.parametrize("c", DOT_FLOWS, ids=[S.CLASS_NAMES[c] for c in DOT_FLOWS])
    def test_dot_facts(self, c, reference, reference_facts):
        polarity, level, count, diameter, mean = _dot_summary(reference[0][c])
        ref = reference_facts[S.CLASS_NAMES[c]]
        assert sorted(polarity) == ref["polarity"]
        np.testing.assert_allclose([level, count, diameter, mean],
                                   [ref["level"], ref["count"], ref["diameter"], ref["mean"]], rtol=1e-9)


class TestGratingPhase:
    @pytest.mark.parametrize("c", GRATINGS, ids=[S.CLASS_NAMES[c] for c in GRATINGS])
    def test_every_instance_starts_on_the_authors_frame(self, c, suite, reference_frames):
        """Frame 0 of every instance equals the authors' frame 0 at 0, 90, 180 and 270 degrees, where
        edges sit on pixel borders (v1: a random phase per instance, so no instance matched)."""
        for d in (0, 90, 180, 270):
            j = S.DIRECTIONS.index(d)
            for k in range(3):
                np.testing.assert_array_equal(suite[c, j, k, 0], reference_frames[c, j, 0, 0])


# ============================================================================ motion
def _step(direction: int) -> tuple[int, int]:
    """(columns, rows) moved per frame: 0 deg +x, 90 deg up (-row), diagonals one pixel in each."""
    theta = np.deg2rad(direction)
    return int(np.rint(np.cos(theta))), -int(np.rint(np.sin(theta)))


class TestMotion:
    @pytest.mark.parametrize("direction", S.DIRECTIONS)
    def test_next_frame_is_this_frame_shifted_by_one_pixel(self, suite, direction):
        dx, dy = _step(direction)
        frames = suite[:, S.DIRECTIONS.index(direction), 0]          # (11, 2, 144, 256)
        h, w = S.FRAME_SHAPE
        now = frames[:, 0, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        nxt = frames[:, 1, max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
        np.testing.assert_array_equal(nxt, now)
        assert not np.array_equal(frames[:, 0], frames[:, 1])

    @pytest.mark.parametrize("direction", S.DIRECTIONS)
    def test_sequence_is_a_wrapped_roll_of_the_resized_image(self, direction, rng):
        image = rng.integers(0, 256, S.CANVAS_SHAPE, dtype=np.uint8)
        frames = S.make_sequence(image, direction, n_frames=200)
        resized = np.asarray(Image.fromarray(image).resize((560, 420), Image.Resampling.LANCZOS))
        dx, dy = _step(direction)
        for f in (0, 1, 150, 199):  # beyond 138 px the wrapped edge is inside the crop
            rolled = np.roll(resized, (f * dy, f * dx), axis=(0, 1))
            np.testing.assert_array_equal(frames[f], rolled[138:282, 152:408])


# ============================================================================ render_suite
class TestRenderSuite:
    def test_progress_and_cancel(self):
        spec = S.SuiteSpec(n_instances=1, n_frames=1, classes=(1,))
        seen = []
        S.render_suite(spec, control=JobControl(progress=lambda fraction, text: seen.append((fraction, text))))
        assert [f for f, _ in seen] == [(i + 1) / 8 for i in range(8)]
        assert {t for _, t in seen} == {f"grat_W1 {d} deg" for d in S.DIRECTIONS}
        with pytest.raises(Cancelled, match="job cancelled"):
            S.render_suite(spec, control=JobControl(cancelled=lambda: True))

    def test_gratings_run_once_and_dot_flows_three_times(self):
        """The full suite is 3 gratings x 8 + 8 dot classes x 8 x 3 = 216 runs (v1: 264, every grating
        instance had its own phase)."""
        frames = S.render_suite(S.SuiteSpec(n_frames=1))
        runs = S.runs_per_condition(frames)
        assert runs.shape == (11, 8) and runs.sum() == 216
        assert (runs[list(GRATINGS)] == 1).all() and (runs[list(DOT_FLOWS)] == 3).all()

    def test_runs_per_condition_needs_every_instance_identical(self):
        frames = np.zeros((2, 1, 3, 1, 2, 2), np.uint8)
        frames[1, 0, 2, 0, 0, 0] = 1  # class 1: instance 2 differs from instances 0 and 1
        np.testing.assert_array_equal(S.runs_per_condition(frames), [[1], [3]])
        with pytest.raises(ValueError, match=r"frames must be \(n_classes, n_directions, n_instances, n_frames, "
                                             r"H, W\); got shape \(2, 3\)"):
            S.runs_per_condition(np.zeros((2, 3)))

    def test_suite_equals_its_sequences(self, suite):
        for c, d, k in [(0, 45, 2), (4, 270, 1), (10, 135, 0)]:
            expected = S.make_sequence(canvas(c, d, k), d, n_frames=2)
            np.testing.assert_array_equal(suite[c, S.DIRECTIONS.index(d), k], expected)


# ============================================================================ determinism
class TestDeterminism:
    @pytest.mark.parametrize("c", [4, 9])
    def test_seed_and_instance(self, c):
        image = S.render_image(c, 45, 0, seed=3)
        np.testing.assert_array_equal(image, S.render_image(c, 45, 0, seed=3))
        assert not np.array_equal(image, S.render_image(c, 45, 0, seed=4))
        assert not np.array_equal(image, S.render_image(c, 45, 1, seed=3))
        assert image.shape == S.CANVAS_SHAPE and image.dtype == np.uint8

    @pytest.mark.parametrize("c", GRATINGS)
    def test_a_grating_is_one_image_per_direction(self, c):
        """v1 drew a random phase per instance and seed; the authors' instances are pixel-identical."""
        image = S.render_image(c, 45, 0)
        for k, seed in [(1, 0), (2, 0), (0, 4)]:
            np.testing.assert_array_equal(S.render_image(c, 45, k, seed=seed), image)

    @pytest.mark.parametrize("c", GRATINGS)
    def test_opposite_gratings_are_identical_two_level_images(self, c):
        for d in (0, 45, 90, 135):
            np.testing.assert_array_equal(S.render_image(c, d, 1), S.render_image(c, d + 180, 1))
        assert set(np.unique(S.render_image(c, 90, 2))) == set(S.GRATING_LEVELS)

    @pytest.mark.parametrize(("neg", "pos"), [(3, 7), (4, 8), (5, 9), (6, 10)])
    def test_pos_and_neg_share_layouts(self, neg, pos):
        total = S.render_image(neg, 225, 2).astype(int) + S.render_image(pos, 225, 2)
        assert np.abs(total - 256).max() <= 1

    def test_dots_never_overlap_in_one_dot_classes(self):
        for c, diameter in [(3, 10.0), (5, 21.0)]:
            labels, _ = ndi.label(S.render_image(c, 315, 0) < 68)
            areas = np.bincount(labels.ravel())[1:]
            assert areas.max() <= np.pi * (diameter / 2 + 1) ** 2


# ============================================================================ presets
class TestPresets:
    def test_presets(self):
        assert S.CLASS_NAMES[:3] == ("grat_W12", "grat_W1", "grat_W2") and len(S.CLASS_NAMES) == 11
        assert S.PRESETS["all"] == tuple(range(11))
        assert S.preset_classes("bio-matched") == S.BIO_MATCHED == (0, 2, 5, 6, 9, 10)
        assert [S.CLASS_NAMES[c] for c in S.BIO_MATCHED] == [
            "grat_W12", "grat_W2", "neg1dotflow_D2_bg", "neg3dotflow_D2_bg", "pos1dotflow_D2_bg",
            "pos3dotflow_D2_bg"]
        assert S.preset_classes("authors-lowsf") == (0, 1, 2, 3, 4, 5)
        assert S.preset_classes("authors-highsf") == (0, 6, 7, 8, 9, 10)

    def test_unknown_preset(self):
        with pytest.raises(ValueError, match="unknown stimulus preset 'bio'; choose one of all, bio-matched"):
            S.preset_classes("bio")


# ============================================================================ folders
def _write_folder(root, classes, n_instances):
    """A folder of generated canvases (seed 0) in the authors' layout, as grey PNGs."""
    for c in classes:
        for k in range(n_instances):
            for d in S.DIRECTIONS:
                path = root / f"{S.CLASS_NAMES[c]}_inst{k}" / str(d) / "0.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(canvas(c, d, k)).save(path, compress_level=1)
    return root


class TestFolders:
    def test_reference_folder(self, reference_dir, reference_frames):
        assert reference_frames.shape == (11, 8, 1, 2, 144, 256) and reference_frames.dtype == np.uint8
        image = _read_canvas(reference_dir / "stimuli" / "neg3dotflow_D2_bg_inst0" / "135" / "0.png")
        np.testing.assert_array_equal(reference_frames[6, 3, 0], S.make_sequence(image, 135, n_frames=2))

    def test_round_trip_in_canonical_order(self, tmp_path):
        _write_folder(tmp_path, (9, 1), 2)
        (tmp_path / "notes_inst0").mkdir()
        (tmp_path / "README.md").write_text("not a class")
        frames = S.load_suite_folder(tmp_path, n_frames=2)
        assert frames.shape == (2, 8, 2, 2, 144, 256)
        np.testing.assert_array_equal(frames[0, 5, 1], S.make_sequence(canvas(1, 225, 1), 225, n_frames=2))
        np.testing.assert_array_equal(frames[1, 2, 0], S.make_sequence(canvas(9, 90, 0), 90, n_frames=2))

    def test_errors(self, tmp_path):
        with pytest.raises(ValueError, match="does not exist or is not a folder"):
            S.load_suite_folder(tmp_path / "absent")
        with pytest.raises(ValueError, match=r"no <class>_inst<k> folders in .*grat_W12_inst0/0/0.png"):
            S.load_suite_folder(tmp_path)
        _write_folder(tmp_path, (0,), 1)
        (tmp_path / "grat_W12_inst0" / "90" / "0.png").unlink()
        with pytest.raises(ValueError, match=r"1 image\(s\) missing in .*grat_W12_inst0/90/0.png"):
            S.load_suite_folder(tmp_path)
        _write_folder(tmp_path, (0,), 1)
        (tmp_path / "grat_W1_inst1").mkdir()
        with pytest.raises(ValueError, match=r"same instances 0..k-1; got \{'grat_W12': \[0\], 'grat_W1': \[1\]\}"):
            S.load_suite_folder(tmp_path)
        (tmp_path / "grat_W1_inst1").rmdir()
        Image.fromarray(np.full(S.CANVAS_SHAPE, 300, np.uint16)).save(tmp_path / "grat_W12_inst0" / "0" / "0.png")
        with pytest.raises(ValueError, match="must be an 8-bit image; got dtype"):
            S.load_suite_folder(tmp_path)
        with pytest.raises(ValueError, match="n_frames must be an integer >= 1; got 0"):
            S.load_suite_folder(tmp_path, n_frames=0)


# ============================================================================ cache
class TestGetSuite:
    def test_cache_hit_and_keys(self, tmp_cache, monkeypatch):
        spec = S.SuiteSpec(n_instances=1, n_frames=2, classes=(5, 0))
        first = S.get_suite(spec, cache=tmp_cache)
        assert first.shape == (2, 8, 1, 2, 144, 256)
        np.testing.assert_array_equal(first[0, 0, 0], S.make_sequence(canvas(5, 0, 0), 0, n_frames=2))

        def fail(*args, **kwargs):
            raise AssertionError("rendered again despite a cached suite")

        monkeypatch.setattr(S, "render_suite", fail)
        np.testing.assert_array_equal(S.get_suite(S.SuiteSpec(n_instances=1, n_frames=2, classes=[5, 0]),
                                                  cache=tmp_cache), first)
        meta = tmp_cache.meta(content_key("stimuli", **spec.key_parts()))
        assert meta["classes"] == ["neg1dotflow_D2_bg", "grat_W12"] and meta["shape"] == [2, 8, 1, 2, 144, 256]
        keys = {content_key("stimuli", **s.key_parts()) for s in
                (spec, S.SuiteSpec(n_instances=1, n_frames=2, classes=(5, 0), seed=1),
                 S.SuiteSpec(n_instances=1, n_frames=2, classes=(0, 5)))}
        assert len(keys) == 3

    def test_default_cache(self):
        spec = S.SuiteSpec(n_instances=1, n_frames=1, classes=(2,), seed=7)
        frames = S.get_suite(spec)
        from compute.cache import default_cache

        np.testing.assert_array_equal(default_cache().get(content_key("stimuli", **spec.key_parts()))[0]["frames"],
                                      frames)

    def test_folder_suite(self, tmp_path, tmp_cache):
        folder = _write_folder(tmp_path / "set", (1, 9), 2)
        spec = S.SuiteSpec(n_instances=1, n_frames=2, classes=(9, 1), folder=folder)
        frames = S.get_suite(spec, cache=tmp_cache)
        assert frames.shape == (2, 8, 1, 2, 144, 256)
        np.testing.assert_array_equal(frames[0, 4, 0], S.make_sequence(canvas(9, 180, 0), 180, n_frames=2))
        assert spec.key_parts()["seed"] is None and isinstance(spec.folder, str)
        key = content_key("stimuli", **spec.key_parts())
        Image.fromarray(S.render_image(9, 0, 0, seed=5)).save(folder / "pos1dotflow_D2_bg_inst0" / "0" / "0.png")
        assert content_key("stimuli", **spec.key_parts()) != key
        lacking = r"lacks classes \['grat_W12'\]; it has \['grat_W1', 'pos1dotflow_D2_bg'\]"
        with pytest.raises(ValueError, match=lacking):
            S.get_suite(S.SuiteSpec(n_instances=1, classes=(0, 1), folder=folder), cache=tmp_cache)
        with pytest.raises(ValueError, match="has 2 instance\\(s\\) per class and direction; n_instances=3"):
            S.get_suite(S.SuiteSpec(n_instances=3, classes=(1,), folder=folder), cache=tmp_cache)


# ============================================================================ argument errors
class TestErrors:
    @pytest.mark.parametrize(("kwargs", "error", "message"), [
        ({"n_instances": 1.5}, TypeError, "n_instances must be an integer >= 1; got 1.5"),
        ({"n_frames": 0}, ValueError, "n_frames must be an integer >= 1; got 0"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0; got -1"),
        ({"classes": 3}, TypeError, "classes must be a sequence of class indices; got int"),
        ({"classes": ()}, ValueError, "non-empty sequence of distinct class indices; got \\(\\)"),
        ({"classes": (1, 1)}, ValueError, "distinct class indices; got \\(1, 1\\)"),
        ({"classes": (11,)}, ValueError, "class_index must be an integer in 0..10 \\(CLASS_NAMES\\); got 11"),
        ({"folder": 3}, TypeError, "folder must be a path or None; got int"),
    ], ids=["instances-type", "frames", "seed", "classes-type", "classes-empty", "classes-repeated",
            "classes-range", "folder-type"])
    def test_suite_spec(self, kwargs, error, message):
        with pytest.raises(error, match=message):
            S.SuiteSpec(**kwargs)

    def test_render_image(self):
        with pytest.raises(ValueError, match=r"direction must be one of \[0, 45, .*\]; got 30"):
            S.render_image(0, 30, 0)
        with pytest.raises(ValueError, match="class_index must be an integer in 0..10"):
            S.render_image(11, 0, 0)
        with pytest.raises(ValueError, match="instance must be an integer >= 0; got -1"):
            S.render_image(0, 0, -1)
        with pytest.raises(TypeError, match="seed must be an integer >= 0; got '0'"):
            S.render_image(0, 0, 0, seed="0")

    def test_make_sequence(self):
        with pytest.raises(TypeError, match="image must be uint8 grey levels; got dtype float64"):
            S.make_sequence(np.zeros(S.CANVAS_SHAPE), 0)
        with pytest.raises(ValueError, match=r"image must be 2-D \(rows, columns\), one channel; got shape"):
            S.make_sequence(np.zeros((*S.CANVAS_SHAPE, 3), np.uint8), 0)
        with pytest.raises(ValueError, match=r"is \(140, 280\) after the 0.7 resize, smaller than the \(144, 256\)"):
            S.make_sequence(np.zeros((200, 400), np.uint8), 0)
        with pytest.raises(ValueError, match="n_frames must be an integer >= 1; got 0"):
            S.make_sequence(np.zeros(S.CANVAS_SHAPE, np.uint8), 0, n_frames=0)

    def test_spec_type(self, tmp_cache):
        with pytest.raises(TypeError, match="spec must be a SuiteSpec; got dict"):
            S.render_suite({"n_instances": 1})
        with pytest.raises(TypeError, match="spec must be a SuiteSpec; got dict"):
            S.get_suite({"n_instances": 1}, cache=tmp_cache)


# ============================================================================ command line
class TestCommand:
    @pytest.mark.slow
    def test_previews_from_a_folder(self, tmp_path, capsys):
        folder = _write_folder(tmp_path / "set", S.BIO_MATCHED, 1)
        out = tmp_path / "previews"
        assert cli_main(["stimuli", "--folder", str(folder), "--preset", "bio-matched", "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "suite (6, 8, 1, 37, 144, 256)" in printed and "cached at " in printed
        assert len(list(out.glob("*.gif"))) == 48
        with Image.open(out / "pos3dotflow_D2_bg_315.gif") as gif:
            assert (gif.n_frames, gif.size) == (37, (256, 144))
        with Image.open(out / "contact_sheet.png") as sheet:
            assert sheet.size == (150 + 8 * 128, 18 + 6 * 72)

    def test_bad_arguments(self, capsys):
        assert cli_main(["stimuli", "--instances", "0"]) == 2
        assert "error: n_instances must be an integer >= 1; got 0" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- issue 12
class TestResolve:
    """The one stimulus resolver of decoding, tubularity, encoding options and the views (v1 had three, with
    three rules: decoding's ``resolve_stimuli``, tubularity's ``default_stimuli``, the views' option reader)."""

    def test_bio_stimuli_are_the_bio_matched_preset(self):
        from compute.bio.datasets import BIO_STIMULI

        assert BIO_STIMULI == ("grat_W12", "grat_W2", "neg1dotflow_D2_bg", "neg3dotflow_D2_bg", "pos1dotflow_D2_bg",
                               "pos3dotflow_D2_bg")
        assert S.resolve(None) == BIO_STIMULI == S.preset_names("bio-matched")

    def test_selections(self):
        names = S.CLASS_NAMES
        assert S.resolve("all") == names and S.resolve(None, default="all") == names
        assert S.resolve("grat_W1") == ("grat_W1",)
        assert S.resolve([10, "grat_W12"]) == (names[10], "grat_W12")
        assert S.resolve([1, 0], ("b", "a")) == ("a", "b")                      # indices into what is available
        assert S.resolve("authors-highsf")[1] == "neg3dotflow_D2_bg"

    def test_one_rule_for_missing_stimuli(self):
        two = S.CLASS_NAMES[:2]
        assert S.resolve(None, two) == two                                       # a default falls back to all
        with pytest.raises(ValueError, match=r"this set lacks the bio-matched stimuli \['grat_W2',"):
            S.resolve("bio-matched", two)                                        # asked for: must be there
        with pytest.raises(ValueError, match="unknown stimulus 'grat_W2'; expected a name of"):
            S.resolve(["grat_W2"], two)
        assert S.present(["grat_W2", "grat_W1", "grat_W12"], two) == (["grat_W1", "grat_W12"], ["grat_W2"])

    @pytest.mark.parametrize("bad, error", [("six", "unknown stimulus preset 'six'"), ([0, 0], "must be distinct"),
                                            ([], "must be distinct and non-empty"), ([True], "unknown stimulus True"),
                                            ([11], "unknown stimulus 11"), ([2.5], "unknown stimulus 2.5")])
    def test_bad_selections(self, bad, error):
        with pytest.raises(ValueError, match=error):
            S.resolve(bad)


def test_one_default_rank():
    """One ``default_rank`` for the views and the pages (v1: ``views._encoding_rank`` and ``Catalog.default_rank``
    each read ``MODULE_RANKS`` with rules of their own)."""
    from compute.seed_ranks import default_rank

    assert default_rank("model", "Rec") == 9 and default_rank("model", "Enc L1") == 8
    assert default_rank("bio", None) is None and default_rank("model", "Conv1") is None
