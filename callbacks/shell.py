"""Shell callbacks: job-bar state, model badge, URL sync and image-export format of every graph."""

from __future__ import annotations

from dash import ALL, MATCH, Input, Output, State, no_update

from app.catalog import split_token
from app.components import graph_config
from app.ids import JobIds, ShellIds
from callbacks.context import AppContext
from callbacks.plan import cached_result, plan_summary, same_views

UNTRAINED = "untrained (random weights)"
RECONSTRUCTED = "biology reconstructed from published factors"


def job_bar_state(running: bool, live: bool, n_run_buttons: int) -> tuple[bool, list[bool]]:
    """(cancel disabled, run buttons disabled): one job at a time; only a job that has reported progress
    (so the browser holds its id) can be cancelled."""
    running = bool(running)
    return not (running and bool(live)), [running] * n_run_buttons


def badges(requests: list, *, ctx: AppContext) -> str:
    """Badge of what the current page computes on: untrained models and reconstructed biology are named."""
    models, bio = set(), False
    for request in requests or []:
        for item in (request or {}).get("views", []):
            try:
                kind, name, _ = split_token(item.get("source"))
            except (ValueError, TypeError):
                continue
            models.update([name] if kind == "model" else [])
            bio = bio or kind == "bio"
    if not requests:
        models.add(ctx.catalog.profile.model)
    known = [ctx.catalog.models[m] for m in sorted(models) if m in ctx.catalog.models]
    untrained = any(info.untrained for info in known)
    # the badge says "untrained" once: a label's own "(untrained, random weights)" is not repeated
    labels = [info.label.replace(" (untrained, random weights)", "") for info in known]
    parts = ([UNTRAINED] if untrained else []) + labels
    if bio and ctx.settings.bio_traces_dir is None:
        parts.append(RECONSTRUCTED)
    return " | ".join(parts)


def graph_configs(image_format: str, graph_ids: list[dict]) -> list[dict]:
    fmt = image_format if image_format in ("png", "svg") else "png"
    return [graph_config(gid["name"], fmt) for gid in graph_ids]


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(ShellIds.CANCEL, "disabled"), Output({"type": JobIds.RUN, "page": ALL}, "disabled"),
                  Input(ShellIds.RUNNING, "data"), Input(ShellIds.LIVE, "data"),
                  State({"type": JobIds.RUN, "page": ALL}, "id"))
    def show_running(running, live, run_ids):
        return job_bar_state(running, live, len(run_ids))

    @app.callback(Output(ShellIds.STAGE, "children", allow_duplicate=True),
                  Output(ShellIds.PROGRESS, "value", allow_duplicate=True),
                  Input(ShellIds.CANCEL, "n_clicks"), prevent_initial_call=True)
    def show_cancelled(_):
        return "cancelled", "0"

    @app.callback(Output(ShellIds.BADGE, "children"), Input({"type": JobIds.REQUEST, "page": ALL}, "data"))
    def show_badge(requests):
        return badges(requests, ctx=ctx)

    @app.callback(Output({"type": "graph", "name": ALL}, "config"), Input(ShellIds.IMAGE_FORMAT, "value"),
                  State({"type": "graph", "name": ALL}, "id"))
    def set_image_format(image_format, graph_ids):
        return graph_configs(image_format, graph_ids)

    @app.callback(Output({"type": JobIds.PLAN, "page": MATCH}, "children"),
                  Output({"type": JobIds.ESTIMATE, "page": MATCH}, "data"),
                  Input({"type": JobIds.REQUEST, "page": MATCH}, "data"),
                  Input({"type": JobIds.RESULT, "page": MATCH}, "data"))
    def show_plan(request, _result):
        return plan_summary(request, ctx=ctx)

    @app.callback(Output({"type": JobIds.RESULT, "page": MATCH}, "data", allow_duplicate=True),
                  Input({"type": JobIds.REQUEST, "page": MATCH}, "data"), Input(ShellIds.POLL, "n_intervals"),
                  Input(ShellIds.RUNNING, "data"), State({"type": JobIds.RESULT, "page": MATCH}, "data"),
                  prevent_initial_call="initial_duplicate")
    def show_cached(request, _tick, _running, shown):
        """Views of the current request already in the cache: on opening a URL, while a job runs (its
        finished views appear one by one) and after a Cancel."""
        # The first answer is always written, even without views: the page's view callbacks wait on this
        # store and Dash would skip their first call (placeholders included) if it were left unchanged.
        found = cached_result(request, ctx=ctx)
        if found is None or shown is not None and same_views(found, shown):
            return no_update
        return found

    app.clientside_callback(
        "function(running) { return !running; }",
        Output(ShellIds.POLL, "disabled"), Input(ShellIds.RUNNING, "data"))
    app.clientside_callback(
        "function(n, running, progress, estimates, started) {"
        " return window.dash_clientside.twinscope.jobClock(running, progress, estimates, started); }",
        Output(ShellIds.CLOCK, "children"), Output(ShellIds.STARTED, "data"), Output(ShellIds.TICK, "disabled"),
        Input(ShellIds.TICK, "n_intervals"), Input(ShellIds.RUNNING, "data"), State(ShellIds.PROGRESS, "value"),
        State({"type": JobIds.ESTIMATE, "page": ALL}, "data"), State(ShellIds.STARTED, "data"))
    app.clientside_callback(
        "function(fmt) { return window.dash_clientside.twinscope.setImageFormat(fmt); }",
        Output(ShellIds.FORMAT_SINK, "data"), Input(ShellIds.IMAGE_FORMAT, "value"))
    app.clientside_callback(
        """function(queries) {
            if (queries && queries.length && typeof queries[0] === 'string') {
                window.history.replaceState(null, '', window.location.pathname + queries[0]);
            }
            return window.dash_clientside.no_update;
        }""",
        Output(ShellIds.URL_SINK, "data"),
        Input({"type": JobIds.QUERY, "page": ALL}, "data"),
    )
