"""Report page: the replication report as a background job (progress and cancel in the shell's job bar),
written under ``<cache>/reports/<report id>/`` and served from ``/reports/<report id>/<file>``."""

from __future__ import annotations

import logging
from pathlib import Path

import flask
from dash import Input, Output, State, html, no_update
from dash.exceptions import PreventUpdate

from app.ids import ReportIds
from app.report import render_report
from callbacks.context import AppContext
from callbacks.jobs import job_bar_callback
from compute.cache import content_key
from compute.jobs import JobControl
from compute.report import compute_report, plan_for
from compute.workflows import VIEWS

log = logging.getLogger(__name__)


def reports_dir(ctx: AppContext) -> Path:
    return ctx.settings.cache_dir / "reports"


def build_report(model: str, progress, *, ctx: AppContext) -> str:
    """Compute and render the report of ``model`` with the app's profile; returns its report id."""
    profile = ctx.catalog.profile
    plan = plan_for(model, profile=profile.name, run=ctx.run,
                    view_options={view: profile.options_for(view) for view in VIEWS if profile.options_for(view)})
    report_id = content_key("report", plan=plan.to_json())
    result = compute_report(plan, cache=ctx.cache, settings=ctx.settings,
                            control=JobControl(progress=progress))
    render_report(result, reports_dir(ctx) / report_id)
    return report_id


def register(app, ctx: AppContext) -> None:
    @app.server.route("/reports/<report_id>/<path:name>")
    def serve_report(report_id: str, name: str):
        if not report_id.startswith("report-") or not report_id.replace("-", "").isalnum():
            flask.abort(404)
        return flask.send_from_directory(reports_dir(ctx) / report_id, name)

    @job_bar_callback(app, Output(ReportIds.LINK, "children"), Input(ReportIds.RUN, "n_clicks"),
                      State(ReportIds.MODEL, "value"))
    def run_report(set_progress, clicks, model):
        if not clicks:
            raise PreventUpdate
        try:
            report_id = build_report(model, lambda f, text: set_progress((f"{f:.4f}", f"report: {text}", True)),
                                     ctx=ctx)
        except (ValueError, TypeError, KeyError) as error:
            return no_update, f"Report not built: {error}", "0", "failed"
        href = f"/reports/{report_id}/report.html"
        return (html.P(["Report ready: ", html.A("open report.html", href=href, target="_blank"),
                        f" (data and manifest.json beside it, under {reports_dir(ctx) / report_id})"]),
                "", "1", "report done")
