"""Cached view workflows: a source + a selection + settings -> view artefacts under content keys.

The layer between the analyses and the pages, and the one route to a result: the Dash background jobs and
every analysis command of the CLI (``compute.cli._tables.cli_view``) call ``compute_view``; view callbacks
call ``load_view`` / ``view_summary`` / ``unit_response_map``. Sources, run settings and loading a source's
responses live in ``compute.sources``; the builders of each view (plain functions of response sets and
options) in ``compute.views``. Nothing here imports torch at import time, and the read-side functions never
import it at all.

Keys
----
``view_key`` = content key of (view, ``compute.sources.source_key``, normalised options), computable in the
web process without data, so a page can ask ``key in cache`` before offering to run anything.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

import numpy as np

from compute._validation import Bound, check_bound, check_int
from compute.bio.datasets import load_factors
from compute.cache import ArtifactCache, content_key, default_cache
from compute.config import Settings
from compute.jobs import JobControl, ensure_control
from compute.responses import ResponseSet
from compute.seed_ranks import STIMULUS_CHOICES
from compute.clips import clip_names_in
from compute.sources import (RunSettings, Source, cached_responses, resolve_defaults, source_key,
                             source_responses)
from compute.stimuli import CLASS_NAMES, resolve
from compute.views import BUILDERS, PRECHECKS, VIEW_TYPES, Inputs, View

# ---------------------------------------------------------------------------------------------- view keys
VIEWS = ("decoding", "accuracy", "tubularity", "alignment", "encoding")
_REQUIRED = object()
_COMMON = {"stimuli": None, "drop_flagged": False}
VIEW_OPTIONS: dict[str, dict[str, Any]] = {
    "decoding": dict(_COMMON),
    "accuracy": {**_COMMON, "windows": True},
    "tubularity": {**_COMMON, "n_boot": 30, "q": 0.9, "smoothing": 2.0, "sensitivity": True, "eps_rule": "authors",
                   "random_state": 0},
    "alignment": {"dataset": _REQUIRED, "drop_flagged": False, "preset": "interactive",
                  "methods": ("rsa", "cca", "lp", "dsa"), "n_boot": None, "n_nulls": None, "dsa_method": "angular",
                  "random_state": 0},
    "encoding": {"rank": None, "n_restarts": None, "preset": "publication", "stimulus_set": None, "ian": "lp",
                 "k_far": None, "k_near": None, "with_clips": False, "random_state": 0},
}
"""Options of each view and their defaults ("dataset" of "alignment" is required). ``stimuli``: None (the
analysis default: bio-matched six for decoding and tubularity, all classes for accuracy), a preset name of
``compute.stimuli.PRESETS`` ("bio-matched", "all", ...), or class names / indices in display order;
stimuli a source lacks are left out. ``drop_flagged``: remove intensity-arm units first. Encoding:
``n_restarts`` None = the preset's ("publication" 50, "interactive" 10, ``compute.views``); ``stimulus_set``
None = "optSF" for model units (``compute.seed_ranks.STIMULUS_CHOICES``); ``ian`` "lp" or "greedy" (quick);
``k_far`` / ``k_near`` None = 3 / 10 for model modules, 0 / 0 for biology. Alignment: ``n_boot`` / ``n_nulls``
None = the preset's (``compute.analysis.alignment.PRESETS``); ``dsa_method`` the DSA score method."""
VIEW_VERSIONS: dict[str, int] = {"accuracy": 5, "tubularity": 2, "alignment": 2, "encoding": 4}
"""Version of each view's artefact, part of its key (views not listed: 1); bump it when a view's numbers change.
accuracy 3: fits solved to convergence (max |gradient| 1e-6) in principal-axis coordinates; accuracy 4:
warm-started window families, the whole trial computed once; accuracy 5: warm starts extrapolated from a
chain's last three windows; tubularity 2: the authors' eps rule (METHODS 6.4
v2); alignment 2: LP clips per brain PC, DSA angular (METHODS 7 v2); encoding 2: METHODS 5 v2 defaults,
preferred direction from the units' tuning where the manifold has none (v1 stored NaN for biology); encoding 3:
meta holds the clusteredness numbers (same manifold); encoding 4: permuted CP stops by the authors' L-BFGS-B
criteria."""
OPTION_BOUNDS: dict[str, Bound] = {
    "drop_flagged": Bound(bool), "windows": Bound(bool), "sensitivity": Bound(bool),
    "n_boot": Bound(int, 2, 200), "q": Bound(float, 0.5, 1.0), "smoothing": Bound(float, 0.01, 10.0),
    "random_state": Bound(int, 0, 2**32 - 1),
    "dataset": Bound(str, choices=("retina", "V1")),
    "preset": Bound(str, choices=("interactive", "publication")),
    "methods": Bound(list, choices=("rsa", "cca", "lp", "dsa")),
    "rank": Bound(int, 2, 40, optional=True), "n_restarts": Bound(int, 1, 100, optional=True),
    "eps_rule": Bound(str, choices=("authors", "exact")),
    "alignment.n_boot": Bound(int, 2, 200, optional=True), "n_nulls": Bound(int, 1, 200, optional=True),
    "dsa_method": Bound(str, choices=("angular", "wasserstein", "euclidean")),
    "stimulus_set": Bound(str, choices=STIMULUS_CHOICES, optional=True),
    "ian": Bound(str, choices=("lp", "greedy")),
    "k_far": Bound(int, 0, 100, optional=True), "k_near": Bound(int, 0, 100, optional=True),
    "with_clips": Bound(bool),
}
"""Allowed values of every option of ``VIEW_OPTIONS`` but ``stimuli`` (``compute.stimuli.resolve``): one
declaration for the pages' fields, the URL readers and every request (a browser's stores are not trusted).
A "<view>.<option>" entry overrides the option's bound in that view (alignment's n_boot None = the preset's).
Choices mirror ``compute.bio.datasets.DATASETS``, ``compute.analysis.alignment.PRESETS`` / ``METHODS`` /
``DSA_METHODS``, ``compute.analysis.tubularity`` eps rules, which are not imported here (scikit-learn,
about 2 s)."""


def normalise_options(view: str, options: Mapping[str, Any], *, clips: Sequence[str] = ()) -> dict[str, Any]:
    """Options of ``view`` with defaults filled in, presets resolved and sequences as lists.

    ``clips``: the clip classes of the run (a model source's), after ``CLASS_NAMES`` in "all"."""
    if view not in VIEW_OPTIONS:
        raise ValueError(f"unknown view {view!r}; views are {list(VIEWS)}")
    accepted = VIEW_OPTIONS[view]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for view {view!r}; accepted: {sorted(accepted)}")
    out = {**accepted, **options}
    missing = [k for k, v in out.items() if v is _REQUIRED]
    if missing:
        raise ValueError(f"view {view!r} needs option(s) {missing}, e.g. dataset='V1'")
    for name in options:
        bound = OPTION_BOUNDS.get(f"{view}.{name}", OPTION_BOUNDS.get(name))
        if bound is not None:
            out[name] = check_bound(out[name], bound, name=name)
    if out.get("stimuli") is not None:
        # Clip classes are accepted by name; a source that lacks one leaves it out (biology lacks them all).
        available = CLASS_NAMES + tuple(dict.fromkeys((*clips, *clip_names_in(out["stimuli"]))))
        out["stimuli"] = list(resolve(out["stimuli"], available))
    if "methods" in out:
        out["methods"] = list(out["methods"])
    return out


def _run_clips(source: Source, run: RunSettings) -> tuple[str, ...]:
    return run.clips.names if source.kind == "model" and run.clips is not None else ()


def view_key(view: str, source: Source, *, run: RunSettings = RunSettings(), settings: Settings | None = None,
             **options: Any) -> str:
    """Content key of a view artefact; cheap (no data, no torch)."""
    opts = normalise_options(view, options, clips=_run_clips(source, run))
    return content_key(f"view-{view}", source=source_key(source, run=run, settings=settings), options=opts,
                       version=VIEW_VERSIONS.get(view, 1))


# ---------------------------------------------------------------------------------------------- compute / load
def _inputs(view: str, source: Source, opts: Mapping[str, Any], load: Callable[[Source, JobControl], ResponseSet],
            settings: Settings, control: JobControl) -> Inputs:
    """Everything the builder of ``view`` reads besides the source's responses (``compute.views.Inputs``)."""
    bio = load(Source("bio", opts["dataset"]), control) if view == "alignment" else None
    factors = None
    if view == "encoding" and source.kind == "bio":
        factors = load_factors(source.name, data_dir=settings.bio_dir)
    return Inputs(module=source.module, bio=bio, factors=factors)


def compute_view(view: str, source: Source, *, run: RunSettings = RunSettings(), cache: ArtifactCache | None = None,
                 settings: Settings | None = None, control: JobControl | None = None, **options: Any) -> str:
    """Compute (once) and store a view artefact; returns its key.

    An existing key is never recomputed (``ArtifactCache.get_or_compute``; concurrent identical requests
    compute once). Progress: 0-50 % source responses, 50-100 % the analysis. Options: ``VIEW_OPTIONS``.
    The artefact layout of each view is documented in ``compute.views``.
    """
    cache, settings = resolve_defaults(cache, settings)
    control = ensure_control(control)
    opts = normalise_options(view, options, clips=_run_clips(source, run))
    if view in PRECHECKS:
        PRECHECKS[view](source.module, **opts)
    key = view_key(view, source, run=run, settings=settings, **opts)
    if key in cache:
        control.report(1.0, f"{view}: from cache")
        return key

    def load(src: Source, ctl: JobControl) -> ResponseSet:
        # A constant set (e.g. all zero) would only meet numerical noise in the analyses: say so instead.
        return source_responses(src, run=run, cache=cache, settings=settings, control=ctl).require_variation()

    if source.kind == "bio" and opts.get("stimuli") and set(opts["stimuli"]) <= set(clip_names_in(opts["stimuli"])):
        raise ValueError(f"clip stimuli have no biological responses; choose some of the suite's classes "
                         f"for {source.name}, or a model source for {opts['stimuli']}")

    def build() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        rs = load(source, control.sub(0.0, 0.5))
        control.check()
        built = BUILDERS[view](rs, _inputs(view, source, opts, load, settings, control.sub(0.5, 0.55)),
                               control=control.sub(0.5, 1.0), **opts)
        left_out = [s for s in getattr(built, "missing_stimuli", ()) if s in clip_names_in([s])]
        note = "; clip stimuli have no biological responses, left out" if left_out and source.kind == "bio" else ""
        flags = {name: bool(rs.provenance.get(name, False)) if getattr(built, name) is None else getattr(built, name)
                 for name in ("untrained", "reconstructed")}
        return replace(built, view=view, source=source.to_token(), label=rs.label + note, options=opts,
                       input_hash=rs.content_hash(), **flags).to_arrays()

    cache.get_or_compute(key, build)
    control.report(1.0, f"{view}: done")
    return key


def load_view(key: str, *, cache: ArtifactCache | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata of a view artefact as stored (KeyError when absent), e.g. for export."""
    return (default_cache() if cache is None else cache).get(key)


def load_typed(key: str, *, cache: ArtifactCache | None = None) -> View:
    """The typed artefact of a view (``compute.views.VIEW_TYPES``: ``DecodingView`` ...); KeyError when absent,
    ValueError when the stored layout is not its view's."""
    arrays, meta = load_view(key, cache=cache)
    if meta.get("view") not in VIEW_TYPES:
        raise ValueError(f"{key!r} is not a view artefact (meta 'view' = {meta.get('view')!r}; "
                         f"views are {list(VIEW_TYPES)})")
    return VIEW_TYPES[meta["view"]].from_arrays(arrays, meta)


_SUMMARY_FIELDS = ("view", "source", "label", "untrained", "reconstructed", "counts", "headline")


def view_summary(key: str, *, cache: ArtifactCache | None = None) -> dict[str, Any]:
    """Small JSON (< 10 kB) for a dcc.Store: key, view, source token, label, untrained / reconstructed
    flags, counts (n_units, n_stimuli, ...) and headline numbers of the view. KeyError when absent."""
    meta = (default_cache() if cache is None else cache).meta(key)
    return {"key": key, **{k: meta[k] for k in _SUMMARY_FIELDS if k in meta}}


def unit_response_map(source: Source, unit_index: int, *, run: RunSettings = RunSettings(),
                      cache: ArtifactCache | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """One unit's response map rolled so that its preferred direction comes first (for the PSTH panel).

    Reads cached responses only (a model module must have been extracted by a view job; KeyError
    otherwise); biology is loaded on demand (no torch).

    Returns
    -------
    dict with
        map : ndarray of shape (n_stimuli, 8, n_time), float32; map[:, 0] is the preferred direction
        stimuli : list of str, length n_stimuli
        directions : ndarray of shape (8,), degrees relative to the preferred direction (0, 45, ...)
        preferred_direction : float, degrees (absolute)
        time : ndarray of shape (n_time,); time_unit : str; onset_index : int
        unit : dict of this unit's metadata (module, stream, channel, ... or cell_type, layer ...)
        label : str; unit_index : int
    """
    from compute.analysis.diagnostics import unit_tuning

    check_int(unit_index, name="unit_index", low=0)
    cache, settings = resolve_defaults(cache, settings)
    rs = cached_responses(source, run, cache, settings)
    if rs is None:
        if source.kind == "model":
            raise KeyError(f"responses of {source.to_token()!r} are not computed yet; run a view first")
        rs = source_responses(source, run=run, cache=cache, settings=settings)
    check_int(unit_index, name="unit_index", low=0, high=rs.n_units - 1, why=f" (the units of {rs.label})")
    one = rs.select(units=[int(unit_index)])
    preferred = float(np.asarray(unit_tuning(one).preferred_direction).reshape(-1)[0]) % 360.0
    step = 360.0 / len(rs.directions)
    shift = int(np.argmin(np.abs(((rs.directions - preferred) + 180.0) % 360.0 - 180.0)))
    return {
        "map": np.roll(one.responses[0], -shift, axis=1),
        "stimuli": list(rs.stimuli),
        "directions": np.arange(len(rs.directions)) * step,
        "preferred_direction": preferred,
        "time": rs.time, "time_unit": rs.time_unit, "onset_index": int(rs.onset_index),
        "unit": {k: v[unit_index].item() for k, v in rs.units.items()},
        "label": rs.label, "unit_index": int(unit_index),
    }
