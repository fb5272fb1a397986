"""A unit's response map: stimuli x (direction, time) heatmap and PSTH lines at the preferred direction."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from app.figures.style import empty_figure, figure, stimulus_color, subplot_layout


def psth_figure(unit_map: np.ndarray, stimuli: Sequence[str], *, time: np.ndarray | None = None,
                time_unit: str = "s", directions: Sequence[float] | None = None, onset_index: int | None = None,
                title: str | None = None) -> go.Figure:
    """Heatmap of the response map (rows = stimuli, columns = direction blocks of n_time bins each) above
    PSTH lines (one per stimulus) at the first direction of the map (the preferred one when the map comes
    from ``compute.workflows.unit_response_map``).

    Parameters
    ----------
    unit_map : ndarray of shape (n_stimuli, n_directions, n_time)
    stimuli : sequence of str, length n_stimuli
    time : ndarray of shape (n_time,), optional
    directions : sequence of n_directions floats, optional
        Degrees relative to the preferred direction (default 0, 45, ...).
    onset_index : int, optional
        Stimulus onset bin, marked by a dashed line in the PSTH panel.

    Returns
    -------
    go.Figure
        Trace 0: the heatmap (row 1); traces 1..n_stimuli: PSTH lines (row 2).
    """
    unit_map = np.asarray(unit_map, dtype=float)
    if unit_map.ndim != 3 or unit_map.size == 0:
        return empty_figure("click a unit to see its responses", title=title)
    n_stim, n_dir, n_time = unit_map.shape
    if len(stimuli) != n_stim:
        raise ValueError(f"{len(stimuli)} stimulus names for a map of {n_stim} stimuli")
    time = np.arange(n_time) if time is None else np.asarray(time, dtype=float)
    directions = np.arange(n_dir) * 360.0 / n_dir if directions is None else np.asarray(directions, float)
    layout = subplot_layout(2, 1, row_heights=[0.55, 0.45], vertical_spacing=0.14,
                            subplot_titles=["responses: stimulus x (direction, time)",
                                            "PSTH at the preferred direction"])
    data = [dict(type="heatmap", z=unit_map.reshape(n_stim, n_dir * n_time), y=list(stimuli),
                 x=np.arange(n_dir * n_time), colorscale="Greys", xaxis="x", yaxis="y",
                 colorbar={"title": {"text": "response"}, "len": 0.5, "y": 0.78},
                 customdata=np.broadcast_to(np.repeat(directions, n_time), (n_stim, n_dir * n_time)),
                 hovertemplate="%{y}<br>direction %{customdata:g}°<br>value %{z:.3g}<extra></extra>")]
    data += [dict(type="scatter", x=time, y=unit_map[s, 0], mode="lines", name=name, xaxis="x2", yaxis="y2",
                  line={"color": stimulus_color(name), "width": 2}) for s, name in enumerate(stimuli)]
    shapes = [dict(type="line", x0=k * n_time - 0.5, x1=k * n_time - 0.5, xref="x", y0=0, y1=1, yref="y domain",
                   line={"color": "#d95f02", "width": 1}) for k in range(1, n_dir)]
    if onset_index is not None and 0 <= onset_index < n_time:
        onset = float(time[onset_index])
        shapes.append(dict(type="line", x0=onset, x1=onset, xref="x2", y0=0, y1=1, yref="y2 domain",
                           line={"dash": "dash", "color": "#999"}))
    layout["xaxis"].update(tickvals=(np.arange(n_dir) + 0.5) * n_time - 0.5,
                           ticktext=[f"{d:+g}°" if d else "pref." for d in directions])
    layout["yaxis"].update(autorange="reversed")
    layout["xaxis2"].update(title={"text": f"time ({time_unit})"})
    layout["yaxis2"].update(title={"text": "response"})
    layout.update(shapes=shapes, margin={"l": 40, "r": 20, "t": 60, "b": 40},
                  legend={"y": 0.42, "yanchor": "top", "font": {"size": 10}})  # below the colour bar
    return figure(data, layout, title=title)
