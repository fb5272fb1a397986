"""Decoding figures: the decoding manifold, decoding trajectories (with crossing events) and accuracy.

Conventions shared with the clientside callbacks (assets/*.js):
- every condition trace carries ``meta = {"kind": ..., "condition": c, "stimulus": name, "direction": deg}``
  with kind "condition" (manifold points), "trajectory" (one curve), and the marker layers carry kind
  "start", "end" or "crossings";
- ``customdata`` rows are ``[condition, time_index, time]`` on trajectory points, ``[condition, time_index]``
  on the start / end markers and
  ``[condition, stimulus_index, direction_index]`` on manifold points, so a click names its condition and a
  time slider can cut every trajectory at ``customdata[k][1] <= t``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from app.figures.style import (DIRECTION_SYMBOLS, counts_text, direction_shade, empty_figure, figure, provenance_note,
                               scene, scene_aspect, stimulus_color)
from compute.stimuli import DIRECTIONS


def _axis_titles(explained_variance: Sequence[float] | None) -> tuple[str, ...]:
    if explained_variance is None:
        return ("PC1", "PC2", "PC3")
    return tuple(f"PC{i + 1} ({100 * v:.0f} %)" for i, v in enumerate(list(explained_variance)[:3]))


def _check_labels(labels: np.ndarray, n: int, stimuli: Sequence[str], directions: Sequence[float]) -> np.ndarray:
    labels = np.asarray(labels, dtype=int)
    if labels.shape != (n, 2):
        raise ValueError(f"labels must have shape ({n}, 2) [stimulus index, direction index]; got {labels.shape}")
    if n and (labels[:, 0].max() >= len(stimuli) or labels[:, 1].max() >= len(directions) or labels.min() < 0):
        raise ValueError(f"labels index {len(stimuli)} stimuli and {len(directions)} directions; "
                         f"got stimulus indices up to {labels[:, 0].max()}, direction up to {labels[:, 1].max()}")
    return labels


def decoding_manifold_figure(coords: np.ndarray, labels: np.ndarray, stimuli: Sequence[str], *,
                             directions: Sequence[float] = DIRECTIONS,
                             explained_variance: Sequence[float] | None = None, title: str | None = None,
                             counts: Mapping[str, int] | None = None, untrained: bool = False,
                             reconstructed: bool = False) -> go.Figure:
    """One point per condition; colour = stimulus class, symbol and shade = direction.

    Parameters
    ----------
    coords : ndarray of shape (n_conditions, 3)
    labels : ndarray of shape (n_conditions, 2), int
        [stimulus index into ``stimuli``, direction index into ``directions``] of each condition.
    stimuli : sequence of str, the class names
    explained_variance : sequence of 3 floats, optional
        Explained-variance ratios, shown in the axis titles.
    counts : mapping, optional
        The view's counts (n_units, n_conditions ...), written under the title (``style.counts_text``).

    Returns
    -------
    go.Figure
        Equal-scale axes (``scene_aspect``). One Scatter3d trace per stimulus (legend entry), ``customdata``
        [condition, stimulus, direction].
    """
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[0] == 0:
        return empty_figure("no conditions to show", title=title)
    if coords.shape[1] != 3:
        raise ValueError(f"coords must have shape (n_conditions, 3); got {coords.shape}")
    labels = _check_labels(labels, coords.shape[0], stimuli, directions)
    data = []
    for s, name in enumerate(stimuli):
        rows = np.flatnonzero(labels[:, 0] == s)
        if rows.size == 0:
            continue
        d = labels[rows, 1]
        color = stimulus_color(name)
        data.append(dict(
            type="scatter3d", x=coords[rows, 0], y=coords[rows, 1], z=coords[rows, 2], mode="markers", name=name,
            marker={"size": 6, "color": [direction_shade(color, k) for k in d],
                    "symbol": [DIRECTION_SYMBOLS[k % len(DIRECTION_SYMBOLS)] for k in d],
                    "line": {"width": 1, "color": color}},
            customdata=np.column_stack([rows, labels[rows]]),
            text=[f"{name}, {directions[k]:g}°" for k in d], hovertemplate="%{text}<extra></extra>",
            meta={"kind": "condition", "stimulus": name}))
    key = {"text": direction_key(directions), "xref": "paper", "yref": "paper", "x": 0.0, "y": 1.0,
           "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 10, "color": "#555"},
           "name": "direction-key"}
    layout = {"scene": scene(_axis_titles(explained_variance), aspect=scene_aspect(coords)), "annotations": [key]}
    fig = figure(data, layout, title=title, subtitle=counts_text(counts))
    return provenance_note(fig, untrained=untrained, reconstructed=reconstructed)


_SYMBOL_GLYPHS = {"circle": "●", "square": "■", "diamond": "◆", "cross": "✚", "circle-open": "○",
                  "square-open": "□", "diamond-open": "◇", "x": "✕"}


def direction_key(directions: Sequence[float] = DIRECTIONS) -> str:
    """'marker = direction: ● 0°, ■ 45°, ...' (the symbols of ``DIRECTION_SYMBOLS``; paler = later direction)."""
    marks = [f"{_SYMBOL_GLYPHS[DIRECTION_SYMBOLS[k % len(DIRECTION_SYMBOLS)]]} {d:g}°" for k, d in enumerate(directions)]
    return "marker = direction (paler = later): " + ", ".join(marks)


def crossing_trace(midpoints: np.ndarray, *, name: str = "crossings") -> dict:
    """The crossing-event layer as a trace dict: one black marker per event midpoint (midpoints
    (n_events, 3)); append it to, or replace it in, a trajectories figure's data (``meta.kind ==
    "crossings"``), e.g. from a callback that calls ``compute.analysis.crossings.crossing_events`` live."""
    midpoints = np.asarray(midpoints, dtype=float).reshape(-1, 3)
    return dict(type="scatter3d", x=midpoints[:, 0], y=midpoints[:, 1], z=midpoints[:, 2], mode="markers",
                name=f"{name} ({len(midpoints)})", marker={"size": 3, "color": "black", "opacity": 0.7},
                hoverinfo="skip", meta={"kind": "crossings", "count": int(len(midpoints))})


def crossing_matrix_figure(counts: np.ndarray, stimuli: Sequence[str], *, epsilon_text: str = "") -> go.Figure:
    """Crossing events per pair of stimuli (a small heatmap with the counts written in).

    Parameters
    ----------
    counts : ndarray of shape (n_stimuli, n_stimuli), int
        Symmetric; [a, b] = events between a trajectory of stimulus a and one of stimulus b (the diagonal:
        between two directions of the same stimulus).
    stimuli : sequence of str, the class names
    epsilon_text : str
        Epsilon and delta in words, for the title.
    """
    counts = np.asarray(counts)
    if counts.shape != (len(stimuli), len(stimuli)):
        raise ValueError(f"counts must have shape ({len(stimuli)}, {len(stimuli)}); got {counts.shape}")
    trace = dict(type="heatmap", z=counts, x=list(stimuli), y=list(stimuli), colorscale="Greys", showscale=False,
                 text=counts.astype(str), texttemplate="%{text}", hovertemplate="%{y} x %{x}: %{z} events<extra></extra>")
    title = "crossing events per stimulus pair" + (f" ({epsilon_text})" if epsilon_text else "")
    return figure([trace], {"xaxis": {"tickangle": -30, "automargin": True},
                            "yaxis": {"autorange": "reversed", "automargin": True}}, title=title)


def trajectories_figure(curves: np.ndarray, labels: np.ndarray, stimuli: Sequence[str], *,
                        directions: Sequence[float] = DIRECTIONS, time: np.ndarray | None = None,
                        time_unit: str = "s", explained_variance: Sequence[float] | None = None,
                        crossings: np.ndarray | None = None, title: str | None = None,
                        counts: Mapping[str, int] | None = None, untrained: bool = False, reconstructed: bool = False,
                        reconstructed_crossing_note: bool = True) -> go.Figure:
    """One 3-D curve per condition with start (circle) and end (diamond) markers.

    Parameters
    ----------
    curves : ndarray of shape (n_conditions, n_time, 3)
    labels : ndarray of shape (n_conditions, 2), int, [stimulus index, direction index]
    time : ndarray of shape (n_time,), optional, shown on hover
    crossings : ndarray of shape (n_events, 3), optional
        Crossing-event midpoints (``crossing_trace``).
    counts : mapping, optional
        The view's counts, written under the title (``style.counts_text``).

    Returns
    -------
    go.Figure
        n_conditions line traces (kind "trajectory", ``customdata`` [condition, time index, time]), then one
        "start" and one "end" marker trace (``customdata`` [condition, time index]), then the optional
        "crossings" trace. On reconstructed biology with crossings, a note says crossing numbers there are
        unreliable (METHODS 3).
    """
    curves = np.asarray(curves, dtype=float)
    if curves.ndim != 3 or curves.shape[0] == 0 or curves.shape[1] == 0:
        return empty_figure("no trajectories to show", title=title)
    if curves.shape[2] != 3:
        raise ValueError(f"curves must have shape (n_conditions, n_time, 3); got {curves.shape}")
    n, n_time, _ = curves.shape
    labels = _check_labels(labels, n, stimuli, directions)
    time = np.arange(n_time, dtype=float) if time is None else np.asarray(time, dtype=float)
    data = []
    shown: set[int] = set()
    colors = []
    for c, (s, d) in enumerate(labels):
        name = stimuli[s]
        color = direction_shade(stimulus_color(name), d)
        colors.append(color)
        data.append(dict(
            type="scatter3d", x=curves[c, :, 0], y=curves[c, :, 1], z=curves[c, :, 2], mode="lines", name=name,
            legendgroup=name, showlegend=s not in shown, line={"width": 4, "color": color},
            customdata=np.column_stack([np.full(n_time, c), np.arange(n_time), time]),
            hovertemplate=f"{name}, {directions[d]:g}°<br>t = %{{customdata[2]:.3g}} {time_unit}<extra></extra>",
            meta={"kind": "trajectory", "condition": c, "stimulus": name, "direction": float(directions[d])}))
        shown.add(int(s))
    for kind, t, symbol in (("start", 0, "circle"), ("end", n_time - 1, "diamond")):
        data.append(dict(
            type="scatter3d", x=curves[:, t, 0], y=curves[:, t, 1], z=curves[:, t, 2], mode="markers", name=kind,
            showlegend=False, marker={"size": 4, "color": colors, "symbol": symbol,
                                      "line": {"width": 1, "color": "black"}},
            customdata=np.column_stack([np.arange(n), np.full(n, t)]), hoverinfo="skip",
            meta={"kind": kind}))
    note = None
    if crossings is not None:
        data.append(crossing_trace(crossings))
        if reconstructed and reconstructed_crossing_note:
            note = "crossing counts are unreliable on reconstructed biology"
    layout = {"scene": scene(_axis_titles(explained_variance), aspect=scene_aspect(curves.reshape(-1, 3)))}
    fig = figure(data, layout, title=title, subtitle=counts_text(counts))
    return provenance_note(fig, untrained=untrained, reconstructed=reconstructed, extra=note)


def accuracy_figure(x: Sequence, series: Mapping[str, Sequence[float]], *, chance: float,
                    errors: Mapping[str, Sequence[float]] | None = None, x_title: str = "module",
                    title: str | None = None, untrained: bool = False, reconstructed: bool = False
                    ) -> go.Figure:
    """Decoding accuracy lines (per module, or per time window) with the chance level dashed.

    Parameters
    ----------
    x : sequence of length n_points
        Module names (categorical axis) or window end / start times (numeric axis).
    series : mapping name -> sequence of length n_points
        e.g. {"logistic regression": ..., "3-NN": ...} or the four window curves.
    chance : float
        1 / n_classes.
    errors : mapping name -> sequence of length n_points, optional
        Error bars (e.g. the SD over the 5 repeats).

    Returns
    -------
    go.Figure
        One trace per series plus a "chance" line; y axis "accuracy" in [0, 1].
    """
    x = list(x)
    if not x or not series:
        return empty_figure("no decoding accuracy computed yet", title=title)
    data = []
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        if values.shape != (len(x),):
            raise ValueError(f"series {name!r} must have {len(x)} values; got shape {values.shape}")
        err = None if errors is None or name not in errors else {"type": "data",
                                                                  "array": np.asarray(errors[name], float)}
        data.append(dict(type="scatter", x=x, y=values, mode="lines+markers", name=name,
                         line={"dash": "solid" if "decreasing" not in name else "dot"},
                         **({} if err is None else {"error_y": err})))
    data.append(dict(type="scatter", x=[x[0], x[-1]], y=[chance, chance], mode="lines",
                     name=f"chance ({chance:.3g})", line={"dash": "dash", "color": "#999"}, hoverinfo="skip"))
    fig = figure(data, {"yaxis": {"title": {"text": "accuracy"}, "range": [0, 1.02]},
                        "xaxis": {"title": {"text": x_title}}}, title=title)
    return provenance_note(fig, untrained=untrained, reconstructed=reconstructed)


def accuracy_bars(x: Sequence[str], series: Mapping[str, Sequence[float]], *, chance: float,
                  errors: Mapping[str, Sequence[float]] | None = None,
                  published: Mapping[str, float] | None = None, published_name: str = "seed study",
                  x_title: str = "module", title: str | None = None, untrained: bool = False,
                  reconstructed: bool = False, **_unused) -> go.Figure:
    """Decoding accuracy per source as grouped bars, the chance level as a dashed line and the seed
    study's published values as markers (paper-style summary).

    Parameters
    ----------
    x : sequence of str, length n_sources
    series : mapping classifier name -> sequence of length n_sources
    chance : float
        1 / n_classes.
    errors : mapping classifier name -> sequence of length n_sources, optional (SD over repeats)
    published : mapping source name -> accuracy, optional
        Drawn as black diamonds on the sources that have one (``compute.seed_values.PUBLISHED_ACCURACY``).
    """
    x = list(x)
    if not x or not series:
        return empty_figure("no decoding accuracy computed yet", title=title)
    data = []
    for k, (name, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        if values.shape != (len(x),):
            raise ValueError(f"series {name!r} must have {len(x)} values; got shape {values.shape}")
        err = None if errors is None or name not in errors else np.asarray(errors[name], float)
        data.append(dict(type="bar", x=x, y=values, name=name, marker={"color": ("#525252", "#a6a6a6")[k % 2]},
                         hovertemplate="%{x}: %{y:.3f}<extra>" + name + "</extra>",
                         **({} if err is None else {"error_y": {"type": "data", "array": err}})))
    shown = [n for n in x if n in (published or {})]
    if shown:
        data.append(dict(type="scatter", x=shown, y=[published[n] for n in shown], mode="markers",
                         name=published_name, marker={"symbol": "diamond", "size": 11, "color": "black"},
                         hovertemplate="%{x}: %{y:.2f} (published)<extra></extra>"))
    layout = {"barmode": "group", "yaxis": {"title": {"text": "accuracy"}, "range": [0, 1.02]},
              "xaxis": {"title": {"text": x_title}},
              "shapes": [dict(type="line", xref="x domain", yref="y", x0=0, x1=1, y0=chance, y1=chance,
                              line={"dash": "dash", "color": "#999"}, name="chance")],
              "annotations": [dict(text=f"chance {chance:.3g}", xref="x domain", yref="y", x=1, y=chance,
                                   xanchor="right", yanchor="bottom", showarrow=False,
                                   font={"size": 10, "color": "#777"}, name="chance")]}
    return provenance_note(figure(data, layout, title=title), untrained=untrained, reconstructed=reconstructed)
