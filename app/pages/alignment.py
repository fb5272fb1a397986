"""Alignment: RSA, CCA, linear predictivity and DSA of model modules with retina and V1."""

from __future__ import annotations

from dash import dash_table, dcc, html

from app.components import field, graph, job_controls, notice
from app.ids import AlignmentIds
from app.requests import alignment_request
from app.state import Reader, encode_query

PAGE = {"path": "/alignment", "name": "Alignment", "title": "twinscope - alignment"}


def read_state(query: dict, catalog) -> tuple[dict, list[str]]:
    """State from the URL: ``sources`` (model-module tokens), ``datasets`` (retina, V1)."""
    reader = Reader(query)
    state = {"sources": reader.choices("sources", catalog.model_tokens(), catalog.default_model_tokens()),
             "datasets": reader.choices("datasets", catalog.datasets, list(catalog.datasets))}
    return state, reader.notices


def layout(catalog, **query) -> html.Div:
    state, notices = read_state(query, catalog)
    return html.Div([
        notice(notices, AlignmentIds.NOTICE),
        html.Div([
            field("Model modules", dcc.Dropdown(id=AlignmentIds.SOURCES, value=state["sources"], multi=True,
                                                options=catalog.token_options(catalog.model_tokens()))),
            field("Biological datasets", dcc.Checklist(id=AlignmentIds.DATASETS, value=state["datasets"],
                                                       options=list(catalog.datasets), inline=True)),
            *job_controls("alignment", alignment_request(state["sources"], state["datasets"]), encode_query(state)),
        ], className="controls"),
        html.Div([html.H3("Alignment with biology: metric x module (mean over unit bootstraps)"),
                  graph(AlignmentIds.HEATMAP, height=360)], className="panel wide"),
        html.Div([html.H3("Scores per module (95 % bootstrap intervals)"),
                  graph(AlignmentIds.SCORES, height=520)], className="panel wide"),
        html.Div([html.H3("Mean alignment: the mean of the RSA, CCA, linear-predictivity and DSA scores"),
                  dash_table.DataTable(id=AlignmentIds.TABLE)], className="panel wide"),
    ])
