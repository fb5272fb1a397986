"""Compare: the same view of up to four sources side by side (model modules, retina, V1)."""

from __future__ import annotations

from dash import dcc, html

from app.components import field, graph, job_controls, notice
from app.ids import MAX_PANELS, CompareIds
from app.requests import compare_request
from app.state import Reader, encode_query

PAGE = {"path": "/compare", "name": "Compare", "title": "twinscope - compare"}
COMPARE_VIEWS = {"decoding": "Decoding manifold", "trajectories": "Decoding trajectories",
                 "encoding": "Encoding manifold"}


def read_state(query: dict, catalog) -> tuple[dict, list[str]]:
    """State from the URL: ``sources`` (up to 4 source tokens), ``view`` (decoding | trajectories |
    encoding), ``link`` (1 = one camera for every panel)."""
    reader = Reader(query)
    state = {"sources": reader.choices("sources", catalog.all_tokens(), catalog.default_compare_tokens(),
                                       max_items=MAX_PANELS),
             "view": reader.choice("view", list(COMPARE_VIEWS), "decoding"),
             "link": reader.flag("link", True)}
    return state, reader.notices


def layout(catalog, **query) -> html.Div:
    state, notices = read_state(query, catalog)
    return html.Div([
        notice(notices, CompareIds.NOTICE),
        html.Div([
            field(f"Sources (up to {MAX_PANELS})", dcc.Dropdown(
                id=CompareIds.SOURCES, options=catalog.token_options(), value=state["sources"], multi=True)),
            field("View", dcc.RadioItems(id=CompareIds.VIEW, value=state["view"], inline=True,
                                         options=[{"label": v, "value": k} for k, v in COMPARE_VIEWS.items()])),
            dcc.Checklist(id=CompareIds.LINK, options=[{"label": "link cameras", "value": "on"}],
                          value=["on"] if state["link"] else [], inline=True),
            *job_controls("compare", compare_request(state["sources"], state["view"], catalog), encode_query(state)),
        ], className="controls"),
        html.Div([html.Div(graph(CompareIds.graph(i), height=420), className="panel",
                           id=CompareIds.panel(i)) for i in range(MAX_PANELS)],
                 id=CompareIds.PANELS, className="grid"),
    ])
