"""Stimuli: the 11 classes x 8 directions of the suite and the user's clip classes; animated preview, class
thumbnails, and the choice of a clip set."""

from __future__ import annotations

from dash import dcc, html

from app.components import field, graph, notice
from app.ids import JobIds, StimuliIds
from app.state import Reader, encode_query

PAGE = {"path": "/stimuli", "name": "Stimuli", "title": "twinscope - stimuli"}

CLIPS_HELP = (
    "Your own clips become extra stimulus classes (clip_<file name>) of every model run. Put a folder of "
    "short clips (.mp4, .avi, .gif, or .npy arrays T x H x W of grey levels) into the server's clip folder "
    "(<data dir>/clips/<set name>/, where <data dir> is TWINSCOPE_DATA_DIR) and choose it here. A folder on "
    "the server rather than an upload: videos are often tens or hundreds of MB, which an upload would carry "
    "through the browser and the page's callbacks in memory; a folder is read once and hashed. Only folders "
    "in the clip folder can be chosen, so a browser cannot make the server read any other path. Each clip "
    "becomes grey (luminance), 30 Hz, centre-cropped to 144 x 256 after scaling to cover it (800 x 600 "
    "canvases: the suite's 0.7 resize). The chosen set is a setting of this server: every page, and every "
    "user of this server, then runs models on the suite plus these clips (their content enters every cache "
    "key). Biology has no responses to clips; its views leave them out and say so.")


def read_state(query: dict, catalog) -> tuple[dict, list[str]]:
    """State from the URL: ``cls`` (class name, default the first), ``dir`` (degrees, default 0)."""
    reader = Reader(query)
    stimuli = catalog.stimuli
    state = {"cls": reader.choice("cls", stimuli, stimuli[0]),
             "dir": int(reader.choice("dir", [str(d) for d in catalog.directions], "0"))}
    return state, reader.notices


def clip_controls() -> html.Div:
    """The clip-set chooser; its choices are filled in by ``callbacks.stimuli`` (they live on the server)."""
    return html.Div([
        html.H3("Your own clips"),
        html.P(CLIPS_HELP, className="caption"),
        html.Div([
            field("Clip set", dcc.Dropdown(id=StimuliIds.CLIP_SET, options=[], placeholder="no clip sets yet")),
            field("Directions", dcc.RadioItems(id=StimuliIds.CLIP_DIRECTIONS, value="8", inline=True, options=[
                {"label": "8 (moved like the suite's images)", "value": "8"},
                {"label": "1 (natural movie: the clip as it is in all 8 slots)", "value": "1"}])),
            field("Length", dcc.RadioItems(id=StimuliIds.CLIP_LENGTH, value="suite", inline=True, options=[
                {"label": "the suite's frames", "value": "suite"},
                {"label": "the shortest clip's length (every class)", "value": "clip"}])),
            dcc.Checklist(id=StimuliIds.CLIP_MATCH_MEAN, value=[], options=[
                {"label": "match each clip's mean luminance to the suite's grey (128)", "value": "on"}]),
        ], className="controls"),
        html.Div([html.Button("Use this clip set", id=StimuliIds.CLIP_USE, className="run-button"),
                  html.Button("No clips", id=StimuliIds.CLIP_NONE)], className="inline-controls"),
        html.P(id=StimuliIds.CLIP_STATUS, className="caption", role="status"),
        dcc.Store(id=StimuliIds.CLIP_CLASSES),
    ])


def layout(catalog, **query) -> html.Div:
    state, notices = read_state(query, catalog)
    return html.Div([
        notice(notices, "stimuli-notice"),
        dcc.Store(id=JobIds.query("stimuli"), data=encode_query(state)),
        html.Div([
            field("Stimulus class", dcc.Dropdown(
                id=StimuliIds.CLASS, options=[{"label": name, "value": name} for name in catalog.stimuli],
                value=state["cls"], clearable=False)),
            field("Direction (deg; 0 = rightward, 90 = upward)", dcc.RadioItems(
                id=StimuliIds.DIRECTION, options=[{"label": str(d), "value": d} for d in catalog.directions],
                value=state["dir"], inline=True)),
        ], className="controls"),
        html.P(id=StimuliIds.CAPTION, className="caption"),
        dcc.Loading(graph(StimuliIds.PREVIEW, height=420)),
        html.H3("All classes (click one)"),
        dcc.Loading(graph(StimuliIds.THUMBNAILS, height=220)),
        clip_controls(),
    ])
