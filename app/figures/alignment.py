"""Alignment figures: score vs module with 95 % bands per dataset (error bars for a single module), one
panel per method, and the mean-alignment table."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from app.figures.style import (BELOW_TICK_LABELS, axis_ref, bootstraps_text, empty_figure, figure, provenance_note,
                               source_color, subplot_layout)

METHOD_TITLES = {"rsa": "RSA", "cca": "CCA", "lp": "linear predictivity", "dsa": "DSA (1 - distance)",
                 "dsa_z": "DSA z (vs time-shuffled)", "mean": "mean alignment"}


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _band_drawable(low: np.ndarray, high: np.ndarray) -> bool:
    """A filled band needs at least two x positions with a finite interval; otherwise it draws as stray
    dots, and the interval is shown as error bars on the mean markers instead."""
    return int((np.isfinite(low) & np.isfinite(high)).sum()) >= 2


def alignment_figure(modules: Sequence[str], scores: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]], *,
                     methods: Sequence[str] | None = None, n_boot: int | Sequence[int] | None = None,
                     title: str | None = None, untrained: bool = False, reconstructed: bool = False) -> go.Figure:
    """Alignment of each module with each dataset, one panel per method.

    Parameters
    ----------
    modules : sequence of str, length n_modules (x axis, in order)
    scores : mapping dataset -> method -> {"mean": (n_modules,), "low": (n_modules,), "high": (n_modules,)}
        "low"/"high" (95 % interval) are optional; NaN marks a module without a value.
    methods : sequence of str, optional
        Panels to draw, default every method present (keys of ``METHOD_TITLES`` give the titles).
    n_boot : int or sequence of int, optional
        Bootstrap resamples of units behind the means and intervals, named in the note under the plot.

    Returns
    -------
    go.Figure
        Per panel and dataset: an optional band trace (``meta.kind == "band"``) then the mean line
        (``meta.kind == "mean"``, legend entry = dataset). Where fewer than two modules have an interval
        (e.g. a single module), the interval is drawn as error bars (``error_y``) on the mean trace.
    """
    modules = list(modules)
    present = [m for m in METHOD_TITLES if any(m in per for per in scores.values())]
    methods = present if methods is None else [m for m in methods if m in present]
    if not modules or not methods:
        return empty_figure("no alignment computed yet", title=title)
    cols = len(methods)
    layout = subplot_layout(1, cols, subplot_titles=[METHOD_TITLES.get(m, m) for m in methods],
                            horizontal_spacing=0.06)
    data = []
    for col, method in enumerate(methods, start=1):
        xref, yref = axis_ref(1, col, cols)
        for dataset, per_method in scores.items():
            if method not in per_method:
                continue
            values = {k: np.asarray(v, dtype=float) for k, v in per_method[method].items()}
            for k, v in values.items():
                if v.shape != (len(modules),):
                    raise ValueError(f"{dataset}/{method}/{k} must have {len(modules)} values; got {v.shape}")
            color = source_color(dataset)
            mean = dict(type="scatter", x=modules, y=values["mean"], mode="lines+markers", name=dataset,
                        xaxis=xref, yaxis=yref, line={"color": color}, legendgroup=dataset,
                        showlegend=col == 1, hovertemplate=f"{dataset} %{{x}}: %{{y:.3f}}<extra></extra>",
                        meta={"kind": "mean", "dataset": dataset, "method": method})
            if "low" in values and "high" in values:
                if _band_drawable(values["low"], values["high"]):
                    data.append(dict(type="scatter", x=modules + modules[::-1], xaxis=xref, yaxis=yref,
                                     y=np.concatenate([values["high"], values["low"][::-1]]), fill="toself",
                                     fillcolor=_rgba(color, 0.18), line={"width": 0}, hoverinfo="skip",
                                     showlegend=False, legendgroup=dataset,
                                     meta={"kind": "band", "dataset": dataset, "method": method}))
                else:
                    mean["error_y"] = {"type": "data", "symmetric": False, "array": values["high"] - values["mean"],
                                       "arrayminus": values["mean"] - values["low"], "color": color,
                                       "thickness": 1.5, "width": 6}
            data.append(mean)
        if col == 1 or method == "dsa_z":
            layout["yaxis" + yref[1:]]["title"] = {"text": "z" if method == "dsa_z" else "score"}
    layout["margin"] = {"l": 50, "r": 20, "t": 60, "b": 80}
    boot = bootstraps_text(n_boot)
    return provenance_note(figure(data, layout, title=title), untrained=untrained, reconstructed=reconstructed,
                           extra=f"mean and 95 % interval over {boot} of units" if boot else None, y=BELOW_TICK_LABELS)


def alignment_heatmap(modules: Sequence[str], scores: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]], *,
                      n_boot: int | Sequence[int] | None = None, title: str | None = None, untrained: bool = False,
                      reconstructed: bool = False) -> go.Figure:
    """Alignment as a metric x module heatmap per dataset (values written in the cells; no lines between
    unrelated modules). Arguments as ``alignment_figure``; ``dsa_z`` (a z-score, not a score) is left out.

    Returns
    -------
    go.Figure
        One heatmap trace per dataset (``meta.dataset``), z of shape (n_methods, n_modules), NaN where
        missing; one shared colour scale from min(0, lowest score) to 1.
    """
    modules = list(modules)
    datasets = [d for d, per in scores.items() if any(m != "dsa_z" for m in per)]
    if not modules or not datasets:
        return empty_figure("no alignment computed yet", title=title)
    layout = subplot_layout(1, len(datasets), subplot_titles=datasets, horizontal_spacing=0.08)
    # one colour scale for all panels: 0..1, down to the lowest score when one is negative (RSA can be)
    zmin = min([0.0] + [float(np.nanmin(np.asarray(per[m]["mean"], dtype=float), initial=0.0))
                        for per in scores.values() for m in per if m != "dsa_z"])
    data = []
    for col, dataset in enumerate(datasets, start=1):
        # one row order in every panel (the stored order can differ between datasets)
        methods = sorted((m for m in scores[dataset] if m != "dsa_z"),
                         key=lambda m: (list(METHOD_TITLES).index(m) if m in METHOD_TITLES else len(METHOD_TITLES), m))
        z = np.array([np.asarray(scores[dataset][m]["mean"], dtype=float) for m in methods])
        if z.shape != (len(methods), len(modules)):
            raise ValueError(f"{dataset}: every method needs {len(modules)} values; got shape {z.shape}")
        xref, yref = axis_ref(1, col, len(datasets))
        data.append(dict(type="heatmap", z=z, x=modules, y=[METHOD_TITLES.get(m, m) for m in methods],
                         zmin=zmin, zmax=1.0, colorscale="Viridis", showscale=col == len(datasets),
                         colorbar={"title": {"text": "score"}}, text=np.vectorize(lambda v: "" if np.isnan(v)
                                                                                    else f"{v:.2f}")(z),
                         texttemplate="%{text}", hovertemplate="%{y} vs " + dataset + ", %{x}: %{z:.3f}<extra></extra>",
                         xaxis=xref, yaxis=yref, meta={"dataset": dataset}))
    for col in range(1, len(datasets) + 1):  # methods read top-down in the order given (RSA first)
        layout["yaxis" + axis_ref(1, col, len(datasets))[1][1:]]["autorange"] = "reversed"
    layout["margin"] = {"l": 140, "r": 20, "t": 60 if title else 40, "b": 80}
    fig = figure(data, layout, title=title)
    boot = bootstraps_text(n_boot)
    return provenance_note(fig, untrained=untrained, reconstructed=reconstructed,
                           extra=f"means over {boot} of units" if boot else None, y=BELOW_TICK_LABELS)


def alignment_table(modules: Sequence[str], means: Mapping[str, Sequence[float]], *, digits: int = 3
                    ) -> dict[str, Any]:
    """Mean alignment (mean of the four scores) per module and dataset, as DataTable props.

    Parameters
    ----------
    modules : sequence of str, length n_modules
    means : mapping dataset -> (n_modules,) floats (NaN = not computed)

    Returns
    -------
    dict with "columns" ([{"name", "id"}], first column "module") and "data" (one row dict per module;
    NaN -> None)
    """
    columns = [{"name": "module", "id": "module"}] + [{"name": d, "id": d} for d in means]
    rows = []
    for i, module in enumerate(modules):
        row: dict[str, Any] = {"module": module}
        for dataset, values in means.items():
            v = float(np.asarray(values, dtype=float)[i])
            row[dataset] = None if v != v else round(v, digits)
        rows.append(row)
    return {"columns": columns, "data": rows}


def alignment_table_figure(modules: Sequence[str], means: Mapping[str, Sequence[float]], *,
                           title: str | None = None) -> go.Figure:
    """``alignment_table`` drawn as a ``go.Table`` (for export)."""
    table = alignment_table(modules, means)
    if not table["data"]:
        return empty_figure("no alignment computed yet", title=title)
    ids = [c["id"] for c in table["columns"]]
    cells = [["" if row[i] is None else row[i] for row in table["data"]] for i in ids]
    data = [dict(type="table", header={"values": [c["name"] for c in table["columns"]], "fill": {"color": "#eee"}},
                 cells={"values": cells})]
    return figure(data, {"margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}}, title=title)
