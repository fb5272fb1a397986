"""Fixtures of the app tests: a catalogue built by hand (no registry probe), an AppContext on a temp
cache, and helpers that plant view artefacts under the keys the app will ask for."""

from __future__ import annotations

import numpy as np
import pytest

from app.catalog import Catalog, ModelInfo
from compute.profiles import run_profile
from callbacks.context import AppContext
from compute.cache import ArtifactCache
from compute.config import Settings

SMALL_MODULES = ("Conv1", "Conv2", "Conv3", "Pool", "Output")
FNN_MODULES = ("Enc L1", "Enc L2", "Enc L4", "Enc L5", "Enc L7", "Enc L8", "Rec", "RecOut", "Readout", "Output")


@pytest.fixture
def catalog() -> Catalog:
    from compute.stimuli import CLASS_NAMES, DIRECTIONS, PRESETS

    models = {"fnn-random": ModelInfo("fnn-random", "FNN (untrained, random weights)", True, FNN_MODULES),
              "conv3d-random": ModelInfo("conv3d-random", "Small causal 3-D CNN (untrained, random weights)", True,
                                         SMALL_MODULES)}
    return Catalog(models=models, datasets=("retina", "V1"), classes=tuple(CLASS_NAMES),
                   directions=tuple(DIRECTIONS), presets=dict(PRESETS), profile=run_profile({"TWINSCOPE_PROFILE": "test"}))


@pytest.fixture
def ctx(tmp_path, data_dir, catalog) -> AppContext:
    settings = Settings(cache_dir=tmp_path, data_dir=data_dir, secret_key="test")
    return AppContext(settings=settings, cache=ArtifactCache(tmp_path / "artifacts"), catalog=catalog)


_BLANK = {"list": list, "dict": dict, "str": str, "int": int, "float": float}


def complete_artifact(view: str, arrays: dict, meta: dict) -> tuple[dict, dict]:
    """A planted artefact with every field of its view's type (``compute.views.VIEW_TYPES``): the fields a
    test does not set are blank (empty arrays, 0, "", [], {}; None where allowed)."""
    from dataclasses import MISSING, fields

    from compute.artifacts import field_kind
    from compute.views import VIEW_TYPES

    arrays, meta = dict(arrays), {"view": view, "counts": {}, "headline": {}, **meta}
    for f in fields(VIEW_TYPES[view]):
        if f.name in arrays or f.name in meta or f.default is not MISSING or f.default_factory is not MISSING:
            continue
        if field_kind(f) == "array":
            arrays[f.name] = np.zeros(0)
        else:
            meta[f.name] = None if "None" in str(f.type) else _BLANK[str(f.type)]()
    return arrays, meta


def plant_view(ctx: AppContext, view: str, token: str, arrays: dict, meta: dict, **options) -> str:
    """Store a view artefact under the key ``compute_view`` would use, so callbacks find it."""
    from compute.sources import Source
    from compute.workflows import normalise_options, view_key

    source = Source.parse(token)
    key = view_key(view, source, run=ctx.run, settings=ctx.settings, **options)
    base = {"source": token, "label": f"planted {token}", "options": normalise_options(view, options),
            "untrained": source.kind == "model", "reconstructed": source.kind == "bio"}
    ctx.cache.put(key, *complete_artifact(view, arrays, {**base, **meta}))
    return key


def decoding_arrays(n_stimuli: int = 2, n_time: int = 5) -> tuple[dict, dict]:
    """A decoding artefact: condition c = (s, d) sits at (s, d, 0); its trajectory runs along x over time."""
    labels = np.array([(s, d) for s in range(n_stimuli) for d in range(8)])
    coords = np.column_stack([labels[:, 0], labels[:, 1], np.zeros(len(labels))]).astype(float)
    curves = np.zeros((len(labels), n_time, 3))
    curves[:, :, 0] = np.arange(n_time)[None, :]
    curves[:, :, 1] = 10.0 * np.arange(len(labels))[:, None]
    arrays = {"coords": coords, "manifold_evr": np.array([0.5, 0.3, 0.1]), "labels": labels, "curves": curves,
              "trajectory_evr": np.array([0.6, 0.2, 0.1]), "time": np.arange(n_time) / 30.0,
              "directions": np.arange(0.0, 360.0, 45.0)}
    from compute.stimuli import CLASS_NAMES

    return arrays, {"stimuli": list(CLASS_NAMES[:n_stimuli]), "time_unit": "s", "missing_stimuli": []}


def encoding_arrays(n_units: int = 12) -> tuple[dict, dict]:
    rng = np.random.default_rng(0)
    arrays = {"coords": rng.normal(size=(n_units, 3)), "unit_index": np.arange(n_units),
              "color__cluster": np.arange(n_units) % 3, "color__OSI": rng.uniform(size=n_units),
              "color__DSI": rng.uniform(size=n_units), "color__intensity arm": np.zeros(n_units, bool),
              "color__stream": np.arange(n_units) % 4}
    options = {"cluster": "categorical", "OSI": "continuous", "DSI": "continuous", "intensity arm": "categorical",
               "stream": "categorical"}
    return arrays, {"color_options": options, "diagnostics": {}}
