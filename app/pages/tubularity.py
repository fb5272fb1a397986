"""Tubularity: S_tight and S_cross of model modules next to retina and V1, sensitivity, tube plots."""

from __future__ import annotations

from dash import dcc, html

from app.components import field, graph, job_controls, notice
from app.ids import TubularityIds
from app.requests import tubularity_request
from app.state import Reader, encode_query

PAGE = {"path": "/tubularity", "name": "Tubularity", "title": "twinscope - tubularity"}


def read_state(query: dict, catalog) -> tuple[dict, list[str]]:
    """State from the URL: ``sources`` (source tokens: model modules and datasets), ``tube`` (the source
    whose per-bundle tube plot and sensitivity grid are shown)."""
    reader = Reader(query)
    sources = reader.choices("sources", catalog.all_tokens(), catalog.default_comparison_tokens())
    state = {"sources": sources, "tube": reader.choice("tube", sources, sources[0])}
    return state, reader.notices


def layout(catalog, **query) -> html.Div:
    state, notices = read_state(query, catalog)
    return html.Div([
        notice(notices, TubularityIds.NOTICE),
        html.Div([
            field("Sources", dcc.Dropdown(id=TubularityIds.SOURCES, options=catalog.token_options(),
                                          value=state["sources"], multi=True)),
            *job_controls("tubularity", tubularity_request(state["sources"]), encode_query(state)),
        ], className="controls"),
        html.Div([
            html.Div([html.H3("S_tight and S_cross (mean +- SE over bootstraps)"),
                      graph(TubularityIds.BARS, height=420)], className="panel wide"),
            html.Div([field("Tube plot and sensitivity of", dcc.Dropdown(
                          id=TubularityIds.TUBE_SOURCE, value=state["tube"], clearable=False,
                          options=catalog.token_options(state["sources"]))),
                      graph(TubularityIds.TUBE)], className="panel"),
            html.Div([html.H3("Sensitivity (q, s)"), graph(TubularityIds.SENSITIVITY)], className="panel"),
        ], className="grid"),
    ])
