"""Tubularity page callbacks: S_tight / S_cross bars across sources, sensitivity grid and tube plot."""

from __future__ import annotations

from dash import Input, Output

from app.collect import tubularity_comparison
from app.figures import sensitivity_heatmap, tube_figure, tubularity_bars
from app.ids import JobIds, TubularityIds
from app.requests import tubularity_request
from app.state import encode_query
from callbacks.common import find_view, message_figure, named_views, register_source_picker
from callbacks.context import AppContext
from compute.workflows import load_typed

NOT_RUN = "Press Run to compute tubularity."


def tubularity_state(sources: list[str], tube: str | None) -> tuple[str, dict]:
    """(URL query, job request) of the selected sources and the source of the tube plot."""
    return encode_query({"sources": sources, "tube": tube}), tubularity_request(sources)


def bars(result, *, ctx: AppContext):
    named = named_views(result, "tubularity", ctx=ctx)
    if not named:
        return message_figure(NOT_RUN)
    return tubularity_bars(**tubularity_comparison({name: entry["key"] for name, entry in named}, cache=ctx.cache))


def tube_views(result, tube, *, ctx: AppContext):
    """(tube figure, sensitivity heatmap) of one source."""
    entry = find_view(result, "tubularity", tube)
    if entry is None:
        return message_figure(NOT_RUN), message_figure(NOT_RUN)
    art = load_typed(entry["key"], cache=ctx.cache)
    tube_fig = tube_figure(art.bundle_curves, art.bundle_labels, art.centerlines, art.stimuli, title=art.label,
                           **art.flags())
    if art.sensitivity_s_tight is None:
        return tube_fig, message_figure("No sensitivity grid: this view was run with the sensitivity option off.")
    grid = sensitivity_heatmap(art.sensitivity_qs, art.sensitivity_smoothings, art.sensitivity_s_tight,
                               title=art.label)
    return tube_fig, grid


def register(app, ctx: AppContext) -> None:
    register_source_picker(app, "tubularity", TubularityIds.SOURCES, TubularityIds.TUBE_SOURCE, tubularity_state,
                           ctx=ctx)

    @app.callback(Output(TubularityIds.BARS, "figure"), Input(JobIds.result("tubularity"), "data"))
    def on_result(result):
        return bars(result, ctx=ctx)

    @app.callback(Output(TubularityIds.TUBE, "figure"), Output(TubularityIds.SENSITIVITY, "figure"),
                  Input(JobIds.result("tubularity"), "data"), Input(TubularityIds.TUBE_SOURCE, "value"))
    def on_tube(result, tube):
        return tube_views(result, tube, ctx=ctx)
