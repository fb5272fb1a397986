"""Tubularity figures: S_tight / S_cross bars with standard errors and significance, the sensitivity
heatmap and per-bundle tube plots (member curves + centerline)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from app.figures.style import (BELOW_TICK_LABELS, BIO_COLORS, axis_ref, bootstraps_text, empty_figure, figure,
                               provenance_note, scene, scene_aspect, significance_stars, source_color, stimulus_color,
                               subplot_layout)

S_TIGHT_TITLE = "S_tight (lower = tighter)"
S_CROSS_TITLE = "S_cross (higher = more crossing)"


def tubularity_bars(names: Sequence[str], s_tight: Sequence[float], s_tight_se: Sequence[float],
                    s_cross: Sequence[float], s_cross_se: Sequence[float], *,
                    p_tight: Mapping[str, float] | None = None, p_cross: Mapping[str, float] | None = None,
                    reference: str | None = None, unreliable_cross: Sequence[str] = (),
                    n_boot: int | Sequence[int] | None = None, title: str | None = None) -> go.Figure:
    """S_tight and S_cross (mean +- SE over bootstraps) per source, side by side.

    Parameters
    ----------
    names : sequence of str, length n_sources
        Module names and datasets ("retina", "V1" drawn in their own colours).
    s_tight, s_tight_se, s_cross, s_cross_se : sequences of length n_sources
    p_tight, p_cross : mapping name -> p-value, optional
        One-sided Mann-Whitney p of each source against ``reference``; drawn as stars above the bars.
    unreliable_cross : sequence of str
        Sources whose S_cross is unreliable (reconstructed biology, METHODS 3): marked with a dagger.
    n_boot : int or sequence of int (one per source), optional
        Bootstrap resamples behind each mean and SE, named in the note under the plot.

    Returns
    -------
    go.Figure
        Two bar traces (left S_tight, right S_cross on a log axis); y titles say lower = tighter.
    """
    names = list(names)
    if not names:
        return empty_figure("no tubularity computed yet", title=title)
    values = {k: np.asarray(v, dtype=float) for k, v in
              (("s_tight", s_tight), ("s_tight_se", s_tight_se), ("s_cross", s_cross), ("s_cross_se", s_cross_se))}
    for k, v in values.items():
        if v.shape != (len(names),):
            raise ValueError(f"{k} must have {len(names)} values (one per name); got shape {v.shape}")
    layout = subplot_layout(1, 2, horizontal_spacing=0.14)
    data = []
    colors = [source_color(n) for n in names]
    for col, (key, p_values, y_title) in enumerate((("s_tight", p_tight, S_TIGHT_TITLE),
                                                     ("s_cross", p_cross, S_CROSS_TITLE)), start=1):
        labels = [f"{n} †" if key == "s_cross" and n in unreliable_cross else n for n in names]
        xref, yref = axis_ref(1, col, 2)
        data.append(dict(type="bar", x=labels, y=values[key], marker={"color": colors}, name=y_title.split(" ")[0],
                         error_y={"type": "data", "array": values[f"{key}_se"], "visible": True},
                         text=[significance_stars((p_values or {}).get(n)) for n in names], textposition="outside",
                         cliponaxis=False, showlegend=False, hovertemplate="%{x}: %{y:.3g}<extra></extra>",
                         xaxis=xref, yaxis=yref))
        layout["yaxis" + yref[1:]]["title"] = {"text": y_title}
    layout["yaxis2"].update(type="log", exponentformat="power")
    layout["margin"] = {"l": 50, "r": 20, "t": 50 if title else 20, "b": 60}
    layout["shapes"] = reference_bands(names, values, ("y", "y2"))
    notes = [f"mean +- SE over {bootstraps_text(n_boot)}"] if bootstraps_text(n_boot) else []
    if reference and (p_tight or p_cross):
        notes.append(f"stars: one-sided Mann-Whitney U vs {reference} over bootstraps")
    if unreliable_cross:
        notes.append("† S_cross is unreliable on reconstructed biology")
    layout["margin"]["b"] = 80
    return provenance_note(figure(data, layout, title=title), extra="; ".join(notes) or None, y=BELOW_TICK_LABELS)


def reference_bands(names: Sequence[str], values: Mapping[str, np.ndarray], yrefs: Sequence[str]) -> list[dict]:
    """Horizontal bands (mean +- SE) of the biological sources across each panel, so every module bar reads
    against the retina and V1 levels. ``values`` holds s_tight, s_tight_se, s_cross, s_cross_se arrays."""
    shapes = []
    for i, name in enumerate(names):
        if name not in BIO_COLORS:
            continue
        for key, yref in zip(("s_tight", "s_cross"), yrefs):
            mean, se = float(values[key][i]), float(values[f"{key}_se"][i])
            xref = "x domain" if yref == "y" else "x2 domain"
            low = mean - se if key == "s_tight" or mean - se > 0 else mean / 10  # S_cross: log axis
            shapes.append(dict(type="rect", xref=xref, yref=yref, x0=0, x1=1, y0=low, y1=mean + se,
                               fillcolor=BIO_COLORS[name], opacity=0.15, line={"width": 0}, layer="below",
                               name=f"{name} band"))
            shapes.append(dict(type="line", xref=xref, yref=yref, x0=0, x1=1, y0=mean, y1=mean, layer="below",
                               line={"color": BIO_COLORS[name], "dash": "dot", "width": 1}, name=f"{name} level"))
    return shapes


def sensitivity_heatmap(qs: Sequence[float], smoothings: Sequence[float], values: np.ndarray, *,
                        quantity: str = S_TIGHT_TITLE, title: str | None = None) -> go.Figure:
    """Sensitivity of a tubularity value to the quantile q and the centerline smoothing s.

    Parameters
    ----------
    qs : sequence of n_q floats; smoothings : sequence of n_s floats
    values : ndarray of shape (n_q, n_s)
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return empty_figure("no sensitivity grid computed", title=title)
    if values.shape != (len(qs), len(smoothings)):
        raise ValueError(f"values must have shape ({len(qs)}, {len(smoothings)}) (q, s); got {values.shape}")
    data = [dict(type="heatmap", z=values, x=[f"{s:g}" for s in smoothings], y=[f"{q:g}" for q in qs],
                 colorscale="Viridis", colorbar={"title": {"text": quantity}}, texttemplate="%{z:.3g}",
                 hovertemplate="q %{y}, s %{x}: %{z:.4g}<extra></extra>")]
    return figure(data, {"xaxis": {"title": {"text": "centerline smoothing s"}, "type": "category"},
                         "yaxis": {"title": {"text": "quantile q"}, "type": "category"}}, title=title)


def tube_figure(curves: np.ndarray, labels: np.ndarray, centerlines: np.ndarray, bundle_names: Sequence[str], *,
                bundles: Sequence[int] | None = None, title: str | None = None, untrained: bool = False,
                reconstructed: bool = False) -> go.Figure:
    """Bundles of trajectories (thin, class colour) with their centerlines (thick, dark).

    Parameters
    ----------
    curves : ndarray of shape (n_curves, n_points, 3)
    labels : ndarray of shape (n_curves,), int
        Bundle index of each curve (into ``bundle_names``).
    centerlines : ndarray of shape (n_bundles, n_center, 3)
    bundle_names : sequence of str, length n_bundles (stimulus class names)
    bundles : sequence of int, optional
        Bundles to draw (default all).

    Returns
    -------
    go.Figure
        Per drawn bundle: its member curves (``meta.kind == "member"``) then its centerline
        (``meta.kind == "centerline"``).
    """
    curves = np.asarray(curves, dtype=float)
    centerlines = np.asarray(centerlines, dtype=float)
    if curves.ndim != 3 or curves.shape[0] == 0 or centerlines.ndim != 3 or centerlines.shape[0] == 0:
        return empty_figure("no bundles to show", title=title)
    labels = np.asarray(labels, dtype=int)
    if labels.shape != (curves.shape[0],) or len(bundle_names) != centerlines.shape[0]:
        raise ValueError(f"labels must have shape ({curves.shape[0]},) and bundle_names {centerlines.shape[0]} "
                         f"entries; got {labels.shape} and {len(bundle_names)}")
    data = []
    for b in range(len(bundle_names)) if bundles is None else bundles:
        name = bundle_names[b]
        color = stimulus_color(name)
        for i, c in enumerate(np.flatnonzero(labels == b)):
            data.append(dict(type="scatter3d", x=curves[c, :, 0], y=curves[c, :, 1], z=curves[c, :, 2],
                             mode="lines", line={"width": 2, "color": color}, opacity=0.6, name=name,
                             legendgroup=name, showlegend=bool(i == 0), hoverinfo="skip",
                             meta={"kind": "member", "bundle": int(b)}))
        line = centerlines[b]
        data.append(dict(type="scatter3d", x=line[:, 0], y=line[:, 1], z=line[:, 2], mode="lines",
                         line={"width": 7, "color": "#111"}, name=f"{name} centerline", legendgroup=name,
                         showlegend=False, hoverinfo="name", meta={"kind": "centerline", "bundle": int(b)}))
    fig = figure(data, {"scene": scene(aspect=scene_aspect(curves.reshape(-1, 3)))}, title=title)
    return provenance_note(fig, untrained=untrained, reconstructed=reconstructed)
