"""Per-view builders: a source's ResponseSet (+ the view's other ``Inputs``) -> one typed view artefact
(``DecodingView``, ``AccuracyView``, ``TubularityView``, ``AlignmentView``, ``EncodingView``; stored by
``compute.artifacts.Packed`` as arrays + JSON meta). Builders are plain functions of arrays and options:
``compute.workflows.compute_view`` loads everything a view needs first, calls
``BUILDERS[view](rs, inputs, control=..., **options)`` and fills the common fields of ``View`` (view, source,
label, options, untrained, reconstructed, input_hash). Every artefact also holds ``counts`` and ``headline``
(small; copied into ``view_summary``). Field names follow the figure builders' parameter names where they
match. Stored layouts (fields; an encoding's ``colors`` are stored as ``color__<name>`` arrays):

decoding
    coords (n_cond, 3), manifold_evr (3,), labels (n_cond, 2) [stimulus index, direction index],
    curves (n_cond, n_time, 3), trajectory_evr (3,), time (n_time,), directions (8,);
    meta: stimuli, time_unit, missing_stimuli
accuracy
    time (n_time,), window_logistic / window_logistic_sd / window_knn (2, n_time) (row 0 increasing [0..t],
    row 1 decreasing [t..end]; n_time = 0 without windows), logistic_repeats (5,);
    meta: stimuli, missing_stimuli, chance, logistic, logistic_sd, knn, not_converged, time_unit
tubularity
    s_tight_boot, s_cross_boot (n_boot,), bundle_curves (n_curves, n_points, 3), bundle_labels (n_curves,),
    centerlines (n_bundles, n_center, 3) (curves of one fit on all units, first 3 of 10 PCA dimensions);
    with the sensitivity option: sensitivity_qs (n_q,), sensitivity_smoothings (n_s,), sensitivity_s_tight
    (n_q, n_s), sensitivity_s_cross (n_s,) (means over bootstraps; S_cross does not depend on q);
    meta: stimuli (bundle names), missing_stimuli, s_tight, s_tight_se, s_cross, s_cross_se, n_boot
alignment (model module vs the dataset of option ``dataset``; ``compute.analysis.alignment``)
    values (n_methods, n_boot), per_time (n_methods, n_boot, n_time) (NaN rows for DSA), time (n_time,),
    dsa_null (n_nulls,); meta: dataset, methods, scores {method: {mean, low, high}} (95 % percentile
    interval), dsa_z (None without DSA), mean_alignment, bio_label; "reconstructed" refers to the biology
encoding (model: ``compute.encoding.manifold.encoding_manifold``; biology: the published factors)
    coords (n_points, 3) (NaN rows = set aside), unit_index (n_points,) index into the source's units,
    color__<name> (n_points,) for every colour-by option: cluster, OSI, DSI, intensity arm, preferred
    direction, feature map (model), every unit metadata column (stream, channel, cell_type, layer ...);
    nn_distances (n_distinct,) the 1-NN distance of every distinct point before outlier removal, nn_removed
    (n_distinct,) bool the k_far / k_near outliers removed before IAN (``app.figures.nn_distance_histogram``);
    meta: color_options {name: "categorical" | "continuous"} (the ``categorical`` argument of
    ``app.figures.encoding_figure``), diagnostics (scalars, incl. k_far, k_near, n_outliers, ian_objective),
    clusteredness (``compute.encoding.manifold.clusteredness``: silhouette excess, ...),
    restarts_note (e.g. "10 restarts (interactive preset; the authors ran 50)")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from compute.artifacts import Packed, prefix
from compute.bio.datasets import BioFactors
from compute.clips import clip_names_in
from compute.jobs import JobControl
from compute.responses import ResponseSet
from compute.seed_ranks import N_RESTARTS, default_rank
from compute.stimuli import present


# ---------------------------------------------------------------------------------------------- artefacts
@dataclass(frozen=True, kw_only=True, eq=False)
class View(Packed):
    """Meta every view artefact holds. ``compute.workflows.compute_view`` fills view, source (token), label,
    options, input_hash, and untrained / reconstructed from the source's provenance where the builder left
    them None; counts and headline are small summaries copied into ``view_summary``."""

    view: str = ""
    source: str = ""
    label: str = ""
    options: dict = field(default_factory=dict)
    input_hash: str = ""
    untrained: bool | None = None
    reconstructed: bool | None = None
    counts: dict
    headline: dict

    def flags(self) -> dict[str, bool]:
        """The ``untrained`` / ``reconstructed`` keyword arguments of the figure builders."""
        return {"untrained": bool(self.untrained), "reconstructed": bool(self.reconstructed)}


@dataclass(frozen=True, kw_only=True, eq=False)
class DecodingView(View):
    """The "decoding" view: decoding manifold and trajectories (fields and shapes: the module docstring)."""

    coords: np.ndarray
    manifold_evr: np.ndarray
    labels: np.ndarray
    curves: np.ndarray
    trajectory_evr: np.ndarray
    time: np.ndarray
    directions: np.ndarray
    stimuli: list
    time_unit: str
    missing_stimuli: list


@dataclass(frozen=True, kw_only=True, eq=False)
class AccuracyView(View):
    """The "accuracy" view: decoding accuracy, whole trial and per time window (fields and shapes: the module docstring)."""

    time: np.ndarray
    window_logistic: np.ndarray
    window_logistic_sd: np.ndarray
    window_knn: np.ndarray
    logistic_repeats: np.ndarray
    stimuli: list
    time_unit: str
    missing_stimuli: list
    not_converged: int
    logistic: float
    logistic_sd: float
    knn: float
    chance: float


@dataclass(frozen=True, kw_only=True, eq=False)
class TubularityView(View):
    """The "tubularity" view: S_tight / S_cross bootstraps, tube curves, sensitivity grid (fields and shapes: the module docstring)."""

    s_tight_boot: np.ndarray
    s_cross_boot: np.ndarray
    bundle_curves: np.ndarray
    bundle_labels: np.ndarray
    centerlines: np.ndarray
    sensitivity_qs: np.ndarray | None = None
    sensitivity_smoothings: np.ndarray | None = None
    sensitivity_s_tight: np.ndarray | None = None
    sensitivity_s_cross: np.ndarray | None = None
    stimuli: list
    missing_stimuli: list
    s_tight: float
    s_tight_se: float
    s_cross: float
    s_cross_se: float
    n_boot: int


@dataclass(frozen=True, kw_only=True, eq=False)
class AlignmentView(View):
    """The "alignment" view: alignment scores with one dataset (fields and shapes: the module docstring)."""

    values: np.ndarray
    per_time: np.ndarray
    time: np.ndarray
    dsa_null: np.ndarray
    dataset: str
    methods: list
    bio_label: str
    scores: dict
    dsa_z: float | None
    mean_alignment: float


@dataclass(frozen=True, kw_only=True, eq=False)
class EncodingView(View):
    """The "encoding" view: encoding manifold, colour-by columns, 1-NN distances (fields and shapes: the module docstring)."""

    coords: np.ndarray
    unit_index: np.ndarray
    colors: dict = prefix("color__")
    nn_distances: np.ndarray
    nn_removed: np.ndarray
    color_options: dict
    diagnostics: dict
    restarts_note: str
    clusteredness: dict


@dataclass(frozen=True)
class Inputs:
    """What a builder reads besides the source's responses, loaded before it runs.

    module : the model module ("Enc L1", ..., "Output"); None for a biological source
    bio : alignment's biological dataset, ResponseSet of shape (n_bio_units, n_stimuli, 8, n_time)
    factors : the published factors of a biological source (its encoding manifold)
    """

    module: str | None = None
    bio: ResponseSet | None = None
    factors: BioFactors | None = None


def _prepare(rs: ResponseSet, stimuli: list[str] | None, drop_flagged: bool) -> tuple[ResponseSet, list[str]]:
    """Keep the requested stimuli the set has (display order), and drop intensity-arm units if asked."""
    missing: list[str] = []
    if stimuli is not None:
        found, missing = present(stimuli, rs.stimuli)
        if not found:
            raise ValueError(f"{rs.label} has none of the stimuli {stimuli}; it has {list(rs.stimuli)}")
        rs = rs.select(stimuli=found)
    if drop_flagged:
        from compute.analysis.diagnostics import intensity_arm, remove_flagged

        rs = remove_flagged(rs, intensity_arm(rs).flags)
    return rs, missing


def _counts(rs: ResponseSet, **more: int) -> dict[str, int]:
    n_units, n_stim, n_dir, n_time = rs.shape
    return {"n_units": n_units, "n_stimuli": n_stim, "n_directions": n_dir, "n_time": n_time, **more}


def _decoding(rs: ResponseSet, inputs: Inputs | None, *, control: JobControl, stimuli, drop_flagged) -> View:
    from compute.analysis.decoding import decoding_manifold, decoding_trajectories

    rs, missing = _prepare(rs, stimuli, drop_flagged)
    names = None if stimuli is None else list(rs.stimuli)
    manifold = decoding_manifold(rs, stimuli=names)
    control.report(0.5, "decoding trajectories")
    traj = decoding_trajectories(rs, stimuli=names)
    return DecodingView(
        coords=manifold.coords, manifold_evr=manifold.explained_variance_ratio, labels=manifold.labels,
        curves=traj.curves, trajectory_evr=traj.explained_variance_ratio, time=traj.time,
        directions=manifold.directions, stimuli=list(manifold.stimuli), time_unit=rs.time_unit,
        missing_stimuli=missing, counts=_counts(rs, n_conditions=len(manifold.coords)),
        headline={"manifold_evr": manifold.explained_variance_ratio.round(4).tolist(),
                  "trajectory_evr": traj.explained_variance_ratio.round(4).tolist()})


def _accuracy(rs: ResponseSet, inputs: Inputs | None, *, control: JobControl, stimuli, drop_flagged, windows) -> View:
    from compute.analysis.decoding import decoding_accuracy

    rs, missing = _prepare(rs, stimuli, drop_flagged)
    acc = decoding_accuracy(rs, stimuli=None if stimuli is None else list(rs.stimuli), windows=windows,
                            control=control)
    headline = {"logistic": acc.logistic, "logistic_sd": acc.logistic_sd, "knn": acc.knn, "chance": acc.chance}
    return AccuracyView(
        time=acc.time, window_logistic=acc.window_logistic, window_logistic_sd=acc.window_logistic_sd,
        window_knn=acc.window_knn, logistic_repeats=acc.logistic_repeats, stimuli=list(acc.stimuli),
        time_unit=rs.time_unit, missing_stimuli=missing, not_converged=int(acc.not_converged), **headline,
        counts=_counts(rs, n_classes=acc.n_classes), headline=headline)


def _tubularity(rs: ResponseSet, inputs: Inputs | None, *, control: JobControl, stimuli, drop_flagged, n_boot, q, smoothing,
                sensitivity, eps_rule, random_state) -> View:
    from compute.analysis.tubularity import (SENSITIVITY_QS, SENSITIVITY_SMOOTHINGS, response_curves,
                                             sensitivity_grid, tubularity, tubularity_of_responses)

    rs, missing = _prepare(rs, stimuli, drop_flagged)
    names = None if stimuli is None else list(rs.stimuli)
    common = dict(stimuli=names, n_boot=n_boot, eps_rule=eps_rule, random_state=random_state,
                  control=control.sub(0.0, 0.95))
    grid_arrays: dict[str, np.ndarray] = {}
    if sensitivity:
        # One bootstrap run serves the grid and the headline (q, s), which joins the grid if it is not on it.
        grid = sensitivity_grid(rs, qs=np.union1d(SENSITIVITY_QS, [q]),
                                smoothings=np.union1d(SENSITIVITY_SMOOTHINGS, [smoothing]), **common)
        boot = grid.at(q, smoothing)
        grid_arrays.update(sensitivity_qs=grid.qs, sensitivity_smoothings=grid.smoothings,
                      sensitivity_s_tight=grid.s_tight_mean, sensitivity_s_cross=grid.s_cross_mean)
    else:
        boot = tubularity_of_responses(rs, q=q, smoothing=smoothing, **common)
    # Tube plots: the curves of one fit on all units (no bootstrap), first 3 of the PCA dimensions.
    curves, labels = response_curves(rs, stimuli=names, random_state=random_state)
    tubes = tubularity(curves, labels, q=q, smoothing=smoothing, eps_rule=eps_rule)
    headline = {"s_tight": boot.s_tight_mean, "s_tight_se": boot.s_tight_se, "s_cross": boot.s_cross_mean,
                "s_cross_se": boot.s_cross_se, "n_boot": boot.n_boot}
    return TubularityView(
        s_tight_boot=boot.s_tight, s_cross_boot=boot.s_cross, bundle_curves=tubes.points[..., :3],
        bundle_labels=tubes.curve_bundle, centerlines=tubes.centerlines[..., :3], **grid_arrays,
        stimuli=list(boot.stimuli), missing_stimuli=missing, **headline,
        counts=_counts(rs, n_bundles=len(boot.stimuli)), headline=headline)


def _alignment(rs: ResponseSet, inputs: Inputs, *, control: JobControl, dataset, drop_flagged, preset, methods,
               n_boot, n_nulls, dsa_method, random_state) -> View:
    from compute.analysis.alignment import alignment_scores

    rs, _ = _prepare(rs, None, drop_flagged)
    bio = inputs.bio
    result = alignment_scores(rs, bio, methods=methods, preset=preset, n_boot=n_boot, n_nulls=n_nulls,
                              dsa_method=dsa_method, random_state=random_state, control=control.sub(0.1, 1.0))
    low, high = result.ci_low, result.ci_high
    scores = {m: {"mean": float(result.mean[k]), "low": float(low[k]), "high": float(high[k])}
              for k, m in enumerate(result.methods)}
    headline = {"scores": scores, "dsa_z": None if np.isnan(result.dsa_z) else float(result.dsa_z),
                "mean_alignment": result.mean_alignment}
    return AlignmentView(
        values=result.values, per_time=result.per_time, time=result.time, dsa_null=result.dsa_null,
        dataset=dataset, methods=list(result.methods), bio_label=result.bio_label,
        reconstructed=result.bio_reconstructed, **headline,
        counts=_counts(rs, n_boot=int(result.values.shape[1]), n_bio_units=bio.n_units), headline=headline)


def _encoding_rank(module: str | None, rank: int | None) -> int | None:
    """The permuted-CP rank of a model module: ``rank`` or the seed study's (``default_rank``); ``rank`` as
    given for a biological source (``module`` None)."""
    if module is None or rank is not None:
        return rank
    rank = default_rank("model", module)
    if rank is None:
        raise ValueError(f"no seed-study rank for module {module!r}; pass rank=...")
    return rank


def _preferred_direction(manifold_values: np.ndarray, tuning, unit_index: np.ndarray) -> np.ndarray:
    """Preferred direction (degrees in [0, 360)) per point: the manifold's where it has one, else the unit's
    tuning at its best stimulus (the published factors give the biological manifold none)."""
    values = np.asarray(manifold_values, dtype=float)
    tuned = np.asarray(tuning.preferred_direction, dtype=float)[unit_index]
    return np.mod(np.where(np.isfinite(values), values, tuned), 360.0)


def _encoding(rs: ResponseSet, inputs: Inputs, *, control: JobControl, rank, n_restarts, preset, stimulus_set, ian,
              k_far, k_near, with_clips, random_state) -> View:
    from compute.analysis.diagnostics import intensity_arm, unit_tuning
    from compute.encoding.manifold import encoding_manifold, encoding_manifold_from_factors

    outliers = {k: v for k, v in (("k_far", k_far), ("k_near", k_near)) if v is not None}
    clips = clip_names_in(rs.stimuli) if with_clips else ()
    if with_clips and not clips:
        raise ValueError(f"{rs.label} has no clip classes; choose a clip set on the Stimuli page first (model "
                         "sources only: biology has no responses to clips), or turn with_clips off")
    if inputs.factors is not None:
        # Published factors give the biological manifold directly (METHODS 5.6, factor-only formula).
        manifold = encoding_manifold_from_factors(inputs.factors, random_state=random_state, ian_objective=ian,
                                                  **outliers)
        restarts_note = "published factors"
    else:
        rank = _encoding_rank(inputs.module, rank)
        if n_restarts is None:
            n_restarts = ENCODING_PRESET_RESTARTS[preset]
        manifold = encoding_manifold(rs, rank=rank, n_restarts=n_restarts, stimuli=stimulus_set, extra_stimuli=clips,
                                     ian_objective=ian, random_state=random_state, control=control.sub(0.0, 0.9),
                                     **outliers)
        restarts_note = (f"{n_restarts} restarts" + ("" if n_restarts >= N_RESTARTS else
                                                     f" ({preset} preset; the authors ran {N_RESTARTS})"))
    control.report(0.9, "unit tuning")
    unit_index = np.asarray(manifold.unit_ids, dtype=int)
    tuning = unit_tuning(rs)
    columns = {"cluster": np.asarray(manifold.clusters), "OSI": np.asarray(tuning.osi)[unit_index],
               "DSI": np.asarray(tuning.dsi)[unit_index],
               "intensity arm": np.asarray(intensity_arm(rs).flags, dtype=bool)[unit_index],
               "preferred direction": _preferred_direction(manifold.preferred_direction, tuning, unit_index)}
    columns.update({name: np.asarray(values)[unit_index] for name, values in rs.units.items()})
    if "stream" in rs.units and "channel" in rs.units:
        columns["feature map"] = np.char.add(np.char.add("s", rs.units["stream"].astype(str)),
                                             np.char.add(" c", rs.units["channel"].astype(str)))[unit_index]
    kinds = {name: "continuous" if name in ("OSI", "DSI", "preferred direction") else "categorical"
             for name in columns}
    coords = np.asarray(manifold.coords, dtype=float)
    diagnostics = {k: v for k, v in dict(manifold.diagnostics).items() if isinstance(v, (int, float, str, bool))}
    diagnostics["restarts_note"] = restarts_note
    clustered = {k: float(v) for k, v in dict(manifold.diagnostics).get("clusteredness", {}).items()}
    return EncodingView(
        coords=coords, unit_index=unit_index, colors=columns,
        nn_distances=np.asarray(manifold.nn_distances, dtype=float),
        nn_removed=np.asarray(manifold.nn_removed, dtype=bool), color_options=kinds, diagnostics=diagnostics,
        restarts_note=restarts_note, clusteredness=clustered,
        counts=_counts(rs, n_points=int(np.isfinite(coords).all(axis=1).sum())), headline=diagnostics)


#: Restarts of each encoding preset when ``n_restarts`` is not given: "publication" = the authors' 50;
#: "interactive" fewer, and the artefact says so (``restarts_note``).
ENCODING_PRESET_RESTARTS = {"publication": N_RESTARTS, "interactive": 10}


def _encoding_precheck(module: str | None, rank, **_) -> None:
    _encoding_rank(module, rank)


PRECHECKS: dict[str, Callable[..., Any]] = {"encoding": _encoding_precheck}
"""Option checks that need the source's module (None for biology), run by ``compute_view`` before any data
is loaded: ``PRECHECKS[view](module, **options)``."""

BUILDERS: dict[str, Callable[..., View]] = {
    "encoding": _encoding,
    "alignment": _alignment,
    "tubularity": _tubularity,
    "decoding": _decoding,
    "accuracy": _accuracy,
}

VIEW_TYPES: dict[str, type[View]] = {"decoding": DecodingView, "accuracy": AccuracyView,
                                     "tubularity": TubularityView, "alignment": AlignmentView,
                                     "encoding": EncodingView}
"""The artefact type of each view (``compute.workflows.load_typed``)."""
