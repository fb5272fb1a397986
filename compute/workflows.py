"""Cached view workflows: a source + a selection + settings -> view artefacts under content keys.

The layer between the analyses and the pages, and the one route to a result: the Dash background jobs and
every analysis command of the CLI (``compute.cli._tables.cli_view``) call ``compute_view``; view callbacks
call ``load_view`` / ``view_summary`` / ``unit_response_map`` and the collectors (``accuracy_series``,
``tubularity_comparison``, ``alignment_series``) whose dicts are the keyword arguments of the figure builders
in ``app/figures``. Nothing here imports torch at import time, and the read-side functions never import it at
all: a model's responses are found through a small pointer artefact written when they were extracted.

Keys
----
``source_key`` identifies a source's response set (model + module + run settings, or dataset + seed + traces
folder); ``view_key`` = content key of (view, source key, normalised options). Both are computable in the web
process without data, so a page can ask ``key in cache`` before offering to run anything.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote_plus, unquote_plus

import numpy as np

from compute._validation import Bound, check_bound
from compute.bio import datasets as bio_datasets
from compute.cache import ArtifactCache, content_key, default_cache
from compute.config import Settings
from compute.jobs import JobControl, ensure_control
from compute.models.registry import get_model
from compute.responses import ResponseSet
from compute.sampling import SamplingSettings
from compute.seed_ranks import STIMULUS_CHOICES
from compute.stimuli import SuiteSpec, resolve

KINDS = ("model", "bio")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
_RECONSTRUCTED = "reconstructed from published factors"


# ---------------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Source:
    """What a view is computed on: a model module or a biological dataset.

    kind : "model" | "bio"
    name : model registry name ("fnn-random", "fnn-official", "conv3d-random") or dataset ("retina", "V1")
    module : module name of a model ("Enc L1", ..., "Output"); None for biology

    Names may hold letters, digits, space, '.', '_' and '-' (never a path); whether a name exists is
    checked by the registry / loader when data is first needed.
    """

    kind: str
    name: str
    module: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"source kind must be one of {KINDS}; got {self.kind!r}")
        for what, value in (("name", self.name), ("module", self.module)):
            if value is None and what == "module":
                continue
            if not isinstance(value, str) or not _NAME.match(value):
                raise ValueError(f"source {what} must be 1-64 letters, digits, spaces, '.', '_' or '-'; "
                                 f"got {value!r}")
        if self.kind == "model" and self.module is None:
            raise ValueError(f"a model source needs a module, e.g. 'model:{self.name}:Rec'")
        if self.kind == "bio" and self.module is not None:
            raise ValueError(f"a biological source has no module; use 'bio:{self.name}'")

    def to_token(self) -> str:
        """URL-safe token: 'model:fnn-random:Enc+L1' or 'bio:V1' (spaces become '+')."""
        parts = [self.kind, self.name] + ([] if self.module is None else [self.module])
        return ":".join(quote_plus(p) for p in parts)

    @classmethod
    def parse(cls, token: str) -> "Source":
        """Inverse of ``to_token``; also accepts spaces in place of '+'."""
        if not isinstance(token, str):
            raise TypeError(f"source token must be a str; got {type(token).__name__}")
        parts = [unquote_plus(p) for p in token.split(":")]
        if len(parts) not in (2, 3) or parts[0] not in KINDS:
            raise ValueError(f"cannot read source {token!r}; expected 'model:<model>:<module>' "
                             "(e.g. 'model:fnn-random:Rec') or 'bio:<dataset>' (e.g. 'bio:V1')")
        return cls(*parts)

    @property
    def label(self) -> str:
        """Human label, e.g. 'FNN (untrained, random weights) / Rec' or
        'V1 (reconstructed from published factors)'. For a model this asks the model registry (which may
        probe weight files); in the web process read ``view_summary(key)["label"]`` instead."""
        if self.kind == "bio":
            return _bio_label(self.name, Settings.from_env().bio_traces_dir is None)
        return f"{get_model(self.name).label} / {self.module}"


def _bio_label(name: str, reconstructed: bool) -> str:
    return f"{name} ({_RECONSTRUCTED})" if reconstructed else name


@dataclass(frozen=True)
class RunSettings:
    """How a model's responses are produced (stimulus suite + unit sampling) and the seeds.

    instances : stimulus instances per condition (3 = the study; 1 = "quick look")
    n_frames, classes, suite_seed : the stimulus suite (``compute.stimuli.SuiteSpec``)
    seed : unit-sampling seed for models; direction-offset seed of reconstructed biology
    crop, recurrent_channels, n_maps, n_positions, n_output : ``compute.sampling.SamplingSettings``
    """

    instances: int = 3
    n_frames: int = 37
    classes: tuple[int, ...] = tuple(range(11))
    suite_seed: int = 0
    seed: int = 0
    crop: str = "authors"
    recurrent_channels: str = "authors"
    n_maps: int = 40
    n_positions: int = 50
    n_output: int = 2000

    def __post_init__(self) -> None:
        for name in ("instances", "n_frames", "suite_seed", "seed", "n_maps", "n_positions", "n_output"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"RunSettings.{name} must be an int; got {type(value).__name__}")
            if value < (0 if "seed" in name else 1):
                raise ValueError(f"RunSettings.{name} must be >= {0 if 'seed' in name else 1}; got {value}")
        classes = tuple(int(c) for c in self.classes)
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"RunSettings.classes must be distinct class indices; got {self.classes}")
        object.__setattr__(self, "classes", classes)

    @classmethod
    def quick_look(cls, **changes: Any) -> "RunSettings":
        """One stimulus instance per condition: 88 sequences instead of 216 (gratings run once either way)."""
        return cls(**{"instances": 1, **changes})

    def key_parts(self) -> dict[str, Any]:
        return asdict(self)

    def suite_spec(self) -> SuiteSpec:
        return SuiteSpec(n_instances=self.instances, n_frames=self.n_frames, seed=self.suite_seed,
                         classes=self.classes)

    def sampling_settings(self) -> SamplingSettings:
        return SamplingSettings(n_maps=self.n_maps, n_positions=self.n_positions, crop=self.crop,
                                recurrent_channels=self.recurrent_channels, n_output=self.n_output)


def _resolve(cache: ArtifactCache | None, settings: Settings | None) -> tuple[ArtifactCache, Settings]:
    return (default_cache() if cache is None else cache), (Settings.from_env() if settings is None else settings)


def source_key(source: Source, *, run: RunSettings = RunSettings(), settings: Settings | None = None) -> str:
    """Content key of a source's response set (for a model: of the pointer to its extraction)."""
    settings = Settings.from_env() if settings is None else settings
    if source.kind == "model":
        # Size and mtime of the weight files (official FNN): replaced weights give new keys, without torch here.
        files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else (p.name, None, None)
                 for p in map(Path, get_model(source.name).source_files(settings))]
        parts: dict[str, Any] = {"run": run.key_parts(), "weights_files": files}
    else:
        traces = settings.bio_traces_dir
        parts = {"seed": run.seed, "traces": None if traces is None else str(traces)}
    return content_key("source", source=source.to_token(), **parts)


@functools.lru_cache(maxsize=4)
def _read_responses(root: str, key: str) -> ResponseSet:
    # Memo for repeated unit clicks; artefacts are content-addressed, so an entry never goes stale.
    return ArtifactCache(root).get_responses(key)


def _cached_responses(source: Source, run: RunSettings, cache: ArtifactCache, settings: Settings
                      ) -> ResponseSet | None:
    key = source_key(source, run=run, settings=settings)
    if key not in cache:
        return None
    if source.kind == "model":
        key = cache.meta(key)["responses_key"]
        if key not in cache:
            return None
    return _read_responses(str(cache.root), key)


def source_responses(source: Source, *, run: RunSettings = RunSettings(), cache: ArtifactCache | None = None,
                     settings: Settings | None = None, control: JobControl | None = None) -> ResponseSet:
    """The response set of a source, computed once and then read from the cache.

    Model: extracts the module (``compute.extraction.extract``, progress through ``control``) unless cached,
    then records a pointer to the extraction's key. Biology: ``compute.bio.datasets.load_dataset`` with
    ``random_state=run.seed`` (the traces folder of ``settings`` when set), stored in the cache.

    Returns
    -------
    ResponseSet of shape (n_units, n_stimuli, 8, n_time)
    """
    cache, settings = _resolve(cache, settings)
    control = ensure_control(control)
    found = _cached_responses(source, run, cache, settings)
    if found is not None:
        control.report(1.0, "responses from cache")
        return found
    key = source_key(source, run=run, settings=settings)
    if source.kind == "bio":
        def load() -> ResponseSet:
            control.report(0.0, f"loading {source.name}")
            return bio_datasets.load_dataset(source.name, data_dir=settings.bio_dir, random_state=run.seed)

        rs = cache.get_or_compute_responses(key, load)
        control.report(1.0, f"{source.name} loaded")
        return rs
    from compute.extraction import extract

    keys = extract(source.name, [source.module], suite=run.suite_spec(), sampling=run.sampling_settings(),
                   seed=run.seed, cache=cache, settings=settings, control=control)
    cache.put(key, {}, {"type": "pointer", "responses_key": keys[source.module], "source": source.to_token()})
    return _read_responses(str(cache.root), keys[source.module])


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
                 "k_far": None, "k_near": None, "random_state": 0},
}
"""Options of each view and their defaults ("dataset" of "alignment" is required). ``stimuli``: None (the
analysis default: bio-matched six for decoding and tubularity, all classes for accuracy), a preset name of
``compute.stimuli.PRESETS`` ("bio-matched", "all", ...), or class names / indices in display order;
stimuli a source lacks are left out. ``drop_flagged``: remove intensity-arm units first. Encoding:
``n_restarts`` None = the preset's ("publication" 50, "interactive" 10, ``compute.views``); ``stimulus_set``
None = "optSF" for model units (``compute.seed_ranks.STIMULUS_CHOICES``); ``ian`` "lp" or "greedy" (quick);
``k_far`` / ``k_near`` None = 3 / 10 for model modules, 0 / 0 for biology. Alignment: ``n_boot`` / ``n_nulls``
None = the preset's (``compute.analysis.alignment.PRESETS``); ``dsa_method`` the DSA score method."""
VIEW_VERSIONS: dict[str, int] = {"accuracy": 3, "tubularity": 2, "alignment": 2, "encoding": 4}
"""Version of each view's artefact, part of its key (views not listed: 1); bump it when a view's numbers change.
accuracy 3: fits solved to convergence (max |gradient| 1e-6) in principal-axis coordinates; tubularity 2: the authors' eps rule (METHODS 6.4 v2); alignment 2: LP clips per brain PC, DSA angular (METHODS 7 v2); encoding 2: METHODS 5 v2 defaults, preferred
direction from the units' tuning where the manifold has none (v1 stored NaN for biology); encoding 3: meta holds
the clusteredness numbers (same manifold); encoding 4: permuted CP stops by the authors' L-BFGS-B criteria."""
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
}
"""Allowed values of every option of ``VIEW_OPTIONS`` but ``stimuli`` (``compute.stimuli.resolve``): one
declaration for the pages' fields, the URL readers and every request (a browser's stores are not trusted).
A "<view>.<option>" entry overrides the option's bound in that view (alignment's n_boot None = the preset's).
Choices mirror ``compute.bio.datasets.DATASETS``, ``compute.analysis.alignment.PRESETS`` / ``METHODS`` /
``DSA_METHODS``, ``compute.analysis.tubularity`` eps rules, which are not imported here (scikit-learn,
about 2 s)."""


def normalise_options(view: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Options of ``view`` with defaults filled in, presets resolved and sequences as lists."""
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
        out["stimuli"] = list(resolve(out["stimuli"]))
    if "methods" in out:
        out["methods"] = list(out["methods"])
    return out


def view_key(view: str, source: Source, *, run: RunSettings = RunSettings(), settings: Settings | None = None,
             **options: Any) -> str:
    """Content key of a view artefact; cheap (no data, no torch)."""
    opts = normalise_options(view, options)
    return content_key(f"view-{view}", source=source_key(source, run=run, settings=settings), options=opts,
                       version=VIEW_VERSIONS.get(view, 1))


# ---------------------------------------------------------------------------------------------- compute / load
@dataclass(frozen=True)
class ViewContext:
    """What a view builder gets besides the source's responses."""

    source: Source
    run: RunSettings
    cache: ArtifactCache
    settings: Settings
    load: Callable[[Source, JobControl], ResponseSet] = field(repr=False)


def compute_view(view: str, source: Source, *, run: RunSettings = RunSettings(), cache: ArtifactCache | None = None,
                 settings: Settings | None = None, control: JobControl | None = None, **options: Any) -> str:
    """Compute (once) and store a view artefact; returns its key.

    An existing key is never recomputed (``ArtifactCache.get_or_compute``; concurrent identical requests
    compute once). Progress: 0-50 % source responses, 50-100 % the analysis. Options: ``VIEW_OPTIONS``.
    The artefact layout of each view is documented in ``compute.views``.
    """
    from compute.views import BUILDERS, PRECHECKS

    cache, settings = _resolve(cache, settings)
    control = ensure_control(control)
    opts = normalise_options(view, options)
    if view in PRECHECKS:
        PRECHECKS[view](source, **opts)
    key = view_key(view, source, run=run, settings=settings, **opts)
    if key in cache:
        control.report(1.0, f"{view}: from cache")
        return key

    def load(src: Source, ctl: JobControl) -> ResponseSet:
        # A constant set (e.g. all zero) would only meet numerical noise in the analyses: say so instead.
        return source_responses(src, run=run, cache=cache, settings=settings, control=ctl).require_variation()

    def build() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        rs = load(source, control.sub(0.0, 0.5))
        control.check()
        ctx = ViewContext(source=source, run=run, cache=cache, settings=settings, load=load)
        arrays, meta = BUILDERS[view](rs, ctx, control=control.sub(0.5, 1.0), **opts)
        provenance = rs.provenance
        meta = {"view": view, "source": source.to_token(), "label": rs.label, "options": opts,
                "untrained": bool(provenance.get("untrained", False)),
                "reconstructed": bool(provenance.get("reconstructed", False)),
                "input_hash": rs.content_hash(), **meta}
        return arrays, meta

    cache.get_or_compute(key, build)
    control.report(1.0, f"{view}: done")
    return key


def load_view(key: str, *, cache: ArtifactCache | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata of a view artefact (KeyError when absent). Layouts: ``compute.views``."""
    return (default_cache() if cache is None else cache).get(key)


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

    cache, settings = _resolve(cache, settings)
    rs = _cached_responses(source, run, cache, settings)
    if rs is None:
        if source.kind == "model":
            raise KeyError(f"responses of {source.to_token()!r} are not computed yet; run a view first")
        rs = source_responses(source, run=run, cache=cache, settings=settings)
    if isinstance(unit_index, bool) or not isinstance(unit_index, (int, np.integer)):
        raise TypeError(f"unit_index must be an int; got {type(unit_index).__name__}")
    if not 0 <= unit_index < rs.n_units:
        raise ValueError(f"unit_index {unit_index} out of range 0..{rs.n_units - 1} for {rs.label}")
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


# ---------------------------------------------------------------------------------------------- collectors
# Each returns the keyword arguments of one figure builder of app/figures (small: means, not units).
def _flags(metas: Sequence[Mapping[str, Any]]) -> dict[str, bool]:
    return {"untrained": any(m.get("untrained") for m in metas),
            "reconstructed": any(m.get("reconstructed") for m in metas)}


def accuracy_series(keys: Mapping[str, str], *, cache: ArtifactCache | None = None) -> dict[str, Any]:
    """Whole-trial accuracy per module, for ``app.figures.accuracy_figure(**result)``.

    keys : mapping module name -> key of an "accuracy" view, in display order
    """
    metas = [(default_cache() if cache is None else cache).meta(k) for k in keys.values()]
    if len({m["chance"] for m in metas}) > 1:
        raise ValueError("accuracy views decode different numbers of classes; compare like with like")
    return {"x": list(keys), "x_title": "module", "chance": metas[0]["chance"] if metas else 0.0,
            "series": {"logistic regression": [m["logistic"] for m in metas], "3-NN": [m["knn"] for m in metas]},
            "errors": {"logistic regression": [m["logistic_sd"] for m in metas]}, **_flags(metas)}


def accuracy_windows(key: str, *, cache: ArtifactCache | None = None) -> dict[str, Any]:
    """Accuracy per time window of one "accuracy" view, for ``app.figures.accuracy_figure(**result)``."""
    arrays, meta = load_view(key, cache=cache)
    series, errors = {}, {}
    for w, window in enumerate(("increasing [0..t]", "decreasing [t..end]")):
        series[f"logistic, {window}"] = arrays["window_logistic"][w]
        errors[f"logistic, {window}"] = arrays["window_logistic_sd"][w]
        series[f"3-NN, {window}"] = arrays["window_knn"][w]
    return {"x": arrays["time"], "x_title": f"window boundary t ({meta['time_unit']})", "chance": meta["chance"],
            "series": series, "errors": errors, "title": meta["label"], **_flags([meta])}


def tubularity_comparison(keys: Mapping[str, str], *, reference: str | None = None,
                          cache: ArtifactCache | None = None) -> dict[str, Any]:
    """S_tight / S_cross of several sources, for ``app.figures.tubularity_bars(**result)``.

    keys : mapping display name ("retina", "V1", "Enc L1", ...) -> key of a "tubularity" view
    reference : name in ``keys``, optional
        p_tight[name] = one-sided Mann-Whitney p that the reference's bootstrap S_tight values are lower
        (tighter) than those of ``name`` (``compute.analysis.tubularity.compare_groups``).
    """
    from compute.analysis.tubularity import compare_groups

    if reference is not None and reference not in keys:
        raise ValueError(f"reference {reference!r} is not one of the compared sources {list(keys)}")
    loaded = {name: load_view(key, cache=cache) for name, key in keys.items()}
    out: dict[str, Any] = {"names": list(keys), "reference": reference,
                           "unreliable_cross": [n for n, (_, m) in loaded.items() if m.get("reconstructed")]}
    for name in ("s_tight", "s_tight_se", "s_cross", "s_cross_se"):
        out[name] = [float(m[name]) for _, m in loaded.values()]
    out["n_boot"] = [m.get("n_boot") for _, m in loaded.values()]
    if reference is not None:
        ref = loaded[reference][0]["s_tight_boot"]
        out["p_tight"] = {n: float(compare_groups(ref, a["s_tight_boot"]).p)
                          for n, (a, _) in loaded.items() if n != reference}
    return out


def _alignment_metas(keys: Mapping[str, Mapping[str, str]], cache: ArtifactCache | None
                     ) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    cache = default_cache() if cache is None else cache
    metas = {(module, dataset): cache.meta(key) for module, per in keys.items() for dataset, key in per.items()}
    datasets = list(dict.fromkeys(dataset for _, dataset in metas))
    return list(keys), datasets, metas


def alignment_series(keys: Mapping[str, Mapping[str, str]], *, cache: ArtifactCache | None = None
                     ) -> dict[str, Any]:
    """Scores per module and dataset, for ``app.figures.alignment_figure(**result)``.

    keys : mapping module -> dataset -> key of an "alignment" view (modules in display order)

    Returns {"modules", "scores": dataset -> method -> {"mean", "low", "high"} lists (NaN where missing),
    with "dsa_z" as a method without interval, "untrained", "reconstructed"}.
    """
    modules, datasets, metas = _alignment_metas(keys, cache)
    nan = float("nan")
    scores: dict[str, dict[str, dict[str, list[float]]]] = {}
    for dataset in datasets:
        per_method: dict[str, dict[str, list[float]]] = {}
        methods = dict.fromkeys(m for (_, d), meta in metas.items() if d == dataset for m in meta["methods"])
        for method in methods:
            rows = [metas.get((module, dataset), {}).get("scores", {}).get(method, {}) for module in modules]
            per_method[method] = {k: [r.get(k, nan) for r in rows] for k in ("mean", "low", "high")}
        if "dsa" in methods:
            z = [metas.get((module, dataset), {}).get("dsa_z") for module in modules]
            per_method["dsa_z"] = {"mean": [nan if v is None else v for v in z]}
        scores[dataset] = per_method
    return {"modules": modules, "scores": scores, "n_boot": [m.get("counts", {}).get("n_boot") for m in metas.values()],
            **_flags(list(metas.values()))}


def alignment_table_data(keys: Mapping[str, Mapping[str, str]], *, cache: ArtifactCache | None = None
                         ) -> dict[str, Any]:
    """Mean alignment (mean of the method scores) per module and dataset, for
    ``app.figures.alignment_table(**result)`` / ``alignment_table_figure(**result)``: {"modules", "means":
    dataset -> list per module (NaN where missing)}."""
    modules, datasets, metas = _alignment_metas(keys, cache)
    return {"modules": modules,
            "means": {d: [metas[(m, d)]["mean_alignment"] if (m, d) in metas else float("nan") for m in modules]
                      for d in datasets}}
