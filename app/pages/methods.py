"""Methods and decisions: each DECISION of the methods specification with twinscope's current setting (read
from the code when the page opens) and where to change it."""

from __future__ import annotations

from dash import dash_table, dcc, html

from app.ids import MethodsIds

PAGE = {"path": "/methods", "name": "Methods", "title": "twinscope - methods and decisions"}


def layout(catalog, **_query) -> html.Div:
    return html.Div([
        html.H2("Methods and decisions"),
        html.P("How twinscope's numbers relate to the paper's: every choice the methods specification marks as a "
               "DECISION (or changed in its v2), the setting in force now (read from the code), and where to "
               "change it. View options can also be passed per view from the command line "
               "(python -m compute ... --help)."),
        dash_table.DataTable(id=MethodsIds.TABLE, style_cell={"whiteSpace": "normal", "textAlign": "left",
                                                              "fontSize": "0.85em", "padding": "4px"},
                             style_header={"fontWeight": "600"}),
        dcc.Store(id=MethodsIds.LOADED, data=catalog.profile.name),
    ], className="methods")
