"""Small layout helpers shared by the pages (dash components only, no data)."""

from __future__ import annotations

from dash import dcc, html

from app.ids import JobIds

IMAGE_FORMATS = ("png", "svg")


# Mode-bar buttons that would send the figure and its data to plotly's cloud service: never offered.
CLOUD_BUTTONS = ("sendDataToCloud", "editInChartStudio")


def graph_config(name: str, image_format: str = "png") -> dict:
    """Plotly config of every graph: modebar image export as PNG (2x) or SVG, named after the view; no
    button that sends data to an outside service (no "Share chart" / "Edit in Chart Studio", no link)."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}; got {image_format!r}")
    return {"displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False, "showLink": False,
            "sendData": False, "plotlyServerURL": "", "modeBarButtonsToRemove": list(CLOUD_BUTTONS),
            "toImageButtonOptions": {"format": image_format, "filename": f"twinscope-{name}", "scale": 2}}


def graph(graph_id: dict, *, height: int = 480, **kwargs) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config=graph_config(graph_id["name"]), style={"height": f"{height}px"},
                     **kwargs)


def notice(notices: list[str], component_id: str) -> html.Div:
    """Visible list of URL parameters that fell back to defaults (empty when the URL was valid)."""
    return html.Div([html.P(text) for text in notices], id=component_id,
                    className="notice" if notices else "notice empty")


def field(label: str, control) -> html.Div:
    return html.Div([html.Label(label, className="field-label"), control], className="field")


def job_controls(page: str, request: dict, query: str, *, label: str = "Run") -> list:
    """Run button, data export (NPZ / CSV of what is shown), the plan (what Run computes and how long it
    should take, filled in from the request) and the stores a page's job needs: request (what to compute),
    estimate (seconds), result (keys and summaries), URL query."""
    return [html.Div([
                html.Button(label, id=JobIds.run(page), className="run-button"),
                dcc.RadioItems(id=JobIds.export_format(page), value="npz", inline=True,
                               options=[{"label": "NPZ", "value": "npz"}, {"label": "CSV", "value": "csv"}]),
                html.Button("Export shown data", id=JobIds.export(page), className="export-button"),
            ], className="inline-controls"),
            html.Div(id=JobIds.plan(page), className="plan", role="status"),
            dcc.Download(id=JobIds.download(page)),
            dcc.Store(id=JobIds.estimate(page), data=0),
            dcc.Store(id=JobIds.request(page), data=request),
            dcc.Store(id=JobIds.result(page)),
            dcc.Store(id=JobIds.query(page), data=query)]
