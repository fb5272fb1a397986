"""Decoding-accuracy page callbacks: whole-trial accuracy per source and per time window."""

from __future__ import annotations

from dash import Input, Output

from app.collect import accuracy_series, accuracy_windows
from app.figures import accuracy_bars, accuracy_figure
from app.ids import AccuracyIds, JobIds
from app.requests import accuracy_request
from app.state import encode_query
from callbacks.common import find_view, message_figure, named_views, register_source_picker
from callbacks.context import AppContext
from compute.seed_values import PUBLISHED_ACCURACY
from compute.workflows import load_typed


def accuracy_state(sources) -> tuple[str, dict]:
    sources = list(sources or [])
    return encode_query({"sources": sources}), accuracy_request(sources)


def accuracy_views(result, *, ctx: AppContext):
    """(figure of accuracy per source, with the time-window curves of each source below; table props)."""
    named = named_views(result, "accuracy", ctx=ctx)
    if not named:
        return message_figure("Press Run to compute decoding accuracy."), [], []
    mixed = mixed_chance_text(named, ctx=ctx)
    if mixed:
        return message_figure(mixed), [], []
    try:
        series = accuracy_series({name: entry["key"] for name, entry in named}, cache=ctx.cache)
    except ValueError as error:
        return message_figure(str(error)), [], []
    fig = accuracy_bars(**series, published=PUBLISHED_ACCURACY, published_name="seed study (official FNN)")
    rows = [{"source": name, **{k: round(float(v[i]), 3) for k, v in series["series"].items()}}
            for i, name in enumerate(series["x"])]
    columns = [{"name": c, "id": c} for c in rows[0]]
    return fig, columns, rows


def mixed_chance_text(named: list[tuple[str, dict]], *, ctx: AppContext) -> str:
    """'' when every source decodes the same number of classes, else what to remove to compare like with
    like (models decode all 11 classes, biology its six)."""
    groups: dict[int, list[str]] = {}
    for name, entry in named:
        n_classes = round(1 / load_typed(entry["key"], cache=ctx.cache).chance)
        groups.setdefault(n_classes, []).append(name)
    if len(groups) < 2:
        return ""
    parts = [f"{', '.join(names)} decode {n} classes" for n, names in sorted(groups.items())]
    return ("Accuracy is only comparable at the same number of classes: " + "; ".join(parts)
            + ". Remove one group from Sources.")


def window_view(result, token, *, ctx: AppContext):
    """Accuracy of growing [0..t] and shrinking [t..end] time windows of one source."""
    entry = find_view(result, "accuracy", token)
    if entry is None:
        return message_figure("Press Run, then pick a source to see its time windows.")
    return accuracy_figure(**accuracy_windows(entry["key"], cache=ctx.cache))


def register(app, ctx: AppContext) -> None:
    register_source_picker(app, "accuracy", AccuracyIds.SOURCES, AccuracyIds.WINDOW_SOURCE,
                           lambda sources, _window_source: accuracy_state(sources), ctx=ctx)

    @app.callback(Output(AccuracyIds.WINDOWS, "figure"), Input(JobIds.result("accuracy"), "data"),
                  Input(AccuracyIds.WINDOW_SOURCE, "value"))
    def on_window(result, token):
        return window_view(result, token, ctx=ctx)

    @app.callback(Output(AccuracyIds.CURVES, "figure"), Output(AccuracyIds.TABLE, "columns"),
                  Output(AccuracyIds.TABLE, "data"), Input(JobIds.result("accuracy"), "data"))
    def on_result(result):
        return accuracy_views(result, ctx=ctx)
