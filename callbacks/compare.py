"""Compare page callbacks: the same view of up to four sources side by side, optional camera linking."""

from __future__ import annotations

from dash import ALL, Input, Output, State

from app.figures import decoding_manifold_figure, encoding_figure, trajectories_figure
from app.ids import MAX_PANELS, CompareIds, JobIds
from app.requests import compare_request
from app.state import encode_query
from callbacks.common import find_view, message_figure
from callbacks.context import AppContext
from compute.workflows import load_typed


def compare_state(sources, view, link, *, ctx: AppContext) -> tuple[str, dict, str]:
    """(URL query, job request, notice): more than four sources are cut to four with a notice."""
    sources = list(sources or [])
    notice = (f"At most {MAX_PANELS} panels; showing the first {MAX_PANELS}."
              if len(sources) > MAX_PANELS else "")
    sources = sources[:MAX_PANELS]
    state = {"sources": sources, "view": view, "link": bool(link)}
    return encode_query(state), compare_request(sources, view, ctx.catalog), notice


def panel_figure(result, token: str | None, view: str, *, ctx: AppContext):
    """One panel: the decoding manifold, trajectories or encoding manifold of ``token``, with its legend
    (stimuli; for the encoding manifold the source's default colouring: cell type / layer for biology,
    clusters for a model) and its counts under the title."""
    if token is None:
        return message_figure("Add a source (up to four).")
    artefact = "encoding" if view == "encoding" else "decoding"
    entry = find_view(result, artefact, token)
    if entry is None:
        return message_figure("Press Run to compute this view.")
    art = load_typed(entry["key"], cache=ctx.cache)
    flags = {**art.flags(), "title": art.label, "counts": art.counts}
    if view == "encoding":
        options = art.color_options
        color = ctx.catalog.default_color(token)
        color = color if color in options else "cluster"
        fig = encoding_figure(art.coords, color=art.colors.get(color), color_name=color,
                              categorical=options.get(color, "categorical") == "categorical",
                              unit_index=art.unit_index, **flags)
    elif view == "trajectories":
        fig = trajectories_figure(art.curves, art.labels, art.stimuli, directions=art.directions, time=art.time,
                                  time_unit=art.time_unit, explained_variance=art.trajectory_evr, **flags)
    else:
        fig = decoding_manifold_figure(art.coords, art.labels, art.stimuli, directions=art.directions,
                                       explained_variance=art.manifold_evr, **flags)
    fig.update_layout(uirevision=f"{entry['key']}-{view}", legend={"font": {"size": 10}})
    return fig


def panels(result, sources, view, *, ctx: AppContext) -> tuple[list, list[dict]]:
    """(figures, panel styles) of the four panel slots; unused slots are hidden."""
    sources = list(sources or [])[:MAX_PANELS]
    figures = [panel_figure(result, sources[i] if i < len(sources) else None, view, ctx=ctx)
               for i in range(MAX_PANELS)]
    styles = [{} if i < max(len(sources), 1) else {"display": "none"} for i in range(MAX_PANELS)]
    return figures, styles


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(JobIds.query("compare"), "data"), Output(JobIds.request("compare"), "data"),
                  Output(CompareIds.NOTICE, "children"), Output(CompareIds.NOTICE, "className"),
                  Input(CompareIds.SOURCES, "value"), Input(CompareIds.VIEW, "value"), Input(CompareIds.LINK, "value"),
                  prevent_initial_call=True)
    def on_state(sources, view, link):
        query, request, notice = compare_state(sources, view, link, ctx=ctx)
        return query, request, notice, "notice" if notice else "notice empty"

    @app.callback(*[Output(CompareIds.graph(i), "figure") for i in range(MAX_PANELS)],
                  *[Output(CompareIds.panel(i), "style") for i in range(MAX_PANELS)],
                  Input(JobIds.result("compare"), "data"), Input(CompareIds.VIEW, "value"),
                  State(CompareIds.SOURCES, "value"))
    def on_result(result, view, sources):
        figures, styles = panels(result, sources, view, ctx=ctx)
        return (*figures, *styles)

    app.clientside_callback(
        "function(relayouts, link) { return window.dash_clientside.twinscope.linkCameras(relayouts, link); }",
        Output(CompareIds.PANELS, "title"),
        Input({"type": "graph", "name": ALL}, "relayoutData"), State(CompareIds.LINK, "value"),
        prevent_initial_call=True)
