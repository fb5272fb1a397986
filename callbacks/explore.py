"""Explore page callbacks: selection state, linked views (decoding, trajectories, encoding), PSTH."""

from __future__ import annotations

import math

import numpy as np

from dash import Input, Output, State, ctx as dash_ctx, no_update
from dash.exceptions import PreventUpdate

from app.ids import ExploreIds, JobIds
from app.pages import explore as page
from app.state import encode_query
from callbacks.common import find_view, message_figure, plain_figure
from callbacks.context import AppContext

NOT_RUN = "Press Run to compute this view."
MAX_DRAWN_CROSSINGS = 2000  # the count is exact; only the drawn midpoint layer is thinned


def shown_token(source: str, show: str | None) -> str | None:
    """Source token whose views are drawn: the shown module of a model, or the dataset."""
    from app.catalog import source_tokens

    kind = source.partition(":")[0]
    if kind == "bio":
        return source_tokens(source, [])[0]
    return source_tokens(source, [show])[0] if show else None


def modules_for_source(source: str, *, ctx: AppContext) -> tuple[list[dict], list[str]]:
    """(module options, selected modules) after the source changed; none for a dataset."""
    modules = ctx.catalog.modules_of(source)
    return [{"label": m, "value": m} for m in modules], ctx.catalog.default_modules(source)


def sync_stimuli(trigger: str | None, preset: str, stimuli: list[str] | None, *, ctx: AppContext
                 ) -> tuple[str, list[str]]:
    """Keep the preset radio and the class checklist consistent: a preset fills the checklist; editing
    the checklist selects the preset it equals, or "custom"."""
    catalog = ctx.catalog
    if trigger == ExploreIds.PRESET and preset in catalog.presets:
        return preset, catalog.preset_names(preset)
    chosen = [name for name in catalog.classes if name in (stimuli or [])]
    for name in ("bio-matched", "all"):
        if sorted(chosen) == sorted(catalog.preset_names(name)):
            return name, chosen
    return "custom", chosen


def show_options(modules: list[str] | None, show: str | None) -> tuple[list[dict], str | None]:
    modules = list(modules or [])
    return [{"label": m, "value": m} for m in modules], (show if show in modules else (modules[0] if modules else None))


def page_state(source, modules, preset, stimuli, show, color, t, crossings, eps, delta, unit, hl
               ) -> tuple[str, dict]:
    """(URL query, job request) of the current selection."""
    state = {"source": source, "modules": list(modules or []) if source.startswith("model:") else None,
             "preset": preset, "stimuli": list(stimuli or []) if preset == "custom" else None, "show": show,
             "color": color, "t": t, "cross": bool(crossings), "eps": eps, "delta": delta, "unit": unit, "hl": hl}
    request = page.build_request(source, list(modules or []), list(stimuli or []))
    return encode_query(state), request


def decoding_views(result, source, show, crossings, eps, delta, *, ctx: AppContext):
    """(manifold, trajectories, crossing count text, last time index or None without a view): the
    figures as plain JSON, grown to the slider's time and highlighted clientside (``assets/twinscope.js``)."""
    from app.figures import decoding_manifold_figure, trajectories_figure
    from compute.workflows import load_view

    entry = find_view(result, "decoding", shown_token(source, show))
    if entry is None:
        blank = plain_figure(message_figure(NOT_RUN))
        return blank, blank, "", None
    arrays, meta = load_view(entry["key"], cache=ctx.cache)
    flags = {"untrained": meta.get("untrained", False), "reconstructed": meta.get("reconstructed", False)}
    labels, stimuli = arrays["labels"], meta["stimuli"]
    manifold = decoding_manifold_figure(arrays["coords"], labels, stimuli, directions=arrays["directions"],
                                        explained_variance=arrays["manifold_evr"], title=meta["label"], **flags)
    count_text, midpoints = "", None
    if crossings:
        from compute.analysis.crossings import crossing_events

        try:
            events = crossing_events(arrays["curves"], float(eps), int(delta))
        except (ValueError, TypeError) as error:
            count_text = str(error)
        else:
            midpoints = events.midpoint
            count_text = f"{len(midpoints)} crossing events (epsilon {float(eps):g}, delta {int(delta)})"
            if len(midpoints) > MAX_DRAWN_CROSSINGS:
                midpoints = midpoints[np.linspace(0, len(midpoints) - 1, MAX_DRAWN_CROSSINGS).astype(int)]
                count_text += f"; {MAX_DRAWN_CROSSINGS} drawn"
    trajectories = trajectories_figure(arrays["curves"], labels, stimuli, directions=arrays["directions"],
                                       time=arrays["time"], time_unit=meta["time_unit"],
                                       explained_variance=arrays["trajectory_evr"], crossings=midpoints,
                                       title=meta["label"], **flags)
    for fig in (manifold, trajectories):
        fig.update_layout(uirevision=entry["key"])
    return plain_figure(manifold), plain_figure(trajectories), count_text, int(arrays["curves"].shape[1]) - 1


def slider_value(t: int | None, last: int) -> int:
    """The time slider keeps its position within the new range; no position means the whole curves."""
    return last if t is None else min(int(t), last)


def encoding_view(result, source, show, color, *, ctx: AppContext):
    """(encoding figure as plain JSON, colour-by options)."""
    from app.figures import encoding_figure
    from compute.workflows import load_view

    entry = find_view(result, "encoding", shown_token(source, show))
    if entry is None:
        return message_figure(NOT_RUN), no_update
    arrays, meta = load_view(entry["key"], cache=ctx.cache)
    options = dict(meta.get("color_options", {}))
    column = _color_column(color, options)
    values = None if column is None else arrays.get(column)
    fig = encoding_figure(arrays["coords"], color=values, color_name=color if values is not None else "",
                          categorical=None if column is None else options[color] == "categorical",
                          unit_index=arrays["unit_index"], title=meta["label"],
                          untrained=meta.get("untrained", False), reconstructed=meta.get("reconstructed", False))
    fig.update_layout(uirevision=entry["key"])
    # plain lists: plotly.js keeps base64 arrays as typed arrays, whose clickData customdata is not a list
    return plain_figure(fig), [{"label": name, "value": name} for name in options]


def _color_column(color: str | None, options: dict) -> str | None:
    """Array name of a colour-by option in the encoding artefact (``compute.views``: ``color__<name>``)."""
    return f"color__{color}" if color in options else None


def clicked_unit(click_data) -> int:
    """Unit index of a click on the encoding manifold (``customdata[0]``)."""
    try:
        return int(click_data["points"][0]["customdata"][0])
    except (KeyError, IndexError, TypeError, ValueError):
        raise PreventUpdate from None


def psth_view(unit, result, source, show, *, ctx: AppContext):
    from app.figures import psth_figure
    from compute.workflows import Source, unit_response_map

    token = shown_token(source, show)
    if unit is None or token is None or find_view(result, "encoding", token) is None:
        return message_figure("Click a unit in the encoding manifold.")
    try:
        unit_map = unit_response_map(Source.parse(token), int(unit), run=ctx.run, cache=ctx.cache,
                                     settings=ctx.settings)
    except (KeyError, ValueError) as error:
        return message_figure(str(error).strip("'\""))
    return psth_figure(unit_map["map"], unit_map["stimuli"], time=unit_map["time"], time_unit=unit_map["time_unit"],
                       directions=unit_map["directions"], onset_index=unit_map["onset_index"],
                       title=f"{unit_map['label']}, unit {unit} (preferred direction "
                             f"{unit_map['preferred_direction']:.0f} deg first)")


def summary_text(result) -> str:
    views = (result or {}).get("views", [])
    if not views:
        return ""
    return "Computed: " + "; ".join(f"{v['view']} of {v.get('label', v['source'])}" for v in views)


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(ExploreIds.MODULES, "options"), Output(ExploreIds.MODULES, "value"),
                  Input(ExploreIds.SOURCE, "value"), prevent_initial_call=True)
    def on_source(source):
        return modules_for_source(source, ctx=ctx)

    @app.callback(Output(ExploreIds.PRESET, "value"), Output(ExploreIds.STIMULI, "value"),
                  Input(ExploreIds.PRESET, "value"), Input(ExploreIds.STIMULI, "value"), prevent_initial_call=True)
    def on_stimuli(preset, stimuli):
        return sync_stimuli(dash_ctx.triggered_id, preset, stimuli, ctx=ctx)

    @app.callback(Output(ExploreIds.SHOW, "options"), Output(ExploreIds.SHOW, "value"),
                  Input(ExploreIds.MODULES, "value"), State(ExploreIds.SHOW, "value"), prevent_initial_call=True)
    def on_modules(modules, show):
        return show_options(modules, show)

    @app.callback(Output(JobIds.query("explore"), "data"), Output(JobIds.request("explore"), "data"),
                  Input(ExploreIds.SOURCE, "value"), Input(ExploreIds.MODULES, "value"),
                  Input(ExploreIds.PRESET, "value"), Input(ExploreIds.STIMULI, "value"),
                  Input(ExploreIds.SHOW, "value"), Input(ExploreIds.COLOR_BY, "value"),
                  Input(ExploreIds.TIME, "value"), Input(ExploreIds.CROSSINGS, "value"),
                  Input(ExploreIds.EPSILON, "value"), Input(ExploreIds.DELTA, "value"),
                  Input(ExploreIds.UNIT, "data"), Input(ExploreIds.HIGHLIGHT, "data"), prevent_initial_call=True)
    def on_state(*values):
        return page_state(*values)

    @app.callback(Output(ExploreIds.DECODING_BASE, "data"), Output(ExploreIds.TRAJ_BASE, "data"),
                  Output(ExploreIds.CROSS_COUNT, "children"), Output(ExploreIds.TIME, "max"),
                  Output(ExploreIds.TIME, "value"), Output(ExploreIds.SUMMARY, "children"),
                  Input(JobIds.result("explore"), "data"), Input(ExploreIds.SHOW, "value"),
                  Input(ExploreIds.CROSSINGS, "value"), Input(ExploreIds.EPSILON, "value"),
                  Input(ExploreIds.DELTA, "value"), State(ExploreIds.SOURCE, "value"), State(ExploreIds.TIME, "value"))
    def on_decoding(result, show, crossings, eps, delta, source, t):
        eps = eps if isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0 else page.EPSILON_DEFAULT
        delta = delta if isinstance(delta, int) and delta >= 0 else page.DELTA_DEFAULT
        manifold, trajectories, count, last = decoding_views(result, source, show, bool(crossings), eps, delta,
                                                             ctx=ctx)
        if last is None:  # nothing to show yet: keep the slider where the URL put it
            return manifold, trajectories, count, no_update, no_update, summary_text(result)
        return manifold, trajectories, count, last, slider_value(t, last), summary_text(result)

    @app.callback(Output(ExploreIds.ENCODING, "figure"), Output(ExploreIds.COLOR_BY, "options"),
                  Input(JobIds.result("explore"), "data"), Input(ExploreIds.SHOW, "value"),
                  Input(ExploreIds.COLOR_BY, "value"), State(ExploreIds.SOURCE, "value"))
    def on_encoding(result, show, color, source):
        return encoding_view(result, source, show, color, ctx=ctx)

    @app.callback(Output(ExploreIds.UNIT, "data"), Input(ExploreIds.ENCODING, "clickData"),
                  prevent_initial_call=True)
    def on_unit_click(click_data):
        return clicked_unit(click_data)

    @app.callback(Output(ExploreIds.PSTH, "figure"), Input(ExploreIds.UNIT, "data"),
                  Input(JobIds.result("explore"), "data"), State(ExploreIds.SOURCE, "value"),
                  State(ExploreIds.SHOW, "value"))
    def on_psth(unit, result, source, show):
        return psth_view(unit, result, source, show, ctx=ctx)

    app.clientside_callback(
        "function(dec, traj, t, hl) { return window.dash_clientside.twinscope.grow(dec, traj, t, hl); }",
        Output(ExploreIds.DECODING, "figure"), Output(ExploreIds.TRAJECTORIES, "figure"),
        Input(ExploreIds.DECODING_BASE, "data"), Input(ExploreIds.TRAJ_BASE, "data"),
        Input(ExploreIds.TIME, "value"), Input(ExploreIds.HIGHLIGHT, "data"))
    app.clientside_callback(
        "function(a, b) { return window.dash_clientside.twinscope.pickCondition(a, b); }",
        Output(ExploreIds.HIGHLIGHT, "data"),
        Input(ExploreIds.DECODING, "clickData"), Input(ExploreIds.TRAJECTORIES, "clickData"),
        prevent_initial_call=True)
