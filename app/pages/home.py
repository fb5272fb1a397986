"""Home: what twinscope is, what the study found, the data status, and three entry points into the pages."""

from __future__ import annotations

from dash import dcc, html

from app.ids import HomeIds
from app.state import encode_query

PAGE = {"path": "/", "name": "Home", "title": "twinscope"}
INTRO = (
    "twinscope is a physiology rig for digital twins of mouse visual cortex. It shows the FNN foundation model "
    "(the MICrONS digital twin, Wang et al. 2025) the parametric stimuli of Dyballa et al. 2024 (drifting "
    "gratings and dot flows in 8 directions), reads out units in each module, and compares the population "
    "geometry with real mouse retina and V1: decoding manifolds and trajectories, encoding manifolds, "
    "tubularity and alignment scores. It reproduces Bertram et al. (ICML 2026, \"How 'Neural' is a Neural "
    "Foundation Model?\"), which found that the FNN's decoding trajectories become tube-like (retina-like) "
    "only in its recurrent and readout modules, that its encoding manifolds do not show the cell-type "
    "organisation of biology, and that its alignment with V1 stays modest in every module.")


def entry_points(catalog) -> list[tuple[str, str, str]]:
    """(title, what it opens, href) of the three ways in, pre-filled from the catalogue."""
    from app.catalog import source_token

    bio = [source_token("bio", name) for name in catalog.datasets]
    model = f"model:{catalog.profile.model}"
    module = catalog.default_modules(model)
    return [
        ("See the retina and V1 now", "Encoding manifolds of both datasets side by side, coloured by cell type "
         "and layer (from the published factors: seconds).",
         "/compare" + encode_query({"sources": bio, "view": "encoding"})),
        ("Explore a model module", f"Decoding and encoding views of {catalog.models[catalog.profile.model].label}"
         f" / {', '.join(module)}; the page states the cost before Run.",
         "/explore" + encode_query({"source": model, "modules": module})),
        ("Compare with biology", "Tubularity of the model's modules against the retina and V1 reference "
         "bands; pick the modules to extract.",
         "/tubularity" + encode_query({"sources": catalog.default_model_tokens() + bio})),
    ]


def layout(catalog, **_query) -> html.Div:
    cards = [html.Div([html.H3(dcc.Link(title, href=href, id={"type": HomeIds.ENTRY, "index": i})),
                       html.P(text)], className="entry")
             for i, (title, text, href) in enumerate(entry_points(catalog))]
    return html.Div([
        html.H2("twinscope"),
        html.P(INTRO, className="intro"),
        html.Div(cards, className="entries"),
        html.H3("Data on this machine"),
        html.Div("checking ...", id=HomeIds.STATUS, className="status"),
        html.P(["Every setting that changes a number, with the paper's choice and where to change it: ",
                dcc.Link("Methods and decisions", href="/methods", id=HomeIds.METHODS_LINK), "."]),
        dcc.Store(id=HomeIds.LOADED, data=catalog.profile.name),
    ], className="home")
