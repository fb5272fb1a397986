"""Figure-ready collectors: cached view artefacts -> the keyword arguments of one figure builder of
``app.figures`` (series names, axis titles: UI text), small (means, not units). Read by the pages' callbacks,
the replication report (``app.report``) and the benchmarks."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from compute.cache import ArtifactCache
from compute.views import AccuracyView, AlignmentView, TubularityView, View
from compute.workflows import load_typed


def _flags(arts: Sequence[View]) -> dict[str, bool]:
    return {"untrained": any(a.untrained for a in arts), "reconstructed": any(a.reconstructed for a in arts)}


def accuracy_series(keys: Mapping[str, str], *, cache: ArtifactCache | None = None) -> dict[str, Any]:
    """Whole-trial accuracy per module, for ``app.figures.accuracy_figure(**result)``.

    keys : mapping module name -> key of an "accuracy" view, in display order
    """
    arts: list[AccuracyView] = [load_typed(k, cache=cache) for k in keys.values()]
    if len({a.chance for a in arts}) > 1:
        raise ValueError("accuracy views decode different numbers of classes; compare like with like")
    return {"x": list(keys), "x_title": "module", "chance": arts[0].chance if arts else 0.0,
            "series": {"logistic regression": [a.logistic for a in arts], "3-NN": [a.knn for a in arts]},
            "errors": {"logistic regression": [a.logistic_sd for a in arts]}, **_flags(arts)}


def accuracy_windows(key: str, *, cache: ArtifactCache | None = None) -> dict[str, Any]:
    """Accuracy per time window of one "accuracy" view, for ``app.figures.accuracy_figure(**result)``."""
    art: AccuracyView = load_typed(key, cache=cache)
    series, errors = {}, {}
    for w, window in enumerate(("increasing [0..t]", "decreasing [t..end]")):
        series[f"logistic, {window}"] = art.window_logistic[w]
        errors[f"logistic, {window}"] = art.window_logistic_sd[w]
        series[f"3-NN, {window}"] = art.window_knn[w]
    return {"x": art.time, "x_title": f"window boundary t ({art.time_unit})", "chance": art.chance,
            "series": series, "errors": errors, "title": art.label, **_flags([art])}


def tubularity_comparison(keys: Mapping[str, str], *, reference: str | None = None,
                          cache: ArtifactCache | None = None) -> dict[str, Any]:
    """S_tight / S_cross of several sources, for ``app.figures.tubularity_bars(**result)``.

    keys : mapping display name ("retina", "V1", "Enc L1", ...) -> key of a "tubularity" view
    reference : name in ``keys``, optional
        p_tight[name] = one-sided Mann-Whitney p that the reference's bootstrap S_tight values are lower
        (tighter) than those of ``name`` (``compute.analysis.tubularity.compare_groups``).
    """
    from compute.analysis.tubularity import compare_groups  # scikit-learn, about 2 s

    if reference is not None and reference not in keys:
        raise ValueError(f"reference {reference!r} is not one of the compared sources {list(keys)}")
    arts: dict[str, TubularityView] = {name: load_typed(key, cache=cache) for name, key in keys.items()}
    out: dict[str, Any] = {"names": list(keys), "reference": reference,
                           "unreliable_cross": [n for n, a in arts.items() if a.reconstructed]}
    for name in ("s_tight", "s_tight_se", "s_cross", "s_cross_se"):
        out[name] = [float(getattr(a, name)) for a in arts.values()]
    out["n_boot"] = [a.n_boot for a in arts.values()]
    if reference is not None:
        ref = arts[reference].s_tight_boot
        out["p_tight"] = {n: float(compare_groups(ref, a.s_tight_boot).p) for n, a in arts.items() if n != reference}
    return out


def _alignment_views(keys: Mapping[str, Mapping[str, str]], cache: ArtifactCache | None
                     ) -> tuple[list[str], list[str], dict[tuple[str, str], AlignmentView]]:
    arts = {(module, dataset): load_typed(key, cache=cache) for module, per in keys.items()
            for dataset, key in per.items()}
    datasets = list(dict.fromkeys(dataset for _, dataset in arts))
    return list(keys), datasets, arts


def alignment_series(keys: Mapping[str, Mapping[str, str]], *, cache: ArtifactCache | None = None
                     ) -> dict[str, Any]:
    """Scores per module and dataset, for ``app.figures.alignment_figure(**result)``.

    keys : mapping module -> dataset -> key of an "alignment" view (modules in display order)

    Returns {"modules", "scores": dataset -> method -> {"mean", "low", "high"} lists (NaN where missing),
    with "dsa_z" as a method without interval, "untrained", "reconstructed"}.
    """
    modules, datasets, arts = _alignment_views(keys, cache)
    nan = float("nan")
    scores: dict[str, dict[str, dict[str, list[float]]]] = {}
    for dataset in datasets:
        per_method: dict[str, dict[str, list[float]]] = {}
        row = [arts.get((module, dataset)) for module in modules]
        methods = dict.fromkeys(m for a in row if a is not None for m in a.methods)
        for method in methods:
            rows = [{} if a is None else a.scores.get(method, {}) for a in row]
            per_method[method] = {k: [r.get(k, nan) for r in rows] for k in ("mean", "low", "high")}
        if "dsa" in methods:
            per_method["dsa_z"] = {"mean": [nan if a is None or a.dsa_z is None else a.dsa_z for a in row]}
        scores[dataset] = per_method
    return {"modules": modules, "scores": scores, "n_boot": [a.counts.get("n_boot") for a in arts.values()],
            **_flags(list(arts.values()))}


def alignment_table_data(keys: Mapping[str, Mapping[str, str]], *, cache: ArtifactCache | None = None
                         ) -> dict[str, Any]:
    """Mean alignment (mean of the method scores) per module and dataset, for
    ``app.figures.alignment_table(**result)`` / ``alignment_table_figure(**result)``: {"modules", "means":
    dataset -> list per module (NaN where missing)}."""
    modules, datasets, arts = _alignment_views(keys, cache)
    return {"modules": modules,
            "means": {d: [arts[(m, d)].mean_alignment if (m, d) in arts else float("nan") for m in modules]
                      for d in datasets}}
