"""Decoding accuracy: 11-way stimulus-class decoding per module, with growing and shrinking time windows."""

from __future__ import annotations

from dash import dash_table, dcc, html

from app.components import field, graph, job_controls, notice
from app.ids import AccuracyIds
from app.requests import accuracy_request
from app.state import Reader, encode_query

PAGE = {"path": "/accuracy", "name": "Decoding accuracy", "title": "twinscope - decoding accuracy"}


def read_state(query: dict, catalog) -> tuple[dict, list[str]]:
    """State from the URL: ``sources`` (source tokens; models decode all 11 classes, biology its six)."""
    reader = Reader(query)
    return {"sources": reader.choices("sources", catalog.all_tokens(), catalog.default_model_tokens())}, \
        reader.notices


def layout(catalog, **query) -> html.Div:
    state, notices = read_state(query, catalog)
    return html.Div([
        notice(notices, AccuracyIds.NOTICE),
        html.Div([
            field("Sources", dcc.Dropdown(id=AccuracyIds.SOURCES, options=catalog.token_options(),
                                          value=state["sources"], multi=True)),
            *job_controls("accuracy", accuracy_request(state["sources"]), encode_query(state)),
        ], className="controls"),
        html.Div([html.H3("Accuracy per module and time window (chance = dashed line)"),
                  graph(AccuracyIds.CURVES, height=480)], className="panel wide"),
        html.Div([dash_table.DataTable(id=AccuracyIds.TABLE)], className="panel wide"),
        html.Div([field("Time windows of", dcc.Dropdown(id=AccuracyIds.WINDOW_SOURCE, clearable=False,
                                                        value=(state["sources"] or [None])[0],
                                                        options=catalog.token_options(state["sources"]))),
                  graph(AccuracyIds.WINDOWS, height=420)], className="panel wide"),
    ])
