"""The app shell: navigation, model badge, the global job bar and the page container."""

from __future__ import annotations

import secrets

import dash
from dash import dcc, html

from app.components import notice
from app.ids import ShellIds


def layout(bio_notice: str = "") -> html.Div:
    """Shell around every page; a function so each visit gets fresh component state. ``bio_notice``: shown
    above every page when the biological data is missing (the catalogue then offers no dataset)."""
    links = [dcc.Link(page["name"], href=page["relative_path"], className="nav-link",
                      id=f"nav-{page['module'].rsplit('.', 1)[-1]}")
             for page in sorted(dash.page_registry.values(), key=lambda p: p["order"])]
    return html.Div([
        dcc.Location(id=ShellIds.URL, refresh=False),
        dcc.Store(id=ShellIds.RUNNING, data=False),
        dcc.Store(id=ShellIds.LIVE, data=False),
        dcc.Store(id=ShellIds.URL_SINK),
        dcc.Store(id=ShellIds.FORMAT_SINK),
        dcc.Store(id=ShellIds.SESSION, data=secrets.token_hex(16)),
        html.Header([
            html.Span("twinscope", className="brand"),
            html.Nav(links, id=ShellIds.NAV, className="nav"),
            html.Span(id=ShellIds.BADGE, className="badge"),
            dcc.RadioItems(id=ShellIds.IMAGE_FORMAT, value="png", inline=True, className="image-format",
                           options=[{"label": "PNG", "value": "png"}, {"label": "SVG", "value": "svg"}],
                           persistence=True, persistence_type="local"),
        ], className="header"),
        html.Div([
            html.Progress(id=ShellIds.PROGRESS, max="1", value="0", className="job-progress"),
            html.Span("idle", id=ShellIds.STAGE, className="job-stage"),
            html.Span(id=ShellIds.CLOCK, className="job-clock"),
            dcc.Interval(id=ShellIds.TICK, interval=1000, disabled=True),
            dcc.Store(id=ShellIds.STARTED),
            dcc.Interval(id=ShellIds.POLL, interval=1500, disabled=True),
            html.Button("Cancel", id=ShellIds.CANCEL, disabled=True, className="job-cancel"),
            html.Div(id=ShellIds.ERROR, className="job-error", role="alert"),
        ], className="job-bar"),
        notice([bio_notice] if bio_notice else [], ShellIds.BIO_NOTICE),
        html.Main(dash.page_container, className="page"),
    ], className="shell")
