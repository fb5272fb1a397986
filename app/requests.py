"""What each page's Run button asks for: a job request {"page", "views": [{"view", "source", "options"}]}
built from the page's state. Read by the page layouts (the initial request) and by their callbacks (every
change), so callbacks never import page modules."""

from __future__ import annotations

from app.catalog import source_tokens, split_token
from app.ids import MAX_PANELS
from compute.clips import clip_names_in


def accuracy_request(tokens: list[str]) -> dict:
    return {"page": "accuracy", "views": [{"view": "accuracy", "source": token, "options": {}} for token in tokens]}


def alignment_request(tokens: list[str], datasets: list[str]) -> dict:
    return {"page": "alignment",
            "views": [{"view": "alignment", "source": token, "options": {"dataset": dataset}}
                      for dataset in datasets for token in tokens]}


def tubularity_request(tokens: list[str]) -> dict:
    return {"page": "tubularity",
            "views": [{"view": "tubularity", "source": token, "options": {}} for token in tokens]}


def compare_request(tokens: list[str], view: str, catalog) -> dict:
    """One artefact per panel: the decoding view (manifold and trajectories) or the encoding view (each
    model module at its default CP rank, ``Catalog.default_rank``)."""
    def options(token: str) -> dict:
        if view != "encoding":
            return {}
        kind, name, module = split_token(token)
        rank = catalog.default_rank(f"{kind}:{name}", module)
        return {} if rank is None else {"rank": rank}

    artefact = "encoding" if view == "encoding" else "decoding"
    return {"page": "compare", "views": [{"view": artefact, "source": token, "options": options(token)}
                                         for token in tokens[:MAX_PANELS]]}


def explore_request(source: str, modules: list[str], stimuli: list[str], rank: int | None = None) -> dict:
    """The decoding and encoding views of each module (or of the dataset); ``rank`` (None: the view's
    default) is the CP rank of every encoding view. A model's encoding manifold takes in the clip classes
    when any is among ``stimuli`` (``with_clips``)."""
    encoding = {} if rank is None else {"rank": int(rank)}
    if source.startswith("model:") and clip_names_in(stimuli):
        encoding["with_clips"] = True
    options = {"decoding": {"stimuli": list(stimuli)}, "encoding": encoding}
    return {"page": "explore",
            "views": [{"view": view, "source": token, "options": dict(options[view])}
                      for token in source_tokens(source, modules) for view in ("decoding", "encoding")]}


def model_only_style(source: str) -> dict:
    """Explore's module and rank controls are hidden for a dataset (it has neither)."""
    return {} if source.startswith("model:") else {"display": "none"}
