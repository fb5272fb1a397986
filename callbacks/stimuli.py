"""Stimuli page callbacks: animated preview of one (class, direction) and the class thumbnail strip."""

from __future__ import annotations

import base64

from dash import Input, Output
from dash.exceptions import PreventUpdate

from app.ids import JobIds, StimuliIds
from app.state import encode_query
from callbacks.context import AppContext


def _check(class_name: str, direction, *, ctx: AppContext) -> tuple[int, int]:
    """(class index, direction index); ValueError naming the choices otherwise."""
    catalog = ctx.catalog
    if class_name not in catalog.classes:
        raise ValueError(f"unknown stimulus class {class_name!r}; choose one of {list(catalog.classes)}")
    if direction not in catalog.directions:
        raise ValueError(f"unknown direction {direction!r}; choose one of {list(catalog.directions)}")
    return catalog.classes.index(class_name), catalog.directions.index(direction)


def sequence_frames(class_name: str, direction: int, *, ctx: AppContext):
    """Instance 0 of one (class, direction): ndarray (n_frames, 144, 256) uint8, rendered once (cached)."""
    from compute.stimuli import SuiteSpec, get_suite

    class_index, direction_index = _check(class_name, direction, ctx=ctx)
    suite = get_suite(SuiteSpec(n_instances=1, classes=(class_index,)), cache=ctx.cache)
    return suite[0, direction_index, 0]


def first_frames(direction: int, *, ctx: AppContext):
    """Frame 0 of instance 0 of every class at ``direction``: ndarray (11, 144, 256) uint8 (cached)."""
    from compute.stimuli import SuiteSpec, get_suite

    _, direction_index = _check(ctx.catalog.classes[0], direction, ctx=ctx)
    return get_suite(SuiteSpec(n_instances=1, n_frames=1), cache=ctx.cache)[:, direction_index, 0, 0]


def preview(class_name: str, direction: int, *, ctx: AppContext):
    """(animated preview figure, caption, URL query)."""
    from app.figures import empty_figure, sequence_preview
    from compute.stimuli import FRAME_RATE

    try:
        frames = sequence_frames(class_name, direction, ctx=ctx)
    except ValueError as error:
        return empty_figure(str(error)), str(error), encode_query({})
    caption = (f"{class_name}, moving at {direction} deg: {frames.shape[0]} frames of "
               f"{frames.shape[1]}x{frames.shape[2]} px at {FRAME_RATE:g} Hz (instance 0). Press play.")
    return (sequence_preview(frames, fps=FRAME_RATE, title=f"{class_name} / {direction} deg"), caption,
            encode_query({"cls": class_name, "dir": direction}))


def thumbnails(direction: int, *, ctx: AppContext):
    from app.figures import empty_figure, thumbnail_strip

    try:
        return thumbnail_strip(first_frames(direction, ctx=ctx), ctx.catalog.classes)
    except ValueError as error:
        return empty_figure(str(error))


def clicked_class(click_data, *, ctx: AppContext) -> str:
    """Class name of a click on the thumbnail strip (one image trace per class: ``curveNumber``)."""
    try:
        return ctx.catalog.classes[int(click_data["points"][0]["curveNumber"])]
    except (KeyError, IndexError, TypeError, ValueError):
        raise PreventUpdate from None


def thumbnail_png(class_name: str, *, ctx: AppContext) -> bytes:
    """PNG of a class's first frame (direction 0), for the Explore page's stimulus checklist."""
    from app.figures.stimuli import png_data_uri

    class_index, _ = _check(class_name, ctx.catalog.directions[0], ctx=ctx)
    uri = png_data_uri(first_frames(ctx.catalog.directions[0], ctx=ctx)[class_index])
    return base64.b64decode(uri.split(",", 1)[1])


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(StimuliIds.PREVIEW, "figure"), Output(StimuliIds.CAPTION, "children"),
                  Output(JobIds.query("stimuli"), "data"),
                  Input(StimuliIds.CLASS, "value"), Input(StimuliIds.DIRECTION, "value"))
    def on_selection(class_name, direction):
        return preview(class_name, direction, ctx=ctx)

    @app.callback(Output(StimuliIds.THUMBNAILS, "figure"), Input(StimuliIds.DIRECTION, "value"))
    def on_direction(direction):
        return thumbnails(direction, ctx=ctx)

    @app.callback(Output(StimuliIds.CLASS, "value"), Input(StimuliIds.THUMBNAILS, "clickData"),
                  prevent_initial_call=True)
    def on_thumbnail_click(click_data):
        return clicked_class(click_data, ctx=ctx)

    @app.server.route("/thumbnails/<class_name>.png")
    def thumbnail(class_name: str):
        import flask

        try:
            png = thumbnail_png(class_name, ctx=ctx)
        except ValueError as error:
            return flask.Response(str(error), status=404, mimetype="text/plain")
        return flask.Response(png, mimetype="image/png", headers={"Cache-Control": "max-age=86400"})
