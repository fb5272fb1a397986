"""Stimulus figures: the class thumbnail strip and the animated preview of one sequence.

Images travel as PNG data URIs (``go.Image(source=...)``): a 37-frame 144x256 preview is about 0.3 MB
of JSON instead of about 12 MB as pixel lists.
"""

from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from app.figures.style import empty_figure, figure, stimulus_color


def png_data_uri(image: np.ndarray) -> str:
    """A (H, W) uint8 grey image as a 'data:image/png;base64,...' URI."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


_IMAGE_AXES = {"xaxis": {"visible": False, "showgrid": False},
               "yaxis": {"visible": False, "showgrid": False, "scaleanchor": "x"}}


def thumbnail_strip(thumbnails: np.ndarray, names: Sequence[str], *, gap: int = 8) -> go.Figure:
    """All classes side by side, each titled in its class colour.

    Parameters
    ----------
    thumbnails : ndarray of shape (n_classes, H, W), uint8
        One frame per class (e.g. frame 0 of direction 0, instance 0).
    names : sequence of str, length n_classes

    Returns
    -------
    go.Figure
        One ``go.Image`` trace per class (``name`` = class name, ``meta`` = {"class_index", "name"}),
        so a click's ``curveNumber`` is the class index.
    """
    thumbnails = np.asarray(thumbnails)
    if thumbnails.ndim != 3 or thumbnails.shape[0] == 0:
        return empty_figure("no stimulus classes to show")
    if len(names) != thumbnails.shape[0]:
        raise ValueError(f"{len(names)} names for {thumbnails.shape[0]} thumbnails")
    n, h, w = thumbnails.shape
    data, annotations = [], []
    for i, (image, name) in enumerate(zip(thumbnails, names)):
        x0 = i * (w + gap)
        data.append(dict(type="image", source=png_data_uri(image), x0=x0, y0=0, dx=1, dy=1, name=name,
                         meta={"class_index": i, "name": name}, hovertemplate=f"{name}<extra></extra>"))
        annotations.append(dict(text=name, x=x0 + w / 2, y=-4, yanchor="bottom", showarrow=False,
                                font={"size": 11, "color": stimulus_color(name)},
                                bgcolor="#f5f5f5", bordercolor=stimulus_color(name), borderwidth=1))
    return figure(data, {**_IMAGE_AXES, "annotations": annotations, "margin": {"l": 0, "r": 0, "t": 24, "b": 0},
                         "yaxis": {**_IMAGE_AXES["yaxis"], "autorange": "reversed"}}, height=160)


def sequence_preview(frames: np.ndarray, *, fps: float = 30.0, title: str | None = None) -> go.Figure:
    """Animated preview of one stimulus sequence with play / pause buttons and a frame slider.

    Parameters
    ----------
    frames : ndarray of shape (n_frames, H, W), uint8
    fps : float, default=30.0
        Playback rate (frame duration 1000 / fps ms).

    Returns
    -------
    go.Figure
        Frame 0 as the trace; ``fig.frames`` named "0" .. str(n_frames - 1).
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] == 0:
        return empty_figure("no frames to show", title=title)
    uris = [png_data_uri(f) for f in frames]
    duration = 1000.0 / fps
    fig = figure([dict(type="image", source=uris[0], hoverinfo="skip")], _IMAGE_AXES, title=title)
    fig.frames = [go.Frame(data=[go.Image(source=u)], name=str(k)) for k, u in enumerate(uris)]
    play = {"frame": {"duration": duration, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    stop = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate", "transition": {"duration": 0}}
    fig.update_layout(
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0.0, "y": -0.05, "xanchor": "left",
                      "yanchor": "top", "showactive": False,
                      "buttons": [{"label": "▶ play", "method": "animate", "args": [None, play]},
                                  {"label": "❚❚ pause", "method": "animate", "args": [[None], stop]}]}],
        sliders=[{"active": 0, "x": 0.2, "len": 0.8, "y": -0.05, "yanchor": "top",
                  "currentvalue": {"prefix": "frame "},
                  "steps": [{"label": str(k), "method": "animate",
                             "args": [[str(k)], {**stop, "frame": {"duration": 0, "redraw": True}}]}
                            for k in range(len(uris))]}],
        margin={"l": 0, "r": 0, "t": 40 if title else 10, "b": 70})
    return fig
