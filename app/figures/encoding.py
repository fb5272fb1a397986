"""Encoding-manifold figure: one point per unit, coloured by a metadata column."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from app.figures.style import (CLASS_COLORS, CONTINUOUS_SCALE, category_color, check_projection, counts_text,
                               empty_figure,
                               figure, plane, provenance_note, scene, scene_aspect)

MAX_CATEGORIES = 24
CYCLIC_SCALE = "Twilight"  # an angle's colour wraps: 0 and 360 degrees look the same
NOISE_COLOR = "#bdbdbd"
DC_TITLES = ("DC1 (diffusion coordinate 1)", "DC2 (diffusion coordinate 2)", "DC3 (diffusion coordinate 3)")


def is_categorical(values: np.ndarray) -> bool:
    """Strings and booleans are categories; integers with at most ``MAX_CATEGORIES`` levels too (clusters,
    streams, layers); anything else is continuous."""
    values = np.asarray(values)
    if values.dtype.kind in "USbO":
        return True
    return values.dtype.kind in "iu" and np.unique(values).size <= MAX_CATEGORIES


def _category_label(value, color_name: str) -> str:
    """Legend name of a category: clusters read "cluster k" and HDBSCAN's noise label -1 "unclustered"."""
    if color_name == "cluster":
        return "unclustered" if int(value) < 0 else f"cluster {value}"
    return "none" if value == "" else str(value)


def _hover_value(value) -> str:
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


def encoding_figure(coords: np.ndarray, *, color: np.ndarray | None = None, color_name: str = "",
                    categorical: bool | None = None, unit_index: np.ndarray | None = None,
                    hover: Mapping[str, np.ndarray] | None = None, title: str | None = None,
                    cyclic: bool = False, projection: str = "3d", counts: Mapping[str, int] | None = None,
                    untrained: bool = False, reconstructed: bool = False) -> go.Figure:
    """The encoding manifold: units as points in the first 3 diffusion coordinates.

    Parameters
    ----------
    coords : ndarray of shape (n_units, 3)
        NaN rows (units set aside as disconnected) are not drawn.
    color : ndarray of shape (n_units,), optional
        Values to colour by (feature map, stream, cell type, layer, cluster, OSI, DSI, flag ...).
    color_name : str
        Its name, for the legend or colour-bar title.
    categorical : bool, optional
        Force categorical (one legend entry per value) or continuous (colour bar); default
        ``is_categorical(color)``.
    unit_index : ndarray of shape (n_units,), int, optional
        Index of each unit in its response set; default arange(n_units).
    hover : mapping name -> ndarray of shape (n_units,), optional
        Extra hover lines (unit metadata: cell type / layer / module, channel, position, cluster ...).
    cyclic : bool, default=False
        ``color`` is an angle in degrees: a cyclic colour scale over [0, 360).
    projection : {"3d", "2d"}, default="3d"
        "3d": a scene whose aspect stretches the axes along which the bulk of the units is thin
        (``scene_aspect(bulk=True)``); "2d": DC1 against DC2 as a flat scatter (vector SVG, for print).

    Returns
    -------
    go.Figure
        Scatter3d (or scatter) trace(s) with ``customdata`` = [unit index] per point (``clickData`` ->
        ``points[0].customdata[0]``).
    """
    check_projection(projection)
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[0] == 0:
        return empty_figure("no units to show", title=title)
    if coords.shape[1] != 3:
        raise ValueError(f"coords must have shape (n_units, 3); got {coords.shape}")
    n = coords.shape[0]
    unit_index = np.arange(n) if unit_index is None else np.asarray(unit_index, dtype=int)
    columns = {"color": color, "unit_index": unit_index, **(hover or {})}
    for name, values in columns.items():
        if values is not None and np.shape(values) != (n,):
            raise ValueError(f"{name} must have shape ({n},); got {np.shape(values)}")
    keep = np.flatnonzero(np.isfinite(coords).all(axis=1))
    if keep.size == 0:
        return empty_figure("every unit was set aside (disconnected); nothing to show", title=title)
    text = [f"unit {unit_index[i]}" + "".join(f"<br>{k}: {_hover_value(np.asarray(v)[i])}"
                                              for k, v in (hover or {}).items())
            for i in range(n)]
    data = []
    flat = projection == "2d"
    layout: dict = plane(DC_TITLES) if flat else {"scene": scene(DC_TITLES, aspect=scene_aspect(coords, bulk=True))}

    def add(rows: np.ndarray, name: str, marker: dict, showlegend: bool) -> None:
        xyz = {"x": coords[rows, 0], "y": coords[rows, 1], **({} if flat else {"z": coords[rows, 2]})}
        data.append(dict(type="scatter" if flat else "scatter3d", **xyz,
                         mode="markers", name=name, marker={"size": 5 if flat else 3, **marker}, showlegend=showlegend,
                         customdata=unit_index[rows, None], text=[text[i] for i in rows],
                         hovertemplate="%{text}<extra>" + name + "</extra>", meta={"kind": "units", "category": name}))

    if color is None:
        add(keep, "units", {"color": "#4d4d4d"}, False)
    else:
        color = np.asarray(color)
        if categorical if categorical is not None else is_categorical(color):
            levels = sorted(np.unique(color[keep]).tolist(), key=lambda v: (str(type(v)), v))
            for i, level in enumerate(levels):
                label = _category_label(level, color_name)
                shade = NOISE_COLOR if label == "unclustered" else CLASS_COLORS.get(label, category_color(i))
                add(keep[color[keep] == level], label, {"color": shade}, True)
            layout["legend"] = {"title": {"text": color_name}}
        else:
            values = np.asarray(color[keep], dtype=float)
            scale = ({"colorscale": CYCLIC_SCALE, "cmin": 0.0, "cmax": 360.0} if cyclic
                     else {"colorscale": CONTINUOUS_SCALE})
            title_text = f"{color_name} (deg)" if cyclic else color_name
            add(keep[np.isfinite(values)], color_name or "value",
                {"color": values[np.isfinite(values)], **scale, "showscale": True,
                 "colorbar": {"title": {"text": title_text}}}, False)
            if not np.isfinite(values).all():
                add(keep[~np.isfinite(values)], "no value", {"color": NOISE_COLOR}, True)
    fig = figure(data, layout, title=title, subtitle=counts_text(counts))
    return provenance_note(fig, untrained=untrained, reconstructed=reconstructed)


def nn_distance_histogram(nn_distances: np.ndarray, removed: np.ndarray | None = None, *, n_bins: int = 40,
                          title: str | None = None) -> go.Figure:
    """Histogram of the distance of every distinct point to its nearest neighbour (METHODS.md 5.7), so the
    user can judge the k_far / k_near outlier cut; removed points are stacked in their own colour.

    Parameters
    ----------
    nn_distances : ndarray of shape (n_points,)
        1-NN distances in PC space, before outlier removal.
    removed : ndarray of shape (n_points,), bool, optional
        The points removed before IAN.
    n_bins : int, default=40

    Returns
    -------
    go.Figure
        Two stacked histogram traces ("kept", "removed") on shared bins.
    """
    nn_distances = np.asarray(nn_distances, dtype=float)
    if nn_distances.ndim != 1 or nn_distances.size == 0:
        return empty_figure("no 1-NN distances stored (recompute the encoding manifold)", title=title)
    removed = np.zeros(nn_distances.size, dtype=bool) if removed is None else np.asarray(removed, dtype=bool)
    if removed.shape != nn_distances.shape:
        raise ValueError(f"removed must have shape {nn_distances.shape}; got {removed.shape}")
    edges = np.histogram_bin_edges(nn_distances, bins=n_bins)
    bins = {"start": float(edges[0]), "end": float(edges[-1]), "size": float(edges[1] - edges[0]) or 1.0}
    data = [dict(type="histogram", x=nn_distances[mask], xbins=bins, name=name, marker={"color": color},
                 hovertemplate="%{y} points<extra>" + name + "</extra>")
            for name, mask, color in (("kept", ~removed, "#4d4d4d"), (f"removed ({int(removed.sum())})", removed,
                                                                      "#d62728"))]
    layout = {"barmode": "stack", "xaxis": {"title": {"text": "distance to nearest neighbour (PC space)"}},
              "yaxis": {"title": {"text": "points"}}}
    return figure(data, layout, title=title, height=260)
