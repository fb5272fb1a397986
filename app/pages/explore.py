"""Explore: one source (model modules or a biological dataset) through the linked views: decoding
manifold, decoding trajectories (time slider, crossing events), encoding manifold and a unit's PSTH."""

from __future__ import annotations

from dash import dcc, html

from app.components import field, graph, job_controls, notice
from app.ids import DELTA_DEFAULT, EPSILON_DEFAULT, RANK_HIGH, RANK_LOW, ExploreIds
from app.requests import explore_request, model_only_style
from app.state import Reader, encode_query

PAGE = {"path": "/explore", "name": "Explore", "title": "twinscope - explore"}
PRESET_CHOICES = ("bio-matched", "all", "custom")
PROJECTION_CHOICES = {"3d": "3-D", "2d": "2-D (DC1 x DC2, for print)"}


def read_state(query: dict, catalog) -> tuple[dict, list[str]]:
    """State from the URL.

    ``source`` ("model:<name>" or "bio:<dataset>"), ``modules`` (comma list), ``preset``
    (bio-matched | all | custom), ``stimuli`` (class names, used when preset=custom), ``show`` (module
    whose views are drawn), ``color`` (colour-by), ``t`` (time index, absent = full curves), ``cross``
    (1/0), ``eps`` (crossing epsilon in percent of the trajectories' bounding-box diagonal), ``delta`` (bins),
    ``proj`` (encoding manifold in 3d | 2d), ``unit`` (unit index of the PSTH), ``hl`` (highlighted condition), ``rank``
    (permuted-CP rank of the encoding manifolds of every selected module, RANK_LOW..RANK_HIGH; default
    ``catalog.default_rank`` of the shown module; None for a dataset).
    """
    reader = Reader(query)
    source = reader.choice("source", catalog.source_choices(), catalog.default_source)
    modules = catalog.modules_of(source)
    state = {"source": source,
             "modules": reader.choices("modules", modules, catalog.default_modules(source)) if modules else [],
             "preset": reader.choice("preset", PRESET_CHOICES, "bio-matched")}
    state["stimuli"] = (reader.choices("stimuli", catalog.stimuli, catalog.preset_names("bio-matched"))
                        if state["preset"] == "custom" else catalog.preset_names(state["preset"]))
    state["show"] = (reader.choice("show", state["modules"], state["modules"][0]) if state["modules"] else None)
    state["color"] = reader.choice("color", catalog.color_choices, catalog.default_color(source))
    state["t"] = reader.number("t", None, low=0, high=10_000, integer=True)
    state["cross"] = reader.flag("cross", False)
    state["eps"] = reader.number("eps", EPSILON_DEFAULT, low=1e-9, high=1e9)
    state["delta"] = reader.number("delta", DELTA_DEFAULT, low=0, high=10_000, integer=True)
    state["proj"] = reader.choice("proj", list(PROJECTION_CHOICES), "3d")
    state["unit"] = reader.number("unit", None, low=0, high=10**7, integer=True)
    state["hl"] = reader.number("hl", None, low=0, high=10_000, integer=True)
    default_rank = catalog.default_rank(source, state["show"])
    state["rank"] = (None if default_rank is None else
                     reader.number("rank", default_rank, low=RANK_LOW, high=RANK_HIGH, integer=True))
    return state, reader.notices


def layout(catalog, **query) -> html.Div:
    state, notices = read_state(query, catalog)
    return html.Div([
        notice(notices, ExploreIds.NOTICE),
        html.Div([
            field("Source", dcc.Dropdown(id=ExploreIds.SOURCE, options=catalog.source_options(),
                                         value=state["source"], clearable=False)),
            html.Div(field("Modules", dcc.Checklist(id=ExploreIds.MODULES, value=state["modules"], inline=True,
                                                    options=[{"label": m, "value": m}
                                                             for m in catalog.modules_of(state["source"])])),
                     id={"type": ExploreIds.MODEL_ONLY, "index": 0}, style=model_only_style(state["source"])),
            field("Stimulus classes", dcc.RadioItems(
                id=ExploreIds.PRESET, value=state["preset"], inline=True,
                options=[{"label": "bio-matched six", "value": "bio-matched"},
                         {"label": "all eleven", "value": "all"}, {"label": "custom", "value": "custom"}])),
            dcc.Checklist(id=ExploreIds.STIMULI, value=state["stimuli"], className="stimulus-checklist",
                          options=[{"label": html.Span([html.Img(src=f"/thumbnails/{name}.png",
                                                                 className="thumb"), name]), "value": name}
                                   for name in catalog.stimuli]),
            html.Div(id={"type": ExploreIds.MODEL_ONLY, "index": 1}, style=model_only_style(state["source"]),
                     className="inline-controls", children=[
                field(f"CP rank of the encoding manifold ({RANK_LOW}-{RANK_HIGH}, every selected module)",
                      dcc.Input(id=ExploreIds.RANK, type="number", value=state["rank"], step=1, debounce=True,
                                disabled=state["rank"] is None)),
                html.Span(id=ExploreIds.RANK_NOTICE, className="count", role="alert"),
            ]),
            *job_controls("explore", explore_request(state["source"], state["modules"], state["stimuli"],
                                                   state["rank"]), encode_query(state)),
        ], className="controls"),
        html.Div(id=ExploreIds.SUMMARY, className="summary"),
        html.Div(field("Show module", dcc.RadioItems(id=ExploreIds.SHOW, value=state["show"], inline=True,
                                                     options=[{"label": m, "value": m} for m in state["modules"]])),
                 id={"type": ExploreIds.MODEL_ONLY, "index": 2}, style=model_only_style(state["source"])),
        dcc.Store(id=ExploreIds.HIGHLIGHT, data=state["hl"]),
        dcc.Store(id=ExploreIds.DECODING_BASE),
        dcc.Store(id=ExploreIds.TRAJ_BASE),
        dcc.Store(id=ExploreIds.UNIT, data=state["unit"]),
        html.Div([
            html.Div([html.H3("Decoding manifold"), graph(ExploreIds.DECODING)], className="panel"),
            html.Div([
                html.H3("Decoding trajectories"), graph(ExploreIds.TRAJECTORIES),
                field("Time (grow curves up to bin)", dcc.Slider(id=ExploreIds.TIME, min=0, max=max(state["t"] or 1, 1), step=1,
                                                                  value=state["t"],
                                                                  marks=None, updatemode="drag")),
                html.Div([
                    dcc.Checklist(id=ExploreIds.CROSSINGS, options=[{"label": "crossing events", "value": "on"}],
                                  value=["on"] if state["cross"] else [], inline=True),
                    field("epsilon (% of the bounding-box diagonal)",
                          dcc.Input(id=ExploreIds.EPSILON, type="number", value=state["eps"], min=0, step="any",
                                    debounce=True)),
                    field("delta (bins)", dcc.Input(id=ExploreIds.DELTA, type="number", value=state["delta"],
                                                    min=0, step=1, debounce=True)),
                    html.Span(id=ExploreIds.CROSS_COUNT, className="count"),
                ], className="inline-controls"),
                graph(ExploreIds.CROSS_MATRIX, height=300),
            ], className="panel"),
            html.Div([
                html.H3("Encoding manifold"),
                html.Div([
                    field("Colour by", dcc.Dropdown(id=ExploreIds.COLOR_BY, value=state["color"], clearable=False,
                                                    options=[{"label": c, "value": c} for c in catalog.color_choices])),
                    field("Projection", dcc.RadioItems(id=ExploreIds.PROJECTION, value=state["proj"], inline=True,
                                                       options=[{"label": v, "value": k}
                                                                for k, v in PROJECTION_CHOICES.items()])),
                ], className="inline-controls"),
                graph(ExploreIds.ENCODING),
                graph(ExploreIds.NN_HISTOGRAM, height=260),
            ], className="panel"),
            html.Div([html.H3("Unit response (click a unit, or enter its index)"),
                      field("unit index", dcc.Input(id=ExploreIds.UNIT_SEARCH, type="number", min=0, step=1,
                                                    value=state["unit"], debounce=True)),
                      graph(ExploreIds.PSTH)], className="panel"),
        ], className="grid"),
    ])
