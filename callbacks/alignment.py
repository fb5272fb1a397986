"""Alignment page callbacks: RSA / CCA / LP / DSA per module for each dataset, and the mean table."""

from __future__ import annotations

from dash import Input, Output

from app.collect import alignment_series, alignment_table_data
from app.figures import alignment_figure, alignment_heatmap, alignment_table
from app.ids import AlignmentIds, JobIds
from app.requests import alignment_request
from app.state import encode_query
from callbacks.common import message_figure, named_views
from callbacks.context import AppContext

NOT_RUN = "Press Run to compute alignment with biology."


def alignment_state(sources, datasets) -> tuple[str, dict]:
    sources, datasets = list(sources or []), list(datasets or [])
    return encode_query({"sources": sources, "datasets": datasets}), alignment_request(sources, datasets)


def _alignment_keys(result, *, ctx: AppContext) -> dict[str, dict[str, str]]:
    """module -> dataset -> key of every alignment view in a job result, modules in request order."""
    keys: dict[str, dict[str, str]] = {}
    for name, entry in named_views(result, "alignment", ctx=ctx):
        keys.setdefault(name, {})[entry["options"]["dataset"]] = entry["key"]
    return keys


def alignment_views(result, *, ctx: AppContext):
    """(score figure, table columns, table rows)."""
    keys = _alignment_keys(result, ctx=ctx)
    if not keys:
        return message_figure(NOT_RUN), [], []
    table = alignment_table(**alignment_table_data(keys, cache=ctx.cache))
    return alignment_figure(**alignment_series(keys, cache=ctx.cache)), table["columns"], table["data"]


def heatmap_view(result, *, ctx: AppContext):
    """The metric x module heatmap of every dataset (the paper-style summary)."""
    keys = _alignment_keys(result, ctx=ctx)
    return alignment_heatmap(**alignment_series(keys, cache=ctx.cache)) if keys else message_figure(NOT_RUN)


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(JobIds.query("alignment"), "data"), Output(JobIds.request("alignment"), "data"),
                  Input(AlignmentIds.SOURCES, "value"), Input(AlignmentIds.DATASETS, "value"),
                  prevent_initial_call=True)
    def on_state(sources, datasets):
        return alignment_state(sources, datasets)

    @app.callback(Output(AlignmentIds.HEATMAP, "figure"), Input(JobIds.result("alignment"), "data"))
    def on_heatmap(result):
        return heatmap_view(result, ctx=ctx)

    @app.callback(Output(AlignmentIds.SCORES, "figure"), Output(AlignmentIds.TABLE, "columns"),
                  Output(AlignmentIds.TABLE, "data"), Input(JobIds.result("alignment"), "data"))
    def on_result(result):
        return alignment_views(result, ctx=ctx)
