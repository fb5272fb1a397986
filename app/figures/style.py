"""The shared look of every figure: stimulus colours, direction shades and symbols, fonts, 3-D scenes,
provenance annotations and the empty-input figure. Change the look here, nowhere else."""

from __future__ import annotations

import copy
import functools
import hashlib
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from compute.stimuli import CLASS_NAMES, DIRECTIONS

FONT = {"family": "Inter, Helvetica, Arial, sans-serif", "size": 12, "color": "#222"}
TEMPLATE = "plotly_white"
# Families: gratings blue, dark-dot flows warm (red/orange), bright-dot flows green/purple; '1dot' darker
# than '3dot', D1 and D2 different hues, so neighbours in the legend stay distinguishable.
_PALETTE = ("#08306b", "#6baed6", "#2171b5",
            "#a50f15", "#fb6a4a", "#d94801", "#fdae6b",
            "#006d2c", "#74c476", "#54278f", "#9e9ac8")
CLASS_COLORS: dict[str, str] = dict(zip(CLASS_NAMES, _PALETTE))
# plotly's eight 3-D marker symbols, one per direction (0, 45, ..., 315 degrees).
DIRECTION_SYMBOLS: tuple[str, ...] = ("circle", "square", "diamond", "cross",
                                      "circle-open", "square-open", "diamond-open", "x")
CATEGORY_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39")
BIO_COLORS = {"retina": "#7b3294", "V1": "#008837"}
MODEL_COLOR = "#525252"
CONTINUOUS_SCALE = "Viridis"
PROJECTIONS = ("3d", "2d")
UNTRAINED_TEXT = "untrained (random weights)"
RECONSTRUCTED_TEXT = "reconstructed from published factors"


# The user's clip classes (compute.clips): hues unused above, picked by a hash of the name (stable in every view).
_CLIP_PALETTE = ("#8c510a", "#01665e", "#c51b7d", "#bf812d", "#35978f", "#e7298a", "#7f2704", "#3f007d")


def stimulus_color(name: str) -> str:
    """Colour of a stimulus class (same in every view); a clip class (``clip_...``) one of ``_CLIP_PALETTE``;
    grey for any other name outside the canonical eleven."""
    if name.startswith("clip_") and name not in CLASS_COLORS:
        return _CLIP_PALETTE[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(_CLIP_PALETTE)]
    return CLASS_COLORS.get(name, "#999999")


def direction_shade(color: str, direction_index: int, n_directions: int = len(DIRECTIONS)) -> str:
    """``color`` mixed with white by up to 55 % as the direction index grows (0 = the pure colour)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    mix = 0.55 * direction_index / max(n_directions - 1, 1)
    r, g, b = (round(c + (255 - c) * mix) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def category_color(index: int) -> str:
    return CATEGORY_COLORS[index % len(CATEGORY_COLORS)]


def source_color(name: str) -> str:
    """Bars and lines of a biological dataset in its own colour, model modules in grey."""
    return BIO_COLORS.get(name, MODEL_COLOR)


BELOW_TICK_LABELS = -0.14  # provenance note height under a 2-D plot with x tick labels
MIN_ASPECT_SIDE = 0.25  # no axis of a 3-D box drawn shorter than a quarter of the longest
BULK_QUANTILES = (5.0, 95.0)  # the central 90 % of the points: their "bulk"


def scene_aspect(points: np.ndarray, *, bulk: bool = False) -> dict[str, Any]:
    """Aspect of a 3-D scene chosen from its points, so that no view collapses into a thin line.

    Parameters
    ----------
    points : ndarray of shape (n_points, 3)
        Non-finite rows are ignored.
    bulk : bool, default=False
        False: equal scale on every axis (PCA views: distances and explained variance read true), with no
        side shorter than ``MIN_ASPECT_SIDE`` of the longest. True (diffusion coordinates, where a few
        far units set the ranges): each axis stretched so that the central 90 % of the points spans about
        the same length, again within ``MIN_ASPECT_SIDE``. The axis ranges stay the data's, so every
        point remains visible.

    Returns
    -------
    dict
        ``{"aspectmode": "manual", "aspectratio": {"x", "y", "z"}}``, scaled to the cube's diagonal;
        ``{"aspectmode": "cube"}`` when the points do not span all three axes.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    points = points[np.isfinite(points).all(axis=1)]
    spans = np.ptp(points, axis=0) if len(points) else np.zeros(3)
    if not (spans > 0).all():
        return {"aspectmode": "cube"}
    sides = spans
    if bulk:
        low, high = np.percentile(points, BULK_QUANTILES, axis=0)
        sides = spans / np.maximum(high - low, spans * 1e-3)
    sides = np.maximum(sides / sides.max(), MIN_ASPECT_SIDE)
    sides *= np.sqrt(3.0) / np.linalg.norm(sides)  # the cube's diagonal: a flat box is drawn no smaller
    return {"aspectmode": "manual", "aspectratio": dict(zip("xyz", sides.round(3).tolist()))}


def scene(axis_titles: Sequence[str] = ("PC1", "PC2", "PC3"), *, aspect: Mapping[str, Any] | None = None
          ) -> dict[str, Any]:
    """3-D scene defaults: titled axes, light grid, a camera far enough out that the axis titles stay
    inside the panel (plotly's default eye cuts them at the scene's edge), and ``aspect``
    (``scene_aspect``; default cube)."""
    axis = {"showbackground": False, "gridcolor": "#ddd", "zerolinecolor": "#bbb", "showspikes": False}
    return {**(aspect or {"aspectmode": "cube"}), "camera": {"eye": {"x": 1.7, "y": 1.7, "z": 1.2}},
            **{f"{a}axis": {**axis, "title": {"text": t}} for a, t in zip("xyz", axis_titles)}}


def plane(axis_titles: Sequence[str]) -> dict[str, Any]:
    """Layout of a 2-D projection of a 3-D view (print): the first two axis titles on x and y."""
    axis = {"gridcolor": "#eee", "zeroline": False, "automargin": True}
    return {"xaxis": {**axis, "title": {"text": axis_titles[0]}},
            "yaxis": {**axis, "title": {"text": axis_titles[1]}}}


def check_projection(projection: str) -> str:
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}; got {projection!r}. Use '3d' on screen, "
                         "'2d' for print")
    return projection


def bootstraps_text(n_boot: int | Sequence[int] | None) -> str:
    """'30 bootstraps', or '10-30 bootstraps' when the sources of a figure differ; '' without a count
    (None entries: sources that did not record one)."""
    given = [n_boot] if isinstance(n_boot, (int, np.integer)) else n_boot or ()
    counts = sorted({int(n) for n in given if n is not None})
    if not counts:
        return ""
    return f"{counts[0]}{'' if len(counts) == 1 else f'-{counts[-1]}'} bootstraps"


def counts_text(counts: Mapping[str, int] | None) -> str:
    """'637 units · 48 conditions · 30 bootstraps' from a view's ``counts`` (only the counts it has)."""
    words = (("n_units", "units"), ("n_points", "units drawn"), ("n_conditions", "conditions"),
             ("n_boot", "bootstraps"), ("n_bio_units", "biological units"))
    return " · ".join(f"{int(counts[k])} {w}" for k, w in words if (counts or {}).get(k) is not None)


@functools.lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    return pio.templates[TEMPLATE].to_plotly_json()


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def figure(data: Sequence[Mapping[str, Any]] = (), layout: Mapping[str, Any] | None = None, *,
           title: str | None = None, subtitle: str | None = None, height: int | None = None) -> go.Figure:
    """Assemble a figure from trace dicts and a layout dict on top of the shared look (template, fonts,
    margins, ``uirevision`` so camera and zoom survive data updates); ``subtitle`` (e.g. ``counts_text``)
    is a smaller grey line under the title.

    Built without plotly's per-property validation, most of the cost of a figure with many traces (88
    trajectories); tests/app/test_figures.py checks every builder's output against the validating
    constructor instead.
    """
    base = {"template": _template(), "font": FONT, "uirevision": "keep", "legend": {"itemsizing": "constant"},
            "margin": {"l": 40, "r": 20, "t": (65 if subtitle else 50) if title or subtitle else 20, "b": 40}}
    if title or subtitle:  # left-aligned, so it never runs under the mode bar (top right)
        small = subtitle and f"<span style='font-size:11px;color:#666'>{subtitle}</span>"
        text = "<br>".join(filter(None, [title, small]))
        base["title"] = {"text": text, "x": 0.01, "xanchor": "left", "font": {"size": 13}}
    if height:
        base["height"] = height
    return go.Figure(data=[dict(t) for t in data], layout=_merge(base, layout or {}), _validate=False)


@functools.lru_cache(maxsize=32)
def _subplot_layout(rows: int, cols: int, options: str) -> dict[str, Any]:
    import json

    return make_subplots(rows=rows, cols=cols, **json.loads(options)).layout.to_plotly_json()


def subplot_layout(rows: int, cols: int, **options: Any) -> dict[str, Any]:
    """The layout (axis domains, subplot titles) of ``make_subplots(rows, cols, **options)``, cached.
    Subplot (r, c) uses axes ``axis_ref(r, c, cols)``."""
    import json

    return copy.deepcopy(_subplot_layout(rows, cols, json.dumps(options, sort_keys=True)))


def axis_ref(row: int, col: int, cols: int) -> tuple[str, str]:
    """("x2", "y2")-style references of subplot (row, col), 1-based, in a grid with ``cols`` columns."""
    k = (row - 1) * cols + col
    suffix = "" if k == 1 else str(k)
    return f"x{suffix}", f"y{suffix}"


def provenance_note(fig: go.Figure, *, untrained: bool = False, reconstructed: bool = False,
                    extra: str | None = None, y: float = -0.02) -> go.Figure:
    """Add the badge line ("untrained (random weights)", "reconstructed from published factors", extra)
    under the plot when any applies, at paper height ``y`` (lower it below x tick labels); returns ``fig``."""
    parts = [t for flag, t in ((untrained, UNTRAINED_TEXT), (reconstructed, RECONSTRUCTED_TEXT)) if flag]
    if extra:
        parts.append(extra)
    if parts:
        fig.add_annotation(text=" · ".join(parts), xref="paper", yref="paper", x=0.0, y=y,
                           xanchor="left", yanchor="top", showarrow=False,
                           font={"size": 11, "color": "#b35806"}, name="provenance")
    return fig


def empty_figure(message: str, *, title: str | None = None) -> go.Figure:
    """A figure that says why nothing is drawn (no data, nothing selected, not computed yet)."""
    note = dict(text=message, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False,
                font={"size": 14, "color": "#666"}, name="empty")
    return figure(layout={"annotations": [note], "xaxis": {"visible": False}, "yaxis": {"visible": False}},
                  title=title)


def significance_stars(p: float | None) -> str:
    """'***' (p < 0.001), '**' (< 0.01), '*' (< 0.05), 'n.s.' otherwise; '' when p is None or NaN."""
    if p is None or p != p:
        return ""
    return "***" if p < 1e-3 else "**" if p < 1e-2 else "*" if p < 0.05 else "n.s."
