"""Alignment page callbacks: RSA / CCA / LP / DSA per module for each dataset, and the mean table."""

from __future__ import annotations

from dash import Input, Output

from app.ids import AlignmentIds, JobIds
from app.pages import alignment as page
from app.state import encode_query
from callbacks.common import message_figure, named_views
from callbacks.context import AppContext


def alignment_state(sources, datasets) -> tuple[str, dict]:
    sources, datasets = list(sources or []), list(datasets or [])
    return encode_query({"sources": sources, "datasets": datasets}), page.build_request(sources, datasets)


def alignment_views(result, *, ctx: AppContext):
    """(score figure, table columns, table rows)."""
    from app.figures import alignment_figure, alignment_table
    from compute.workflows import alignment_series, alignment_table_data

    named = named_views(result, "alignment", ctx=ctx)
    if not named:
        return message_figure("Press Run to compute alignment with biology."), [], []
    keys: dict[str, dict[str, str]] = {}  # module -> dataset -> key, modules in request order
    for name, entry in named:
        keys.setdefault(name, {})[entry["options"]["dataset"]] = entry["key"]
    series = alignment_series(keys, cache=ctx.cache)
    table = alignment_table(**alignment_table_data(keys, cache=ctx.cache))
    return alignment_figure(**series), table["columns"], table["data"]


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(JobIds.query("alignment"), "data"), Output(JobIds.request("alignment"), "data"),
                  Input(AlignmentIds.SOURCES, "value"), Input(AlignmentIds.DATASETS, "value"),
                  prevent_initial_call=True)
    def on_state(sources, datasets):
        return alignment_state(sources, datasets)

    @app.callback(Output(AlignmentIds.SCORES, "figure"), Output(AlignmentIds.TABLE, "columns"),
                  Output(AlignmentIds.TABLE, "data"), Input(JobIds.result("alignment"), "data"))
    def on_result(result):
        return alignment_views(result, ctx=ctx)
