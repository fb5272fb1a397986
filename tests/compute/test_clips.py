"""The user's clips as stimulus classes (compute/clips.py): conversion rules on known answers, bad input,
cache keys, and views of the small model on a run with clips. Every clip is written by the test."""

from __future__ import annotations

import os
import re
import shutil

import imageio.v3 as iio
import numpy as np
import pytest

from compute import clips as clips_module
from compute.clips import ClipSet, clip_files, clip_name, clips_hash, convert_clip
from compute.config import Settings
from compute.stimuli import (CANVAS_SHAPE, CLASS_NAMES, DIRECTIONS, FRAME_SHAPE, SuiteSpec, get_suite,
                             make_sequence, render_image, resolve)
from compute.sources import _NAME, RunSettings, Source, source_key
from compute.workflows import compute_view, load_typed, load_view, normalise_options, view_key


def moving_dot(n_frames: int = 40, shape: tuple[int, int] = FRAME_SHAPE) -> np.ndarray:
    """(n_frames, H, W) uint8: one bright pixel at row 70 moving right 1 px per frame from column 10."""
    frames = np.zeros((n_frames, *shape), dtype=np.uint8)
    frames[np.arange(n_frames), 70, 10 + np.arange(n_frames)] = 255
    return frames


def dot_position(frame: np.ndarray) -> tuple[int, int]:
    (row, col), = np.argwhere(frame == frame.max())
    return int(row), int(col)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "clips"
    path.mkdir()
    return path


# ---------------------------------------------------------------------------------------------- conversion
class TestConversion:
    def test_moving_dot_npy_frames_size_and_drift(self, folder):
        """A 30 Hz .npy clip of the known size keeps its pixels; '8' adds the suite's 1 px per frame drift."""
        np.save(folder / "dot.npy", moving_dot())
        out = convert_clip(folder / "dot.npy", 37)
        assert out.shape == (8, 37, *FRAME_SHAPE) and out.dtype == np.uint8
        for f in (0, 1, 20, 36):
            assert dot_position(out[DIRECTIONS.index(0), f]) == (70, 10 + 2 * f)      # own motion + drift right
            assert dot_position(out[DIRECTIONS.index(90), f]) == (70 - f, 10 + f)     # own motion + drift up
            assert dot_position(out[DIRECTIONS.index(225), f]) == (70 + f, 10)        # drift down-left cancels x
        unshifted = convert_clip(folder / "dot.npy", 37, directions="1")
        assert all(np.array_equal(unshifted[j], unshifted[0]) for j in range(8))
        assert [dot_position(unshifted[0, f]) for f in (0, 5)] == [(70, 10), (70, 15)]

    def test_static_canvas_drifts_exactly_like_the_suite(self, folder):
        """An 800x600 canvas is resized by 0.7 like the suite's images: a static clip of a suite image,
        drifted, is the suite's sequence pixel for pixel."""
        image = render_image(3, 45, 0)
        np.save(folder / "still.npy", np.repeat(image[None], 12, axis=0))
        out = convert_clip(folder / "still.npy", 12)
        for j, direction in enumerate(DIRECTIONS):
            np.testing.assert_array_equal(out[j], make_sequence(image, direction, n_frames=12))
        assert image.shape == CANVAS_SHAPE

    def test_other_sizes_are_scaled_to_cover_then_centre_cropped(self, folder):
        """(72, 128) is scaled by 2 to exactly 144 x 256; (300, 256) needs no scaling and loses 78 rows
        above and below: a band in rows 78..221 fills the whole crop."""
        left_half = np.zeros((30, 72, 128), dtype=np.uint8)
        left_half[:, :, :64] = 200
        out = convert_clip_from(folder, "half.npy", left_half, directions="1")
        assert out.shape[-2:] == FRAME_SHAPE
        assert (out[0, 0, :, :120] == 200).all() and (out[0, 0, :, 136:] == 0).all()
        band = np.zeros((30, 300, 256), dtype=np.uint8)
        band[:, 78:222] = 90
        np.testing.assert_array_equal(convert_clip_from(folder, "band.npy", band, directions="1"), 90)

    def test_gif_resampled_to_30_hz_by_the_frame_on_screen(self, folder):
        """A 10 Hz GIF of grey levels 10 k: tick i shows frame i // 3; colour becomes BT.601 luminance."""
        levels = (np.arange(13) * 10).astype(np.uint8)
        iio.imwrite(folder / "steps.gif", np.broadcast_to(levels[:, None, None], (13, 72, 128)), duration=100,
                    loop=0)
        out = convert_clip(folder / "steps.gif", 37, directions="1")
        np.testing.assert_array_equal(out[0, :, 0, 0], levels[np.arange(37) // 3])
        red = np.zeros((2, 72, 128, 3), dtype=np.uint8)
        red[..., 0] = 200
        iio.imwrite(folder / "red.gif", red, duration=1000, loop=0)
        assert convert_clip(folder / "red.gif", 30, directions="1")[0, 0, 0, 0] == round(0.299 * 200)

    @pytest.mark.parametrize("suffix", [".mp4", ".avi"])
    def test_video_at_60_hz_keeps_every_second_frame(self, folder, suffix):
        """Lossy codecs: grey levels within a few units of the written ones."""
        levels = np.arange(80) * 3
        frames = np.broadcast_to(levels[:, None, None, None], (80, 96, 160, 3)).astype(np.uint8)
        iio.imwrite(folder / f"ramp{suffix}", frames, fps=60)
        out = convert_clip(folder / f"ramp{suffix}", 37, directions="1")
        assert out.shape == (8, 37, *FRAME_SHAPE)
        np.testing.assert_allclose(out[0, :, 72, 128], levels[2 * np.arange(37)], atol=4)

    def test_float_npy_in_unit_range_is_scaled(self, folder):
        out = convert_clip_from(folder, "unit.npy", np.full((5, 144, 256), 0.5), directions="1", n_frames=5)
        assert (out == 128).all()
        assert (convert_clip_from(folder, "levels.npy", np.full((5, 144, 256), 60.0), directions="1",
                                  n_frames=5) == 60).all()

    def test_match_mean_sets_the_suite_grey(self, folder):
        """Off (default): the clip's own mean; on: an offset makes the mean 128 (no clipping here)."""
        rng = np.random.default_rng(0)
        dark = rng.integers(10, 60, size=(37, 144, 256)).astype(np.uint8)
        np.save(folder / "dark.npy", dark)
        plain = convert_clip(folder / "dark.npy", 37, directions="1")
        matched = convert_clip(folder / "dark.npy", 37, directions="1", match_mean=True)
        assert abs(plain.mean() - dark.mean()) < 1e-9
        assert abs(matched.mean() - 128) < 0.5
        np.testing.assert_array_equal(matched.astype(int) - plain, np.rint(128 - dark.mean()))

    def test_length_clip_sets_the_suite_frames(self, folder):
        np.save(folder / "a.npy", moving_dot(40))
        iio.imwrite(folder / "b.gif", np.zeros((13, 72, 128), dtype=np.uint8), duration=100, loop=0)
        spec = SuiteSpec(n_instances=1, n_frames=5, classes=(0,), clips=ClipSet(str(folder), length="clip"))
        assert spec.n_frames == 39       # the GIF: 13 frames x 100 ms = 39 ticks; the .npy has 40
        assert SuiteSpec(n_frames=5, clips=ClipSet(str(folder))).n_frames == 5


def convert_clip_from(folder, name, frames, *, n_frames=30, **options):
    np.save(folder / name, frames)
    return convert_clip(folder / name, n_frames, **options)


# ---------------------------------------------------------------------------------------------- names
class TestNames:
    def test_sanitised_valid_and_never_a_suite_class(self, folder):
        for stem in ("my clip (1)", "a" * 100, "été", "..."):
            name = clip_name(stem)
            assert _NAME.match(name) and name.startswith("clip_") and name not in CLASS_NAMES
        assert clip_name("my clip (1)") == "clip_my_clip_1"

    def test_order_and_ignored_files(self, folder):
        for stem in ("b", "a"):
            np.save(folder / f"{stem}.npy", moving_dot(2))
        (folder / "notes.txt").write_text("not a clip")
        (folder / ".hidden.npy").write_bytes(b"")
        assert list(clip_files(folder)) == ["clip_a", "clip_b"]

    def test_collision(self, folder):
        np.save(folder / "walk.npy", moving_dot(2))
        iio.imwrite(folder / "walk.gif", moving_dot(2), duration=100)
        with pytest.raises(ValueError, match="clips 'walk.gif' and 'walk.npy' in .* both become class 'clip_walk'; rename one"):
            clip_files(folder)

    def test_options_and_resolve_accept_clip_names(self):
        names = CLASS_NAMES[:2] + ("clip_a",)
        assert resolve(["clip_a", 0], names) == ("clip_a", "grat_W12")
        assert resolve("clip_a", names) == ("clip_a",)
        assert resolve("all", names) == names
        options = normalise_options("decoding", {"stimuli": ["grat_W2", "clip_walk"]})
        assert options["stimuli"] == ["grat_W2", "clip_walk"]
        with pytest.raises(ValueError, match="unknown stimulus 'walk'"):
            normalise_options("decoding", {"stimuli": ["walk"]})


# ---------------------------------------------------------------------------------------------- bad input
def _write_bad(folder, case: str) -> str:
    """Write one bad clip; return the file name."""
    if case == "corrupt":
        iio.imwrite(folder / "good.mp4", np.zeros((30, 96, 160, 3), dtype=np.uint8), fps=30)
        (folder / "cut.mp4").write_bytes((folder / "good.mp4").read_bytes()[:200])
        (folder / "good.mp4").unlink()
        return "cut.mp4"
    if case == "not a video":
        (folder / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
        return "notes.mp4"
    if case == "not a gif":
        (folder / "fake.gif").write_bytes(b"\x00" * 100)
        return "fake.gif"
    if case == "zero frames":
        np.save(folder / "empty.npy", np.zeros((0, 144, 256), dtype=np.uint8))
        return "empty.npy"
    if case == "too short":
        iio.imwrite(folder / "short.gif", np.zeros((4, 72, 128), dtype=np.uint8), duration=100, loop=0)
        return "short.gif"
    if case == "huge":
        np.save(folder / "huge.npy", np.zeros((1, 8, 4097), dtype=np.uint8))
        return "huge.npy"
    if case == "bad values":
        np.save(folder / "neg.npy", np.full((40, 144, 256), -3.0))
        return "neg.npy"
    raise AssertionError(case)


BAD = {"corrupt": r"cannot be read as a \.mp4 clip .*re-encode it .* or remove it",
       "not a video": r"cannot be read as a \.mp4 clip .*re-encode it .* or remove it",
       "not a gif": r"cannot be read as a \.gif clip",
       "zero frames": "it has zero frames; remove it or export it again",
       "too short": r"lasts 0.40 s = 12 frame\(s\) at 30 Hz; the suite needs 37. Use a longer clip",
       "huge": r"frames of 4097 x 8 px exceed the limit of 4096 px a side; scale it down",
       "bad values": r"values must lie in \[0, 1\] or \[0, 255\]; got \[-3.0, -3.0\]"}


class TestBadInput:
    @pytest.mark.parametrize("case", list(BAD))
    def test_one_clear_message_naming_the_file_and_nothing_cached(self, folder, tmp_cache, case):
        np.save(folder / "fine.npy", moving_dot())
        name = _write_bad(folder, case)
        spec = SuiteSpec(n_instances=1, classes=(0,), clips=ClipSet(str(folder)))
        with pytest.raises(ValueError, match=re.escape(str(folder / name)) + ".*" + BAD[case]):
            get_suite(spec, cache=tmp_cache)
        assert content_of(tmp_cache) == []

    def test_decoded_size_limit(self, folder, monkeypatch):
        np.save(folder / "big.npy", moving_dot())
        monkeypatch.setattr(clips_module, "MAX_DECODED_BYTES", 10 * 144 * 256)
        with pytest.raises(ValueError, match=r"big.npy'.*more than 0 MB of decoded frames; shorten or scale"):
            convert_clip(folder / "big.npy", 37)

    def test_empty_and_missing_folder(self, folder, tmp_cache):
        (folder / "readme.txt").write_text("no clips yet")
        with pytest.raises(ValueError, match=r"holds no clips; expected files ending in \.mp4, \.avi, \.gif, \.npy"):
            get_suite(SuiteSpec(clips=ClipSet(str(folder))), cache=tmp_cache)
        with pytest.raises(ValueError, match="does not exist or is not a folder; create it"):
            ClipSet(str(folder / "nope")).names
        assert content_of(tmp_cache) == []

    def test_option_errors(self, folder):
        with pytest.raises(ValueError, match=r"ClipSet.directions must be one of \['8', '1'\]; got '4'"):
            ClipSet(str(folder), directions="4")
        with pytest.raises(TypeError, match="clips must be a compute.clips.ClipSet or None; got str"):
            SuiteSpec(clips=str(folder))
        with pytest.raises(TypeError, match="RunSettings.clips must be a compute.clips.ClipSet or None; got str"):
            RunSettings(clips=str(folder))


def content_of(cache) -> list:
    root = cache.root
    return [p for p in root.rglob("*") if p.is_file() and "lock" not in p.name] if root.exists() else []


# ---------------------------------------------------------------------------------------------- the suite and keys
class TestSuiteAndKeys:
    def test_suite_appends_clip_classes(self, folder, tmp_cache):
        np.save(folder / "dot.npy", moving_dot())
        spec = SuiteSpec(n_instances=2, n_frames=6, classes=(1, 0), clips=ClipSet(str(folder), directions="1"))
        assert spec.names == ("grat_W1", "grat_W12", "clip_dot")
        frames = get_suite(spec, cache=tmp_cache)
        assert frames.shape == (3, 8, 2, 6, *FRAME_SHAPE)
        np.testing.assert_array_equal(frames[2, 3, 1], convert_clip(folder / "dot.npy", 6, directions="1")[3])
        np.testing.assert_array_equal(frames[:2], get_suite(SuiteSpec(n_instances=2, n_frames=6, classes=(1, 0)),
                                                            cache=tmp_cache))
        assert SuiteSpec(classes=(), clips=ClipSet(str(folder))).names == ("clip_dot",)

    def test_clip_free_keys_unchanged(self):
        assert "clips" not in SuiteSpec().key_parts() and "clips" not in RunSettings().key_parts()

    def test_keys_follow_the_clip_bytes_and_options(self, folder, tmp_path):
        settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
        np.save(folder / "dot.npy", moving_dot())
        model = Source("model", "conv3d-random", "Conv1")

        def keys(**options):
            run = RunSettings(clips=ClipSet(str(folder), **options))
            return (SuiteSpec(clips=run.clips).key_parts()["clips"]["sha256"], source_key(model, run=run, settings=settings),
                    view_key("decoding", model, run=run, settings=settings))

        before = keys()
        assert keys() == before
        assert view_key("decoding", model, settings=settings) != before[2]
        for options in ({"directions": "1"}, {"match_mean": True}):
            assert keys(**options)[1:] != before[1:]
        stamp = os.stat(folder / "dot.npy")
        frames = moving_dot()
        frames[0, 0, 0] = 1
        np.save(folder / "dot.npy", frames)
        os.utime(folder / "dot.npy", ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))
        changed = keys()
        assert all(a != b for a, b in zip(changed, before))
        shutil.copy(folder / "dot.npy", folder / "dot2.npy")
        assert clips_hash(folder) != changed[0]


    def test_run_settings_round_trip_through_json_and_notice_changed_clips(self, folder):
        """A report's manifest records the run; v1 recorded the clips' hash only and could not rebuild them."""
        import json

        np.save(folder / "dot.npy", moving_dot())
        run = RunSettings(instances=1, clips=ClipSet(str(folder), directions="1", match_mean=True))
        record = json.loads(json.dumps(run.to_json()))
        assert RunSettings.from_json(record) == run
        assert RunSettings.from_json(json.loads(json.dumps(RunSettings().to_json()))) == RunSettings()
        np.save(folder / "dot.npy", moving_dot(n_frames=41))
        with pytest.raises(ValueError, match="changed since they were recorded"):
            RunSettings.from_json(record)


# ---------------------------------------------------------------------------------------------- views
TEST_RUN = {"instances": 1, "n_frames": 12, "n_maps": 10, "n_positions": 20, "n_output": 200, "classes": (0, 1)}


@pytest.fixture
def clip_run(folder) -> RunSettings:
    np.save(folder / "dot.npy", moving_dot())
    rng = np.random.default_rng(1)
    np.save(folder / "noise.npy", rng.integers(0, 256, size=(12, 72, 128)).astype(np.uint8))
    return RunSettings(**TEST_RUN, clips=ClipSet(str(folder)))


@pytest.mark.slow
def test_decoding_and_accuracy_of_the_small_model_on_clip_classes(clip_run, tmp_cache, tmp_path):
    """The test profile's model on a run with two clips: the clip classes are stimuli of every view."""
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", device="cpu")
    source = Source("model", "conv3d-random", "Conv2")
    stimuli = ["grat_W12", "clip_dot", "clip_noise"]
    arrays, meta = load_view(compute_view("decoding", source, run=clip_run, cache=tmp_cache, settings=settings,
                                          stimuli=stimuli), cache=tmp_cache)
    assert meta["stimuli"] == stimuli and meta["missing_stimuli"] == []
    assert arrays["coords"].shape == (3 * 8, 3) and sorted(set(arrays["labels"][:, 0])) == [0, 1, 2]
    _, meta = load_view(compute_view("accuracy", source, run=clip_run, cache=tmp_cache, settings=settings,
                                     stimuli="all", windows=False), cache=tmp_cache)
    assert meta["stimuli"] == ["grat_W12", "grat_W1", "clip_dot", "clip_noise"] and meta["chance"] == 0.25
    _, meta = load_view(compute_view("tubularity", source, run=clip_run, cache=tmp_cache, settings=settings,
                                     stimuli=stimuli, n_boot=2, sensitivity=False), cache=tmp_cache)
    assert meta["stimuli"] == stimuli


@pytest.mark.slow
def test_encoding_manifold_takes_in_the_clip_classes(folder, tmp_cache, tmp_path):
    """with_clips appends the run's clip classes to every unit's optSF set (all 11 suite classes + 2 clips)."""
    np.save(folder / "dot.npy", moving_dot())
    np.save(folder / "noise.npy", np.random.default_rng(1).integers(0, 256, size=(12, 72, 128)).astype(np.uint8))
    run = RunSettings(**{k: v for k, v in TEST_RUN.items() if k != "classes"}, clips=ClipSet(str(folder)))
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", device="cpu")
    source = Source("model", "conv3d-random", "Conv2")
    view = load_typed(compute_view("encoding", source, run=run, cache=tmp_cache, settings=settings, rank=3,
                                   n_restarts=2, with_clips=True), cache=tmp_cache)
    assert view.diagnostics["stimuli"] == "optSF + clip_dot, clip_noise"
    without = load_typed(compute_view("encoding", source, run=run, cache=tmp_cache, settings=settings, rank=3,
                                      n_restarts=2), cache=tmp_cache)
    assert without.diagnostics["stimuli"] == "optSF"


def test_biology_has_no_clip_responses(tmp_cache, tmp_path, rng):
    """A bio view asked for clips leaves them out and says so; asked for clips only, it says why it can't."""
    from tests.compute.test_workflows import tiny_set

    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    bio = Source("bio", "V1")
    tmp_cache.put_responses(source_key(bio, settings=settings), tiny_set(rng, label="V1"))
    _, meta = load_view(compute_view("decoding", bio, cache=tmp_cache, settings=settings,
                                     stimuli=["grat_W12", "grat_W2", "clip_dot"]), cache=tmp_cache)
    assert meta["missing_stimuli"] == ["clip_dot"]
    assert meta["label"] == "V1; clip stimuli have no biological responses, left out"
    with pytest.raises(ValueError, match="clip stimuli have no biological responses; choose some of the suite"):
        compute_view("decoding", bio, cache=tmp_cache, settings=settings, stimuli=["clip_dot"])


# ---------------------------------------------------------------------------------------------- the app's set
class TestChosenSet:
    def test_choose_confined_to_the_root_and_validated(self, tmp_path):
        settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
        root = clips_module.clips_root(settings)
        (root / "walks").mkdir(parents=True)
        np.save(root / "walks" / "a.npy", moving_dot())
        assert clips_module.clip_sets(settings) == ["walks"] and clips_module.active_clips(settings) is None
        for name in ("../walks", "/etc", "nope"):
            with pytest.raises(ValueError, match=r"no clip set .* sets there: \['walks'\]"):
                clips_module.choose_clips(settings, name)
        chosen = clips_module.choose_clips(settings, "walks", directions="1")
        assert clips_module.active_clips(settings) == chosen == ClipSet(str(root / "walks"), directions="1")
        np.save(root / "walks" / "b.npy", moving_dot(3))
        with pytest.raises(ValueError, match="b.npy'.*the suite needs 37"):
            clips_module.choose_clips(settings, "walks")
        assert clips_module.active_clips(settings) == chosen          # a bad set is not chosen
        clips_module.choose_clips(settings, None)
        assert clips_module.active_clips(settings) is None

    def test_command_line_chooses_the_set_the_app_and_the_commands_use(self, tmp_path, monkeypatch, capsys):
        """``python -m compute clips use`` sets what ``with_active_clips`` adds to the app's and cli_view's run."""
        from compute.cli import main
        from compute.sources import with_active_clips

        settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
        monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(settings.cache_dir))
        monkeypatch.setenv("TWINSCOPE_DATA_DIR", str(settings.data_dir))
        monkeypatch.delenv("TWINSCOPE_PROFILE", raising=False)
        (clips_module.clips_root(settings) / "walks").mkdir(parents=True)
        np.save(clips_module.clips_root(settings) / "walks" / "dot.npy", moving_dot())
        assert main(["clips", "use", "walks", "--directions", "1"]) == 0
        assert "in use: " in capsys.readouterr().out
        run = with_active_clips(RunSettings(), settings)
        assert run.clips == ClipSet(str(clips_module.clips_root(settings) / "walks"), directions="1")
        assert run.names[-1] == "clip_dot"
        assert main(["clips", "use", "nope"]) == 2
        assert "error: no clip set 'nope'" in capsys.readouterr().err
        assert main(["clips", "none"]) == 0 and with_active_clips(RunSettings(), settings) == RunSettings()
        assert main(["clips", "list"]) == 0 and "walks" in capsys.readouterr().out


def test_with_clips_on_a_source_without_clips_says_so(tmp_cache, tmp_path, rng, data_dir):
    """Biology (published factors or not) and clip-free runs refuse with_clips instead of ignoring it."""
    from tests.compute.test_workflows import tiny_set

    settings = Settings(cache_dir=tmp_path / "cache", data_dir=data_dir)
    source = Source("bio", "V1")
    tmp_cache.put_responses(source_key(source, settings=settings), tiny_set(rng))
    with pytest.raises(ValueError, match="has no clip classes"):
        compute_view("encoding", source, cache=tmp_cache, settings=settings, with_clips=True)
