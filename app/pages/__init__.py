"""The pages. Each module defines ``PAGE`` (path, name, title), ``read_state(query, catalog)`` and
``layout(catalog, **query)``; ``register_all`` registers them with Dash after the app exists (nothing is
registered at import)."""

from __future__ import annotations

import dash

from app.pages import accuracy, alignment, compare, explore, home, methods, report, stimuli, tubularity

PAGES = (home, stimuli, explore, compare, tubularity, alignment, accuracy, report, methods)


def _bind(layout, catalog):
    def page_layout(**query):
        query.pop("catalog", None)
        return layout(catalog, **query)

    return page_layout


def register_all(catalog) -> None:
    """Register every page; its layout is called with the query parameters of the URL."""
    for order, module in enumerate(PAGES):
        dash.register_page(module.__name__, order=order, layout=_bind(module.layout, catalog), **module.PAGE)
