"""Helpers shared by the page callbacks: find a view (or every view of a kind, named) in a job result,
plain-JSON figures, error figures."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.catalog import split_token
from app.figures import empty_figure


def _entries(result, view: str) -> list[dict]:
    """The well-formed summaries of ``view`` in a job result from the browser: dicts with string ``source``
    and ``key`` (anything else in a crafted store is ignored; a key that is not cached fails when read)."""
    views = result.get("views") if isinstance(result, dict) else None
    return [entry for entry in (views if isinstance(views, list) else [])
            if isinstance(entry, dict) and entry.get("view") == view and isinstance(entry.get("source"), str)
            and isinstance(entry.get("key"), str)]


def find_view(result: dict | None, view: str, token: str | None) -> dict | None:
    """The summary of ``view`` of source ``token`` in a job result (``callbacks.jobs.run_views``), or None."""
    for entry in _entries(result, view):
        if token is None or entry["source"] == token:
            return entry
    return None


def named_views(result: dict | None, view: str, *, ctx) -> list[tuple[str, dict]]:
    """(axis name of the source (``short_names``), summary) of every ``view`` in a job result, in request
    order; empty before a job ran."""
    entries = _entries(result, view)
    return list(zip(short_names([entry["source"] for entry in entries], ctx=ctx), entries))


def _plain(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def plain_figure(fig: go.Figure) -> dict:
    """The figure as JSON-ready dicts with plain lists, so clientside callbacks can slice traces
    (``assets/twinscope.js``). Reads the figure's validated trace and layout dicts directly: plotly's
    ``to_plotly_json`` would first encode every array as base64, only for it to be decoded again."""
    return {"data": _plain(fig._data), "layout": _plain(fig._layout)}


def plain_trace(trace: dict) -> dict:
    """A trace dict (e.g. from an ``app.figures`` layer builder) as JSON-ready plain lists, equal to its
    entry in ``plain_figure`` of a figure holding it, without building the figure."""
    return _plain(trace)


def message_figure(text: str) -> go.Figure:
    """A figure that says why nothing is drawn (compute's error text or "run the job first")."""
    return empty_figure(text)


def short_names(tokens: list[str], *, ctx) -> list[str]:
    """Axis names of sources: the module for the profile's model, "model/module" for others, the dataset
    name for biology."""
    names = []
    for token in tokens:
        kind, name, module = split_token(token)
        names.append(name if kind == "bio" else module if name == ctx.catalog.profile.model else f"{name}/{module}")
    return names


def picked(token: str | None, sources: list[str]) -> str | None:
    """``token`` while it is one of ``sources``, else the first source (None when there is none)."""
    return token if token in sources else (sources[0] if sources else None)


def register_source_picker(app, page: str, sources_id: str, picker_id: str, state, *, ctx) -> None:
    """The page's URL query, job request and one-source picker follow its Sources selection.

    ``state(sources, pick)`` gives (URL query, job request) of the selected sources (a list of tokens) and the
    picker's source; the picker offers the selected sources and keeps its pick while it is among them.
    """
    from dash import Input, Output

    from app.ids import JobIds

    @app.callback(Output(JobIds.query(page), "data"), Output(JobIds.request(page), "data"),
                  Output(picker_id, "options"), Output(picker_id, "value"),
                  Input(sources_id, "value"), Input(picker_id, "value"), prevent_initial_call=True)
    def on_state(sources, pick):
        sources = list(sources or [])
        pick = picked(pick, sources)
        return (*state(sources, pick), ctx.catalog.token_options(sources), pick)
