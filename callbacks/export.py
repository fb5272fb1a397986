"""Exported data with labelled axes: each array element of a view as one CSV row that names its axes."""

from __future__ import annotations

import csv
import io

import numpy as np

MAX_DIMS = 3
# (view, array) -> axis names, from the artefact layouts in ``compute.views``.
AXES = {
    ("decoding", "coords"): ("condition", "pc"), ("decoding", "labels"): ("condition", "stimulus|direction"),
    ("decoding", "curves"): ("condition", "time_bin", "pc"), ("decoding", "manifold_evr"): ("pc",),
    ("decoding", "trajectory_evr"): ("pc",), ("decoding", "time"): ("time_bin",),
    ("decoding", "directions"): ("direction",),
    ("accuracy", "time"): ("time_bin",), ("accuracy", "logistic_repeats"): ("repeat",),
    ("tubularity", "s_tight_boot"): ("bootstrap",), ("tubularity", "s_cross_boot"): ("bootstrap",),
    ("tubularity", "bundle_curves"): ("curve", "point", "pc"), ("tubularity", "bundle_labels"): ("curve",),
    ("tubularity", "centerlines"): ("bundle", "point", "pc"), ("tubularity", "sensitivity_qs"): ("q",),
    ("tubularity", "sensitivity_smoothings"): ("smoothing",), ("tubularity", "sensitivity_s_tight"): ("q", "smoothing"),
    ("tubularity", "sensitivity_s_cross"): ("smoothing",),
    ("alignment", "values"): ("method", "bootstrap"), ("alignment", "per_time"): ("method", "bootstrap", "time_bin"),
    ("alignment", "time"): ("time_bin",), ("alignment", "dsa_null"): ("null",),
    ("encoding", "coords"): ("point", "dc"), ("encoding", "unit_index"): ("point",),
}


def axis_names(view: str, name: str, ndim: int) -> tuple[str, ...]:
    """Names of the axes of array ``name`` of ``view``: the known layout, windows as (direction, time_bin),
    colour columns per point, else axis0, axis1, ..."""
    if name.startswith("window_"):
        return ("window", "time_bin")[:ndim]
    if name.startswith("color__"):
        return ("point",)[:ndim]
    names = AXES.get((view, name), ())
    return names if len(names) == ndim else tuple(f"axis{k}" for k in range(ndim))


def csv_table(arrays: dict[str, np.ndarray]) -> str:
    """CSV text with columns view, source, array, axis_1, index_1, ..., axis_3, index_3, value; ``arrays``
    maps "view|source|array name" to an array of at most 3 dimensions (higher ones are flattened into the
    last axis)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["view", "source", "array"] + [f"{c}_{k}" for k in range(1, MAX_DIMS + 1)
                                                   for c in ("axis", "index")] + ["value"])
    for key, array in arrays.items():
        view, source, name = key.split("|")
        if array.ndim > MAX_DIMS:
            array = array.reshape(*array.shape[:MAX_DIMS - 1], -1)
        axes = axis_names(view, name, array.ndim)
        for index in np.ndindex(array.shape):
            cells = [x for pair in zip(axes, index) for x in pair]
            cells += [""] * (2 * MAX_DIMS - len(cells))
            writer.writerow([view, source, name, *cells, array[index].item()])
    return out.getvalue()
