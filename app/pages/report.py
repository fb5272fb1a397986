"""Report: build the replication report of a model (every view of every module and of retina / V1, the
tables against the published values, a manifest) as a background job, and link the HTML file."""

from __future__ import annotations

from dash import dcc, html

from app.components import field
from app.ids import ReportIds

PAGE = {"path": "/report", "name": "Report", "title": "twinscope - replication report"}


def layout(catalog, **query) -> html.Div:
    models = list(catalog.models)
    chosen = query.get("model") if query.get("model") in models else catalog.profile.model
    return html.Div([
        html.Div([
            field("Model", dcc.Dropdown(id=ReportIds.MODEL, value=chosen, clearable=False,
                                        options=[{"label": info.label, "value": name}
                                                 for name, info in catalog.models.items()])),
            html.Button("Build report", id=ReportIds.RUN, className="run-button"),
        ], className="controls"),
        html.P(f"Profile {catalog.profile.name!r}: every module of the model and retina / V1, all views, the "
               "published-value tables and a manifest, in one self-contained HTML file. Views already "
               "computed come from the cache; progress and Cancel are in the job bar."),
        html.Div(id=ReportIds.LINK),
    ])
