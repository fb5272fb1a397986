"""Explore page callbacks: selection state, linked views (decoding, trajectories, encoding), PSTH."""

from __future__ import annotations

import functools
import math

import numpy as np

from dash import ALL, Input, Output, State, ctx as dash_ctx, no_update
from dash.exceptions import PreventUpdate

from app.catalog import source_tokens
from app.figures import (crossing_matrix_figure, crossing_trace, decoding_manifold_figure, encoding_figure,
                         nn_distance_histogram, psth_figure, trajectories_figure)
from app.ids import DELTA_DEFAULT, EPSILON_DEFAULT, RANK_HIGH, RANK_LOW, ExploreIds, JobIds
from app.requests import explore_request, model_only_style
from app.state import encode_query
from callbacks.common import find_view, message_figure, plain_figure, plain_trace
from callbacks.context import AppContext
from compute.sources import Source
from compute.views import DecodingView, EncodingView
from compute.workflows import load_typed, unit_response_map

NOT_RUN = "Press Run to compute this view."
MAX_DRAWN_CROSSINGS = 2000  # the count is exact; only the drawn midpoint layer is thinned
CYCLIC_COLUMNS = ("preferred direction",)
# Unit metadata shown in the encoding manifold's hover, when the artefact has the column.
HOVER_COLUMNS = ("module", "cell_type", "layer", "put_type", "experiment", "cell_id", "stream", "channel", "y",
                 "x", "cluster", "preferred direction", "OSI", "DSI")


def shown_token(source: str, show: str | None) -> str | None:
    """Source token whose views are drawn: the shown module of a model, or the dataset."""
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
    chosen = [name for name in catalog.stimuli if name in (stimuli or [])]
    for name in ("bio-matched", "all"):
        if sorted(chosen) == sorted(catalog.preset_names(name)):
            return name, chosen
    return "custom", chosen


def show_options(modules: list[str] | None, show: str | None) -> tuple[list[dict], str | None]:
    modules = list(modules or [])
    return [{"label": m, "value": m} for m in modules], (show if show in modules else (modules[0] if modules else None))


def checked_rank(value, default: int | None) -> tuple[int | None, str]:
    """(rank to use, notice): the rank field's value when it is a whole number in RANK_LOW..RANK_HIGH,
    else ``default`` with a notice saying why (``dcc.Input`` gives None for an empty or non-integer entry).
    No rank (and no notice) for a dataset, whose ``default`` is None."""
    if default is None:
        return None, ""
    low, high = RANK_LOW, RANK_HIGH
    if value is None:
        why = "is empty or not a whole number"
    elif (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
          or value != int(value)):
        why = f"must be a whole number; got {value!r}"
    elif not low <= value <= high:
        why = f"must be between {low} and {high}; got {value!r}"
    else:
        return int(value), ""
    return default, f"CP rank {why}: using the default rank {default}. Enter a whole number from {low} to {high}."


def rank_for_source(source: str, *, ctx: AppContext) -> tuple[int | None, bool]:
    """(rank field value, disabled) after the source changed: the default rank of its first default module;
    disabled for a dataset."""
    modules = ctx.catalog.default_modules(source)
    rank = ctx.catalog.default_rank(source, modules[0] if modules else None)
    return rank, rank is None


def page_state(source, modules, preset, stimuli, show, color, t, crossings, eps, delta, unit, hl, rank,
               projection="3d", *, ctx: AppContext) -> tuple[str, dict, str]:
    """(URL query, job request, rank notice) of the current selection. A rejected rank is left out of the
    URL and the request uses the shown module's default rank."""
    rank, rank_notice = checked_rank(rank, ctx.catalog.default_rank(source, show))
    state = {"source": source, "modules": list(modules or []) if source.startswith("model:") else None,
             "preset": preset, "stimuli": list(stimuli or []) if preset == "custom" else None, "show": show,
             "color": color, "t": t, "cross": bool(crossings), "eps": eps, "delta": delta,
             "proj": projection, "unit": unit, "hl": hl,
             "rank": None if rank_notice else rank}
    request = explore_request(source, list(modules or []), list(stimuli or []), rank)
    return encode_query(state), request, rank_notice


@functools.lru_cache(maxsize=16)
def _decoding_artifact(cache, key: str) -> DecodingView:
    """A decoding artefact, read once per process (an artefact never changes under its content key); its
    arrays are read-only."""
    art = load_typed(key, cache=cache)
    for array in art.to_arrays()[0].values():
        array.flags.writeable = False
    return art


@functools.lru_cache(maxsize=16)
def _decoding_figures(cache, key: str, crossing_layer: bool) -> tuple[dict, dict]:
    """(manifold, trajectories) of a decoding artefact as plain JSON, built once per process: neither
    depends on epsilon / delta. With ``crossing_layer`` the trajectories end with an empty crossing layer
    (and carry the note on reconstructed biology) for ``decoding_views`` to replace. Callers must not
    mutate the returned dicts."""
    art = _decoding_artifact(cache, key)
    flags = {**art.flags(), "title": art.label, "counts": art.counts}
    manifold = decoding_manifold_figure(art.coords, art.labels, art.stimuli, directions=art.directions,
                                        explained_variance=art.manifold_evr, **flags)
    trajectories = trajectories_figure(art.curves, art.labels, art.stimuli, directions=art.directions,
                                       time=art.time, time_unit=art.time_unit, explained_variance=art.trajectory_evr,
                                       crossings=np.zeros((0, 3)) if crossing_layer else None, **flags)
    for fig in (manifold, trajectories):
        fig.update_layout(uirevision=key)
    return plain_figure(manifold), plain_figure(trajectories)


def crossing_epsilon(curves: np.ndarray, percent: float) -> float:
    """Absolute epsilon of ``percent`` % of the diagonal of the curves' bounding box (curves (n, n_time, 3))."""
    points = curves.reshape(-1, curves.shape[-1])
    return float(percent) / 100.0 * float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def bins_in_ms(time: np.ndarray, time_unit: str, n_bins: int) -> str:
    """' = 67 ms' for ``n_bins`` bins of a time axis in seconds; '' when bins have no known duration."""
    if time_unit != "s" or len(time) < 2:
        return ""
    return f" = {n_bins * 1000.0 * float(np.median(np.diff(time))):.0f} ms"


def pair_counts(events, stimulus_of: np.ndarray, n_stimuli: int) -> np.ndarray:
    """Events per pair of stimuli, (n_stimuli, n_stimuli) symmetric; ``stimulus_of`` (n_trajectories,)."""
    counts = np.zeros((n_stimuli, n_stimuli), dtype=int)
    a, b = stimulus_of[events.i], stimulus_of[events.j]
    np.add.at(counts, (a, b), 1)
    np.add.at(counts, (b, a), (a != b).astype(int))
    return counts


def decoding_views(result, source, show, crossings, eps, delta, *, ctx: AppContext, words: str = ""):
    """(manifold, trajectories, crossing count text, last time index or None without a view): the figures
    as plain JSON, grown to the slider's time and highlighted clientside (``assets/twinscope.js``). ``eps`` is
    absolute (``decoding_panel`` takes it relative); ``words`` describes epsilon and delta in the count
    text. Only the crossing events are computed per call; the rest is memoised per artefact."""
    manifold, trajectories, count_text, _, last = _decoding_views(result, source, show, crossings, eps, delta,
                                                                  ctx=ctx, words=words)
    return manifold, trajectories, count_text, last


def decoding_panel(result, source, show, crossings, percent, delta, *, ctx: AppContext):
    """``decoding_views`` with epsilon in percent of the trajectories' bounding-box diagonal, plus the
    figure of crossing events per stimulus pair: (manifold, trajectories, count text, matrix, last)."""
    entry = find_view(result, "decoding", shown_token(source, show))
    if entry is None or not crossings:
        manifold, trajectories, count_text, last = decoding_views(result, source, show, False, 1.0, delta, ctx=ctx)
        note = NOT_RUN if entry is None else "Tick 'crossing events' to count them per stimulus pair."
        return manifold, trajectories, count_text, plain_figure(message_figure(note)), last
    art = _decoding_artifact(ctx.cache, entry["key"])
    epsilon = crossing_epsilon(art.curves, percent)
    words = (f"epsilon {float(percent):g} % of the diagonal = {epsilon:.3g} PCA units, delta {int(delta)} bins"
             f"{bins_in_ms(art.time, art.time_unit, int(delta))}")
    manifold, trajectories, count_text, events, last = _decoding_views(result, source, show, True, epsilon, delta,
                                                                       ctx=ctx, words=words)
    matrix = (message_figure(count_text) if events is None else
              crossing_matrix_figure(pair_counts(events, art.labels[:, 0], len(art.stimuli)), art.stimuli))
    return manifold, trajectories, count_text, plain_figure(matrix), last


def _decoding_views(result, source, show, crossings, eps, delta, *, ctx: AppContext, words: str):
    """(manifold, trajectories, count text, CrossingEvents or None, last time index or None)."""
    entry = find_view(result, "decoding", shown_token(source, show))
    if entry is None:
        blank = plain_figure(message_figure(NOT_RUN))
        return blank, blank, "", None, None
    curves = _decoding_artifact(ctx.cache, entry["key"]).curves
    count_text, midpoints, events = "", None, None
    if crossings:
        from compute.analysis.crossings import crossing_events  # scipy, about 1 s: only when asked for

        try:
            events = crossing_events(curves, float(eps), int(delta))
        except (ValueError, TypeError) as error:
            count_text = str(error)
        else:
            midpoints = events.midpoint
            count_text = (f"{len(midpoints)} crossing events ("
                          f"{words or f'epsilon {float(eps):g}, delta {int(delta)}'})")
            if len(midpoints) > MAX_DRAWN_CROSSINGS:
                midpoints = midpoints[np.linspace(0, len(midpoints) - 1, MAX_DRAWN_CROSSINGS).astype(int)]
                count_text += f"; {MAX_DRAWN_CROSSINGS} drawn"
    manifold, trajectories = _decoding_figures(ctx.cache, entry["key"], midpoints is not None)
    if midpoints is not None and trajectories["data"]:
        trajectories = {"data": trajectories["data"][:-1] + [plain_trace(crossing_trace(midpoints))],
                        "layout": trajectories["layout"]}
    return manifold, trajectories, count_text, events, int(curves.shape[1]) - 1


def slider_value(t: int | None, last: int) -> int:
    """The time slider keeps its position within the new range; no position means the whole curves."""
    return last if t is None else min(int(t), last)


def encoding_view(result, source, show, color, projection="3d", *, ctx: AppContext):
    """(encoding figure as plain JSON, colour-by options); ``projection`` "3d" or "2d" (print)."""
    entry = find_view(result, "encoding", shown_token(source, show))
    if entry is None:
        return message_figure(NOT_RUN), no_update
    art = load_typed(entry["key"], cache=ctx.cache)
    options = dict(art.color_options)
    values = art.colors.get(color) if color in options else None
    hover = {name: art.colors[name] for name in options if name in HOVER_COLUMNS and name != color}
    fig = encoding_figure(art.coords, color=values, color_name=color if values is not None else "",
                          categorical=None if values is None else options[color] == "categorical",
                          cyclic=color in CYCLIC_COLUMNS, unit_index=art.unit_index, hover=hover,
                          projection=projection if projection in ("3d", "2d") else "3d", counts=art.counts,
                          title=_encoding_title(art), **art.flags())
    fig.update_layout(uirevision=f"{entry['key']}-{projection}")
    # plain lists: plotly.js keeps base64 arrays as typed arrays, whose clickData customdata is not a list
    return plain_figure(fig), [{"label": name, "value": name} for name in options]


def _encoding_title(art: EncodingView) -> str:
    """The source label, with the CP rank the job was asked for (a dataset's published factors have none)
    and the restarts when fewer than the authors' (interactive preset)."""
    rank = art.options.get("rank")
    if rank is None or art.source.startswith("bio:"):
        return art.label
    note = art.restarts_note
    return f"{art.label}, CP rank {rank}" + (f", {note}" if "preset" in note else "")


def nn_histogram_view(result, source, show, *, ctx: AppContext):
    """The 1-NN distance histogram of the shown encoding manifold (outliers removed before IAN in red)."""
    entry = find_view(result, "encoding", shown_token(source, show))
    if entry is None:
        return message_figure(NOT_RUN)
    art = load_typed(entry["key"], cache=ctx.cache)
    d = art.diagnostics
    title = f"1-NN distances (k_far {d.get('k_far', 0)}, k_near {d.get('k_near', 0)} removed before IAN)"
    return plain_figure(nn_distance_histogram(art.nn_distances, art.nn_removed, title=title))


def clicked_unit(click_data) -> int:
    """Unit index of a click on the encoding manifold (``customdata[0]``)."""
    try:
        return int(click_data["points"][0]["customdata"][0])
    except (KeyError, IndexError, TypeError, ValueError):
        raise PreventUpdate from None


def psth_view(unit, result, source, show, *, ctx: AppContext):
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

    @app.callback(Output({"type": ExploreIds.MODEL_ONLY, "index": ALL}, "style"), Input(ExploreIds.SOURCE, "value"),
                  State({"type": ExploreIds.MODEL_ONLY, "index": ALL}, "id"), prevent_initial_call=True)
    def on_source_controls(source, wrappers):
        return [model_only_style(source)] * len(wrappers)

    @app.callback(Output(ExploreIds.RANK, "value"), Output(ExploreIds.RANK, "disabled"),
                  Output(ExploreIds.COLOR_BY, "value"), Input(ExploreIds.SOURCE, "value"), prevent_initial_call=True)
    def on_source_rank(source):
        return *rank_for_source(source, ctx=ctx), ctx.catalog.default_color(source)

    @app.callback(Output(ExploreIds.PRESET, "value"), Output(ExploreIds.STIMULI, "value"),
                  Input(ExploreIds.PRESET, "value"), Input(ExploreIds.STIMULI, "value"), prevent_initial_call=True)
    def on_stimuli(preset, stimuli):
        return sync_stimuli(dash_ctx.triggered_id, preset, stimuli, ctx=ctx)

    @app.callback(Output(ExploreIds.SHOW, "options"), Output(ExploreIds.SHOW, "value"),
                  Input(ExploreIds.MODULES, "value"), State(ExploreIds.SHOW, "value"), prevent_initial_call=True)
    def on_modules(modules, show):
        return show_options(modules, show)

    @app.callback(Output(JobIds.query("explore"), "data"), Output(JobIds.request("explore"), "data"),
                  Output(ExploreIds.RANK_NOTICE, "children"),
                  Input(ExploreIds.SOURCE, "value"), Input(ExploreIds.MODULES, "value"),
                  Input(ExploreIds.PRESET, "value"), Input(ExploreIds.STIMULI, "value"),
                  Input(ExploreIds.SHOW, "value"), Input(ExploreIds.COLOR_BY, "value"),
                  Input(ExploreIds.TIME, "value"), Input(ExploreIds.CROSSINGS, "value"),
                  Input(ExploreIds.EPSILON, "value"), Input(ExploreIds.DELTA, "value"),
                  Input(ExploreIds.UNIT, "data"), Input(ExploreIds.HIGHLIGHT, "data"), Input(ExploreIds.RANK, "value"),
                  Input(ExploreIds.PROJECTION, "value"), prevent_initial_call=True)
    def on_state(*values):
        return page_state(*values, ctx=ctx)

    @app.callback(Output(ExploreIds.DECODING_BASE, "data"), Output(ExploreIds.TRAJ_BASE, "data"),
                  Output(ExploreIds.CROSS_COUNT, "children"), Output(ExploreIds.CROSS_MATRIX, "figure"),
                  Output(ExploreIds.TIME, "max"),
                  Output(ExploreIds.TIME, "value"), Output(ExploreIds.SUMMARY, "children"),
                  Input(JobIds.result("explore"), "data"), Input(ExploreIds.SHOW, "value"),
                  Input(ExploreIds.CROSSINGS, "value"), Input(ExploreIds.EPSILON, "value"),
                  Input(ExploreIds.DELTA, "value"), State(ExploreIds.SOURCE, "value"), State(ExploreIds.TIME, "value"))
    def on_decoding(result, show, crossings, eps, delta, source, t):
        eps = eps if isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0 else EPSILON_DEFAULT
        delta = delta if isinstance(delta, int) and delta >= 0 else DELTA_DEFAULT
        manifold, trajectories, count, matrix, last = decoding_panel(result, source, show, bool(crossings), eps,
                                                                     delta, ctx=ctx)
        if last is None:  # nothing to show yet: keep the slider where the URL put it
            return manifold, trajectories, count, matrix, no_update, no_update, summary_text(result)
        return manifold, trajectories, count, matrix, last, slider_value(t, last), summary_text(result)

    @app.callback(Output(ExploreIds.ENCODING, "figure"), Output(ExploreIds.COLOR_BY, "options"),
                  Input(JobIds.result("explore"), "data"), Input(ExploreIds.SHOW, "value"),
                  Input(ExploreIds.COLOR_BY, "value"), Input(ExploreIds.PROJECTION, "value"),
                  State(ExploreIds.SOURCE, "value"))
    def on_encoding(result, show, color, projection, source):
        return encoding_view(result, source, show, color, projection, ctx=ctx)

    @app.callback(Output(ExploreIds.NN_HISTOGRAM, "figure"), Input(JobIds.result("explore"), "data"),
                  Input(ExploreIds.SHOW, "value"), State(ExploreIds.SOURCE, "value"))
    def on_nn_histogram(result, show, source):
        return nn_histogram_view(result, source, show, ctx=ctx)

    @app.callback(Output(ExploreIds.UNIT, "data"), Input(ExploreIds.ENCODING, "clickData"),
                  prevent_initial_call=True)
    def on_unit_click(click_data):
        return clicked_unit(click_data)

    @app.callback(Output(ExploreIds.UNIT, "data", allow_duplicate=True), Input(ExploreIds.UNIT_SEARCH, "value"),
                  prevent_initial_call=True)
    def on_unit_search(value):
        # 3-D clicks only register within a few pixels of a point: the index box picks a unit exactly
        if not isinstance(value, int) or value < 0:
            raise PreventUpdate
        return value

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
