"""Every public entry of compute/ rejects bad numbers at the door, with the shared checker's vocabulary.

v1 had four int checkers with different exceptions: a float where an int belongs raised ValueError in some
entries and TypeError in others, bools passed as numbers, NaN slipped through ``not 0 < x <= 1``-style
checks of others, and several options were never checked. Here every int / float / bool parameter of every
public function and dataclass is fed True, 2.5, -1, NaN and "3": a wrong type must raise TypeError, a value
of the right type out of range ValueError, and the message must name the parameter. A new public entry
with such a parameter fails ``test_every_numeric_entry_is_listed`` until it is added to ``ENTRIES`` (or to
``NOT_ENTRIES`` with the reason).
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import compute
from compute.responses import ResponseSet

BAD_VALUES = {"True": True, "2.5": 2.5, "-1": -1, "NaN": math.nan, "'3'": "3"}


@dataclass(frozen=True)
class Entry:
    """``call(**{param: value})`` runs the entry on tiny valid data with one parameter replaced.

    ``valid`` lists, per parameter, the bad-value labels the entry accepts (e.g. "-1" for a correlation
    threshold in [-1, 1], "2.5" for a ridge penalty).
    """

    call: Callable[..., Any]
    valid: dict[str, tuple[str, ...]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- tiny data
def _rs(stimuli=("grat_W12", "grat_W1"), n_units=12, n_time=6, seed=0) -> ResponseSet:
    rng = np.random.default_rng(seed)
    responses = rng.random((n_units, len(stimuli), 8, n_time)).astype(np.float32)
    return ResponseSet(responses=responses, stimuli=tuple(stimuli))


def _bio_pair() -> tuple[ResponseSet, ResponseSet]:
    from compute.bio.datasets import BIO_STIMULI

    return _rs(BIO_STIMULI, n_units=10, n_time=5), _rs(BIO_STIMULI, n_units=9, n_time=5, seed=1)


def _traj(n_cond=12, n_time=5, n_units=6, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((n_time, n_cond, n_units))


def _points(n=30, d=3) -> np.ndarray:
    return np.random.default_rng(0).random((n, d))


def _kernel(n=20) -> np.ndarray:
    x = _points(n)
    return np.exp(-((x[:, None] - x[None]) ** 2).sum(-1))


def _entries() -> dict[str, Entry]:
    from compute import clips, config, extraction, sampling, sources, stimuli, workflows
    from compute.analysis import alignment, crossings, decoding, diagnostics, timebase, tubularity

    # compute.encoding re-exports functions named like its modules (permuted_cp, neural_matrix)
    diffusion, ian, manifold, neural_matrix, permuted_cp, points, tensor = (
        importlib.import_module(f"compute.encoding.{m}")
        for m in ("diffusion", "ian", "manifold", "neural_matrix", "permuted_cp", "points", "tensor"))

    rs, labels3 = _rs(), np.repeat(np.arange(3), 4)
    curves = np.random.default_rng(0).random((12, 10, 3))
    tensor3 = np.random.default_rng(0).random((6, 2, 16))
    edges, lengths, farthest = np.array([[0, 1], [1, 2]]), np.array([1.0, 1.0]), np.array([1.0, 1.0, 1.0])
    model, bio = _bio_pair()
    cp = permuted_cp.permuted_cp(tensor3, 2, n_restarts=1, max_iter=2, random_state=0, device="cpu", n_jobs=1)
    return {
        # analysis
        "alignment.cca_score": Entry(lambda **kw: alignment.cca_score(_traj(), _traj(seed=1), **kw)),
        "alignment.lp_score": Entry(lambda **kw: alignment.lp_score(
            _traj(), _traj(seed=1), **{"n_train": 6, "x_components": 2, "y_components": 2, **kw}),
            valid={"alpha": ("2.5",)}),
        "alignment.dsa_score": Entry(lambda **kw: alignment.dsa_score(
            _traj().swapaxes(0, 1), _traj(seed=1).swapaxes(0, 1), **{"n_components": 2, **kw})),
        "alignment.alignment_scores": Entry(lambda **kw: alignment.alignment_scores(
            model, bio, **{"methods": ("rsa", "dsa"), "dsa_components": 2, **kw})),
        "crossings.crossing_events": Entry(lambda **kw: crossings.crossing_events(
            np.zeros((2, 5, 3)), **{"epsilon": 1.0, "delta": 1, **kw}), valid={"epsilon": ("2.5",)}),
        "decoding.decoding_accuracy": Entry(lambda **kw: decoding.decoding_accuracy(
            rs, **{"stimuli": ["grat_W12"], **kw})),
        "diagnostics.intensity_arm": Entry(lambda **kw: diagnostics.intensity_arm(rs, **kw),
                                           valid={"min_psth_corr": ("-1",), "min_ramp": ("-1",)}),
        "timebase.resample_time": Entry(lambda **kw: timebase.resample_time(rs, **{"n_time": 3, **kw})),
        "tubularity.tubularity": Entry(lambda **kw: tubularity.tubularity(curves, labels3, **kw),
                                       valid={"smoothing": ("2.5",), "n_bins": ("2.5",)}),
        "tubularity.response_curves": Entry(lambda **kw: tubularity.response_curves(rs, **kw)),
        "tubularity.tubularity_of_responses": Entry(lambda **kw: tubularity.tubularity_of_responses(
            rs, **{"n_boot": 1, "n_components": 3, "M": 10, "n_bins": 5, **kw}), valid={"smoothing": ("2.5",)}),
        "tubularity.sensitivity_grid": Entry(lambda **kw: tubularity.sensitivity_grid(
            rs, **{"qs": (0.9,), "smoothings": (2.0,), "n_boot": 1, "n_components": 3, "M": 10, "n_bins": 5, **kw})),
        # encoding
        "diffusion.diffusion_map": Entry(lambda **kw: diffusion.diffusion_map(
            _kernel(), **{"n_components": 2, "n_eigenvalues": 3, **kw}), valid={"alpha": ("2.5",)}),
        "diffusion.hdbscan_clusters": Entry(lambda **kw: diffusion.hdbscan_clusters(_points(), **kw)),
        "ian.greedy_scales": Entry(lambda **kw: ian.greedy_scales(edges, lengths, farthest, **kw),
                                   valid={"C": ("2.5",)}),
        "ian.lp_scales": Entry(lambda **kw: ian.lp_scales(edges, lengths, farthest, **kw), valid={"C": ("2.5",)}),
        "ian.volume_ratios": Entry(lambda **kw: ian.volume_ratios(
            np.ones((3, 3)), np.ones(3), np.ones(3), **kw)),
        "ian.ian_kernel": Entry(lambda **kw: ian.ian_kernel(_points(), **kw), valid={"n_stds": ("2.5",)}),
        "manifold.neighbour_purity": Entry(lambda **kw: manifold.neighbour_purity(
            _points(), np.arange(30) % 3, **{"k": 3, **kw})),
        "manifold.nearest_neighbour_outliers": Entry(lambda **kw: manifold.nearest_neighbour_outliers(
            _points(), **{"k_far": 1, "k_near": 1, **kw})),
        "manifold.clusteredness": Entry(lambda **kw: manifold.clusteredness(_points(), **{"ks": (2, 3), **kw})),
        "manifold.encoding_manifold": Entry(lambda **kw: manifold.encoding_manifold(
            rs, **{"rank": 2, "n_restarts": 1, "max_iter": 2, "device": "cpu", **kw}),
            valid={"smoothing_sigma": ("2.5",)}),
        "manifold.encoding_manifold_from_factors": Entry(lambda **kw: manifold.encoding_manifold_from_factors(
            object(), **kw), valid={}),
        "neural_matrix.reduce_pca": Entry(lambda **kw: neural_matrix.reduce_pca(_points(), **kw)),
        "permuted_cp.permuted_cp": Entry(lambda **kw: permuted_cp.permuted_cp(
            tensor3, **{"rank": 2, "n_restarts": 1, "max_iter": 2, "device": "cpu", "n_jobs": 1, **kw}),
            valid={"factr": ("2.5",), "pgtol": ("2.5",)}),
        "permuted_cp.rank_diagnostics": Entry(lambda **kw: permuted_cp.rank_diagnostics(
            tensor3, [2], **{"n_restarts": 1, "max_iter": 2, "device": "cpu", "n_jobs": 1, **kw}),
            valid={"factr": ("2.5",), "pgtol": ("2.5",)}),
        "permuted_cp.factor_match_score": Entry(lambda **kw: permuted_cp.factor_match_score(cp, cp, **kw)),
        "points.deduplicate": Entry(lambda **kw: points.deduplicate(_points(), **kw), valid={"tol": ("2.5",)}),
        "tensor.unflatten_maps": Entry(lambda **kw: tensor.unflatten_maps(np.ones((2, 16)), **kw)),
        "tensor.encoding_tensor": Entry(lambda **kw: tensor.encoding_tensor(rs, **kw),
                                        valid={"smoothing_sigma": ("2.5",)}),
        # stimuli, sampling, runs
        "stimuli.SuiteSpec": Entry(lambda **kw: stimuli.SuiteSpec(**kw)),
        "stimuli.render_image": Entry(lambda **kw: stimuli.render_image(
            **{"class_index": 0, "direction": 0, "instance": 0, **kw})),
        "stimuli.make_sequence": Entry(lambda **kw: stimuli.make_sequence(
            np.zeros((4, 4), np.uint8), **{"direction": 0, "n_frames": 2, **kw})),
        "sampling.SamplingSettings": Entry(lambda **kw: sampling.SamplingSettings(**kw)),
        "sampling.clipped_instance_mean": Entry(lambda **kw: sampling.clipped_instance_mean(
            __import__("torch").ones(4, 3), **{"n_instances": 2, **kw})),
        "sampling.module_rng": Entry(lambda **kw: sampling.module_rng(**{"seed": 0, "module": "Rec", **kw})),
        "sampling.sample_units": Entry(lambda **kw: sampling.sample_units(
            np.ones((4, 3, 3)), **{"module": "Conv1", **kw})),
        "sampling.sample_outputs": Entry(lambda **kw: sampling.sample_outputs(
            **{"n_outputs": 2, "module": "Output", **kw})),
        "stimuli.load_suite_folder": Entry(lambda **kw: stimuli.load_suite_folder("/nonexistent", **kw)),
        "sources.RunSettings": Entry(lambda **kw: sources.RunSettings(**kw)),
        "workflows.unit_response_map": Entry(lambda **kw: workflows.unit_response_map(
            sources.Source("model", "conv3d-random", "Conv1"), **kw)),
        "cache.extract": Entry(lambda **kw: extraction.extract("conv3d-random", ["Conv1"], **kw)),
        "cache.load_responses": Entry(lambda **kw: extraction.load_responses("conv3d-random", "Conv1", **kw)),
        "clips.ClipSet": Entry(lambda **kw: clips.ClipSet(folder="/nonexistent", **kw)),
        "clips.convert_clip": Entry(lambda **kw: clips.convert_clip("/nonexistent.npy", **{"n_frames": 2, **kw})),
        "clips.choose_clips": Entry(lambda **kw: clips.choose_clips(
            config.Settings(cache_dir=Path("/nonexistent"), data_dir=Path("/nonexistent")), "none", **kw)),
        "config.Settings": Entry(lambda **kw: config.Settings(cache_dir=Path("."), data_dir=Path("."), **kw)),
    }


NOT_ENTRIES = {
    # result types: built by the analyses from checked inputs, never from user numbers
    **dict.fromkeys(["alignment.AlignmentResult", "crossings.CrossingEvents", "decoding.DecodingAccuracy",
                     "tubularity.TubularityResult", "tubularity.TubularityBootstrap", "tubularity.SensitivityGrid",
                     "tubularity.GroupComparison", "ian.IANKernel", "neural_matrix.PCAReduction",
                     "permuted_cp.PermutedCPResult", "tensor.EncodingTensor", "sampling.UnitSample",
                     "views.View", "views.DecodingView", "views.AccuracyView", "views.TubularityView",
                     "views.AlignmentView", "views.EncodingView",
                     "data.DataFile"], "result type"),
    # plumbing whose numbers come from code, not from users
    **dict.fromkeys(["cache.writer_is_gone", "jobs.JobControl", "jobs.console_control", "locks.RedisLocks",
                     "registry.ModuleSpec", "registry.ModelEntry", "fetch.fetch_bio", "data.fetch",
                     "safe_pickle.safe_load_pickle", "responses.ResponseSet", "datasets.load_dataset",
                     "weights.has_official_weights", "weights.load_official_fnn"], "plumbing"),
    # torch models: built by the registry with fixed sizes (compute/models tests check n_units and seed)
    **dict.fromkeys(["fnn.FNN", "fnn.build_fnn", "small.CausalConv3d", "small.SmallConv3d", "small.build_small"],
                    "model"),
    # extraction internals: called by extract / load_responses with their checked options
    **dict.fromkeys(["passes.activity_scores", "passes.record_units", "cache.responses_key", "workers.n_workers",
                     "workers.run_in_workers"], "extraction internals"),
    "clips.load_clips": "called by the suite with its checked n_frames / n_instances",
}


# ----------------------------------------------------------------------------------- introspection
_SCALARS = {"int": "int", "float": "float", "bool": "bool"}


def _kind(annotation: str) -> str | None:
    """int / float / bool for a scalar parameter (optionally ``| None``; random_state counts as int)."""
    parts = {p.strip() for p in str(annotation).split("|")} - {"None"}
    if parts == {"int", "np.random.Generator"}:
        return "int"
    return _SCALARS.get(parts.pop()) if len(parts) == 1 else None


def _numeric_parameters(obj) -> dict[str, str]:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: k for p in params if (k := _kind(p.annotation)) is not None}


def _public_numeric_entries() -> dict[str, dict[str, str]]:
    """"<module tail>.<name>" -> {parameter: kind} for compute's public functions and classes (CLI excluded)."""
    found = {}
    for info in pkgutil.walk_packages(compute.__path__, "compute."):
        parts = info.name.split(".")
        if parts[1] == "cli" or any(p.startswith("_") for p in parts[1:]):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != info.name:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                params = _numeric_parameters(obj)
                if params:
                    found[f"{parts[-1]}.{name}"] = params
    return found


ENTRIES = _entries()
PUBLIC = _public_numeric_entries()


def test_every_numeric_entry_is_listed():
    unlisted = sorted(set(PUBLIC) - set(ENTRIES) - set(NOT_ENTRIES))
    assert not unlisted, f"add these public entries to ENTRIES (or NOT_ENTRIES with a reason): {unlisted}"
    assert not set(ENTRIES) - set(PUBLIC), "an entry no longer exists or lost its numeric parameters"


def _expected(kind: str, label: str) -> type[Exception]:
    """TypeError for a wrong type (bool and str are never numbers, 2.5 and NaN are not ints; only bools
    are bools), ValueError for a number out of range (-1 everywhere, NaN and 2.5 for the floats)."""
    wrong_type = kind == "bool" or label in ("True", "'3'") or (kind == "int" and label in ("2.5", "NaN"))
    return TypeError if wrong_type else ValueError


CASES = [pytest.param(entry, param, label, id=f"{entry}-{param}-{label}")
         for entry in sorted(ENTRIES) for param, kind in PUBLIC[entry].items() for label in BAD_VALUES
         if not (kind == "bool" and label == "True") and label not in ENTRIES[entry].valid.get(param, ())]


@pytest.mark.parametrize("entry, param, label", CASES)
def test_bad_value_is_refused_at_the_door(entry, param, label):
    kind = PUBLIC[entry][param]
    with pytest.raises(_expected(kind, label), match=rf"\b{re.escape(param)} must be "):
        ENTRIES[entry].call(**{param: BAD_VALUES[label]})
