"""Stimuli: the 11 classes x 8 directions of the suite; animated preview and class thumbnails."""

from __future__ import annotations

from dash import dcc, html

from app.components import field, graph, notice
from app.ids import JobIds, StimuliIds
from app.state import Reader, encode_query

PAGE = {"path": "/stimuli", "name": "Stimuli", "title": "twinscope - stimuli"}


def read_state(query: dict, catalog) -> tuple[dict, list[str]]:
    """State from the URL: ``cls`` (class name, default the first), ``dir`` (degrees, default 0)."""
    reader = Reader(query)
    state = {"cls": reader.choice("cls", catalog.classes, catalog.classes[0]),
             "dir": int(reader.choice("dir", [str(d) for d in catalog.directions], "0"))}
    return state, reader.notices


def layout(catalog, **query) -> html.Div:
    state, notices = read_state(query, catalog)
    return html.Div([
        notice(notices, "stimuli-notice"),
        dcc.Store(id=JobIds.query("stimuli"), data=encode_query(state)),
        html.Div([
            field("Stimulus class", dcc.Dropdown(
                id=StimuliIds.CLASS, options=[{"label": name, "value": name} for name in catalog.classes],
                value=state["cls"], clearable=False)),
            field("Direction (deg; 0 = rightward, 90 = upward)", dcc.RadioItems(
                id=StimuliIds.DIRECTION, options=[{"label": str(d), "value": d} for d in catalog.directions],
                value=state["dir"], inline=True)),
        ], className="controls"),
        html.P(id=StimuliIds.CAPTION, className="caption"),
        dcc.Loading(graph(StimuliIds.PREVIEW, height=420)),
        html.H3("All classes (click one)"),
        dcc.Loading(graph(StimuliIds.THUMBNAILS, height=220)),
    ])
