"""The Stimuli page's clip set (callbacks/stimuli.py): choosing a set from the server's clip folder, its
classes in the previews, the run settings and Explore's stimulus list; bad clips leave the set in use."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from app.catalog import _clip_classes
from app.ids import StimuliIds
from callbacks import explore, stimuli
from callbacks.context import AppContext
from compute.cache import ArtifactCache
from compute.clips import ClipSet, clips_root
from compute.config import Settings


@pytest.fixture
def clip_ctx(tmp_path, catalog) -> AppContext:
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", secret_key="test")
    walks = clips_root(settings) / "walks"
    walks.mkdir(parents=True)
    frames = np.zeros((12, 72, 128), dtype=np.uint8)
    frames[:, 30:40, 60:70] = 250                       # a bright square, scaled by 2 to the centre of the crop
    np.save(walks / "square.npy", frames)
    np.save(walks / "grey.npy", np.full((12, 144, 256), 90, dtype=np.uint8))
    catalog = dataclasses.replace(catalog, clip_classes=functools.partial(_clip_classes, settings))
    return AppContext(settings=settings, cache=ArtifactCache(tmp_path / "cache" / "artifacts"), catalog=catalog)


def use(ctx, name="walks", directions="1", match_mean=None, length="suite"):
    return stimuli.choose(StimuliIds.CLIP_USE, name, directions, match_mean, length, ctx=ctx)


def test_choose_a_set_and_see_its_classes_everywhere(clip_ctx):
    options, value, status, names, class_options = stimuli.choose(None, None, "8", [], "suite", ctx=clip_ctx)
    assert options == [{"label": "walks", "value": "walks"}] and value is None and names == []
    assert status.startswith("No clip set in use. Clip folder: ") and "(sets there: walks)" in status
    assert clip_ctx.run.clips is None

    _, value, status, names, class_options = use(clip_ctx)
    assert value == "walks" and names == ["clip_grey", "clip_square"]
    assert "In use: clip set 'walks' with 2 clip class(es) (clip_grey, clip_square); directions 1" in status
    assert [o["value"] for o in class_options][-3:] == ["pos3dotflow_D2_bg", "clip_grey", "clip_square"]
    assert clip_ctx.run.clips == ClipSet(str(clips_root(clip_ctx.settings) / "walks"), directions="1")
    assert clip_ctx.run.names[-2:] == ("clip_grey", "clip_square")

    frames = stimuli.sequence_frames("clip_square", 90, ctx=clip_ctx)
    assert frames.shape == (12, 144, 256)                                     # the test profile's 12 frames
    assert frames[0, 72, 128] == 250 and frames[0, 0, 0] == 0
    fig = stimuli.thumbnails(0, ctx=clip_ctx)
    assert [trace.name for trace in fig.data][-2:] == ["clip_grey", "clip_square"]
    assert stimuli.clicked_class({"points": [{"curveNumber": 12}]}, ctx=clip_ctx) == "clip_square"
    assert stimuli.thumbnail_png("clip_grey", ctx=clip_ctx).startswith(b"\x89PNG")
    assert explore.sync_stimuli("explore-stimuli", "custom", ["clip_square", "grat_W1"], ctx=clip_ctx) == (
        "custom", ["grat_W1", "clip_square"])

    *_, names, _ = stimuli.choose(StimuliIds.CLIP_NONE, "walks", "8", [], "suite", ctx=clip_ctx)
    assert names == [] and clip_ctx.run.clips is None


def test_a_bad_clip_is_reported_and_the_set_in_use_stays(clip_ctx):
    use(clip_ctx)
    (clips_root(clip_ctx.settings) / "walks" / "broken.gif").write_text("not a gif")
    _, value, status, names, _ = use(clip_ctx, directions="8")
    assert status.startswith("Not used: clip '") and "broken.gif': cannot be read as a .gif clip" in status
    assert value == "walks" and clip_ctx.run.clips.directions == "1"
    _, _, status, _, _ = use(clip_ctx, name=None)
    assert status.startswith("Not used: choose a clip set first.")


def test_clip_classes_have_their_own_stable_colours():
    """v1 drew every class outside the canonical eleven in one grey, so two clips looked alike."""
    from app.figures.style import CLASS_COLORS, stimulus_color

    colours = {stimulus_color(name) for name in ("clip_ramp", "clip_square")}
    assert len(colours) == 2 and not colours & {"#999999", *CLASS_COLORS.values()}
    assert stimulus_color("clip_ramp") == stimulus_color("clip_ramp") and stimulus_color("other") == "#999999"
