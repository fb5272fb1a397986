"""Stimuli page callbacks: animated preview of one (class, direction), the class thumbnail strip, and the
choice of the clip set (``compute.clips``) whose classes follow the suite's."""

from __future__ import annotations

import base64

import flask
import numpy as np
from dash import Input, Output, State
from dash import callback_context as dash_ctx
from dash.exceptions import PreventUpdate

from app.figures import empty_figure, sequence_preview, thumbnail_strip
from app.figures.stimuli import png_data_uri
from app.ids import JobIds, StimuliIds
from app.state import encode_query
from callbacks.context import AppContext
from compute.clips import active_clips, choose_clips, clip_sets, clips_root
from compute.stimuli import FRAME_RATE, SuiteSpec, get_suite


def _check(class_name: str, direction, *, ctx: AppContext) -> tuple[int, int]:
    """(index in ``catalog.stimuli``, direction index); ValueError naming the choices otherwise."""
    catalog = ctx.catalog
    stimuli = catalog.stimuli
    if class_name not in stimuli:
        raise ValueError(f"unknown stimulus class {class_name!r}; choose one of {list(stimuli)}")
    if direction not in catalog.directions:
        raise ValueError(f"unknown direction {direction!r}; choose one of {list(catalog.directions)}")
    return stimuli.index(class_name), catalog.directions.index(direction)


def _clip_suite(n_frames: int, *, ctx: AppContext):
    """Instance 0 of every chosen clip: ndarray (n_clips, 8, n_frames, 144, 256) uint8 (cached)."""

    return get_suite(SuiteSpec(n_instances=1, n_frames=n_frames, classes=(), clips=ctx.run.clips),
                     cache=ctx.cache)[:, :, 0]


def sequence_frames(class_name: str, direction: int, *, ctx: AppContext):
    """Instance 0 of one (class, direction): ndarray (n_frames, 144, 256) uint8, rendered once (cached).
    A clip class has the run's frames (what a model is shown)."""

    index, direction_index = _check(class_name, direction, ctx=ctx)
    n_classes = len(ctx.catalog.classes)
    if index >= n_classes:
        return _clip_suite(ctx.run.n_frames, ctx=ctx)[index - n_classes, direction_index]
    suite = get_suite(SuiteSpec(n_instances=1, classes=(index,)), cache=ctx.cache)
    return suite[0, direction_index, 0]


def first_frames(direction: int, *, ctx: AppContext):
    """Frame 0 of instance 0 of every class (``catalog.stimuli``) at ``direction``: ndarray
    (n_stimuli, 144, 256) uint8 (cached)."""

    _, direction_index = _check(ctx.catalog.classes[0], direction, ctx=ctx)
    frames = get_suite(SuiteSpec(n_instances=1, n_frames=1), cache=ctx.cache)[:, direction_index, 0, 0]
    if len(ctx.catalog.stimuli) > len(ctx.catalog.classes):
        frames = np.concatenate([frames, _clip_suite(1, ctx=ctx)[:, direction_index, 0]])
    return frames


def preview(class_name: str, direction: int, *, ctx: AppContext):
    """(animated preview figure, caption, URL query)."""

    try:
        frames = sequence_frames(class_name, direction, ctx=ctx)
    except ValueError as error:
        return empty_figure(str(error)), str(error), encode_query({})
    caption = (f"{class_name}, moving at {direction} deg: {frames.shape[0]} frames of "
               f"{frames.shape[1]}x{frames.shape[2]} px at {FRAME_RATE:g} Hz (instance 0). Press play.")
    return (sequence_preview(frames, fps=FRAME_RATE, title=f"{class_name} / {direction} deg"), caption,
            encode_query({"cls": class_name, "dir": direction}))


def thumbnails(direction: int, *, ctx: AppContext):

    try:
        return thumbnail_strip(first_frames(direction, ctx=ctx), ctx.catalog.stimuli)
    except ValueError as error:
        return empty_figure(str(error))


def clicked_class(click_data, *, ctx: AppContext) -> str:
    """Class name of a click on the thumbnail strip (one image trace per class: ``curveNumber``)."""
    try:
        return ctx.catalog.stimuli[int(click_data["points"][0]["curveNumber"])]
    except (KeyError, IndexError, TypeError, ValueError):
        raise PreventUpdate from None


def thumbnail_png(class_name: str, *, ctx: AppContext) -> bytes:
    """PNG of a class's first frame (direction 0), for the Explore page's stimulus checklist."""

    class_index, _ = _check(class_name, ctx.catalog.directions[0], ctx=ctx)
    uri = png_data_uri(first_frames(ctx.catalog.directions[0], ctx=ctx)[class_index])
    return base64.b64decode(uri.split(",", 1)[1])


# ---------------------------------------------------------------------------------------------- the clip set
def clip_state(*, ctx: AppContext, message: str = "") -> tuple[list[dict], str | None, str, list[str], list[dict]]:
    """(clip-set options, the set in use, status text, clip class names, class-dropdown options)."""

    sets, clips = clip_sets(ctx.settings), active_clips(ctx.settings)
    names = list(ctx.catalog.stimuli[len(ctx.catalog.classes):])
    root = clips_root(ctx.settings)
    if clips is None:
        status = (f"No clip set in use. Clip folder: {root} "
                  + (f"(sets there: {', '.join(sets)})." if sets else "(no sets there yet)."))
    else:
        status = (f"In use: clip set {clips.folder.rsplit('/', 1)[-1]!r} with {len(names)} clip class(es) "
                  f"({', '.join(names)}); directions {clips.directions}, length: {clips.length}, mean luminance "
                  f"{'matched to 128' if clips.match_mean else 'as recorded'}. Select them on Explore "
                  "(stimulus classes: custom).")
    value = None if clips is None else clips.folder.rsplit("/", 1)[-1]
    options = [{"label": name, "value": name} for name in ctx.catalog.stimuli]
    return ([{"label": s, "value": s} for s in sets], value, f"{message} {status}".strip(), names, options)


def choose(trigger: str | None, name: str | None, directions: str, match_mean: list | None, length: str, *,
           ctx: AppContext):
    """Apply a press of "Use this clip set" / "No clips" (``compute.clips.choose_clips``), then
    ``clip_state``. A bad clip is reported with its file and the fix, and the set in use stays."""

    message = ""
    if trigger in (StimuliIds.CLIP_USE, StimuliIds.CLIP_NONE):
        try:
            if trigger == StimuliIds.CLIP_USE and not name:
                raise ValueError("choose a clip set first")
            choose_clips(ctx.settings, name if trigger == StimuliIds.CLIP_USE else None, directions=directions,
                         match_mean=bool(match_mean), length=length, n_frames=ctx.catalog.profile.run.n_frames)
        except (ValueError, TypeError) as error:
            message = f"Not used: {error}."
    return clip_state(ctx=ctx, message=message)


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(StimuliIds.PREVIEW, "figure"), Output(StimuliIds.CAPTION, "children"),
                  Output(JobIds.query("stimuli"), "data"),
                  Input(StimuliIds.CLASS, "value"), Input(StimuliIds.DIRECTION, "value"))
    def on_selection(class_name, direction):
        return preview(class_name, direction, ctx=ctx)

    @app.callback(Output(StimuliIds.THUMBNAILS, "figure"), Input(StimuliIds.DIRECTION, "value"),
                  Input(StimuliIds.CLIP_CLASSES, "data"))
    def on_direction(direction, _clip_classes):
        return thumbnails(direction, ctx=ctx)

    @app.callback(Output(StimuliIds.CLASS, "value"), Input(StimuliIds.THUMBNAILS, "clickData"),
                  prevent_initial_call=True)
    def on_thumbnail_click(click_data):
        return clicked_class(click_data, ctx=ctx)

    @app.callback(Output(StimuliIds.CLIP_SET, "options"), Output(StimuliIds.CLIP_SET, "value"),
                  Output(StimuliIds.CLIP_STATUS, "children"), Output(StimuliIds.CLIP_CLASSES, "data"),
                  Output(StimuliIds.CLASS, "options"),
                  Input(StimuliIds.CLIP_USE, "n_clicks"), Input(StimuliIds.CLIP_NONE, "n_clicks"),
                  State(StimuliIds.CLIP_SET, "value"), State(StimuliIds.CLIP_DIRECTIONS, "value"),
                  State(StimuliIds.CLIP_MATCH_MEAN, "value"), State(StimuliIds.CLIP_LENGTH, "value"))
    def on_clip_set(_use, _none, name, directions, match_mean, length):
        return choose(dash_ctx.triggered_id, name, directions, match_mean, length, ctx=ctx)

    @app.server.route("/thumbnails/<class_name>.png")
    def thumbnail(class_name: str):
        try:
            png = thumbnail_png(class_name, ctx=ctx)
        except ValueError as error:
            return flask.Response(str(error), status=404, mimetype="text/plain")
        return flask.Response(png, mimetype="image/png", headers={"Cache-Control": "max-age=86400"})
