"""Decoding analyses on the reconstructed biology and on a model-sized synthetic set; prints accuracies
and wall-clock times. Needs TWINSCOPE_DATA_DIR with bio/. ``--quick`` skips the time-window sweeps.

``--compare N``: before/after of the logistic CV alone, paired and alternating over N windows of a
2000-unit module-like set (``bench_views.synthetic_set``): before = scikit-learn's LogisticRegression
(lbfgs, max_iter 500) per fold on the raw features (v1), after = the batched span solver; prints the
per-window times, their ratio, the full-sweep (2 x 37 windows + whole trial) extrapolation, and whether
the accuracies agree.

``--sweep N``: the logistic CV of the whole window sweep (2 x 37 windows + whole trial, 25 fits each) of the
same set, before/after, paired and alternating over N pairs: before = v2 of the span solver (QR coordinates,
L-BFGS with a scalar initial Hessian), after = principal-axis coordinates and L-BFGS scaled by the Hessian's
diagonal at zero (``_Problems.curvature``); prints time, iterations, fits at max_iter, and the largest
difference in the window accuracies.

``--real PATH [PATH ...]`` (with ``--pairs N``, ``--before REV``): the whole ``decoding_accuracy(rs)`` (all
windows) of saved response sets (``ResponseSet.load``, e.g. a report's ``responses-*.npz``), paired and
alternating (the order reverses each round): before = ``compute/analysis/decoding.py`` at git revision REV
(default: the last one before warm starts and the forked family), after = this checkout with ``n_jobs=1``
(warm starts alone) and with ``n_jobs=2`` (plus the increasing family in a forked process); prints wall
seconds and the CPU seconds of this process and of the worker (on a busy machine the worker only competes
for a core; on 2 free cores the wall is about the larger of the two), the ratios, and how many window
accuracies differ from before.

``--blas N``: why the decoding kernels run with one BLAS thread (``_ONE_THREAD``): the median time of a
48 x 1146 SVD (a decoding manifold of the retina's size) with 1 and with 2 BLAS threads, paired and
alternating over N pairs. The gap grows with the machine's load: run it on a busy machine too.

Run: ``python benchmarks/bench_decoding.py [--quick] [--compare 6] [--sweep 2] [--blas 4]
[--real responses-*.npz --pairs 2]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import alternating, call_times, timed  # noqa: E402
from compute.analysis.decoding import (CV_FOLDS, CV_SEEDS, LOGISTIC_MAX_ITER, _fold_weights, _lbfgs,  # noqa: E402
                                       _logistic_cv, _Problems, _span_basis, _states, _window_means,
                                       decoding_accuracy, decoding_manifold, decoding_trajectories)
from compute.bio.datasets import load_dataset  # noqa: E402
from compute.responses import ResponseSet  # noqa: E402
from compute.stimuli import CLASS_NAMES  # noqa: E402


def reported(label: str, fn):
    """``fn()``, printing its wall time after ``label``."""
    result, wall, _ = timed(fn)
    print(f"  {label:<42} {wall:8.2f} s")
    return result


def model_sized(seed: int = 0) -> ResponseSet:
    """2000 units x 11 classes x 8 directions x 37 frames: class signal in a few dimensions plus noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(2000, 11, 1, 1)) * (rng.random((2000, 1, 1, 1)) < 0.05)
    responses = np.abs(signal + rng.normal(0, 1.0, (2000, 11, 8, 37)))
    return ResponseSet(responses=responses, stimuli=CLASS_NAMES, time=np.arange(37) / 30.0,
                       provenance={"label": "synthetic model-sized set"})


def sklearn_cv(x: np.ndarray, y: np.ndarray, splits) -> np.ndarray:
    """v1: one scikit-learn fit per fold on the raw features; mean fold accuracy per repeat."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([np.mean([np.mean(LogisticRegression(max_iter=500).fit(x[tr], y[tr]).predict(x[te]) == y[te])
                                  for tr, te in folds]) for folds in splits])


def _cv_problem():
    """The 2000-unit synthetic set's states (n_conditions, n_time, n_units), labels (n_conditions,), CV splits
    (CV_SEEDS x CV_FOLDS (train, test) index pairs) and fold weights (n_fits, n_conditions)."""
    from sklearn.model_selection import StratifiedKFold

    from benchmarks.bench_views import synthetic_set

    rs = synthetic_set(np.random.default_rng(0))
    states, labels = _states(rs, rs.stimuli)
    y = labels[:, 0]
    splits = [list(StratifiedKFold(CV_FOLDS, shuffle=True, random_state=s).split(y, y)) for s in CV_SEEDS]
    return rs, states, y, splits, _fold_weights(splits, len(y))


def compare(n_windows: int) -> None:
    from threadpoolctl import threadpool_limits

    rs, states, y, splits, weights = _cv_problem()
    increasing, _ = _window_means(states)
    picks = np.linspace(0, rs.n_time - 1, n_windows).astype(int)
    times, gaps = {"before": [], "after": []}, []
    print(f"{rs.label} {rs.shape}: logistic CV (25 fits) per window, paired and alternating, 1 BLAS thread")
    with threadpool_limits(limits=1, user_api="blas"):
        for t, order in zip(picks, alternating(len(picks))):
            result = {}
            for which in order:
                result[which], wall, _ = timed(
                    lambda: sklearn_cv(increasing[t], y, splits) if which == "before"
                    else _logistic_cv(increasing[t], y, len(rs.stimuli), weights, len(CV_SEEDS))[0])
                times[which].append(wall)
            gaps.append(np.abs(result["before"].mean() - result["after"].mean()))
            print(f"  window [0..{t:2d}]  before {times['before'][-1]:6.2f} s  after {times['after'][-1]:6.3f} s  "
                  f"accuracy {result['before'].mean():.3f} / {result['after'].mean():.3f}")
    before, after = np.mean(times["before"]), np.mean(times["after"])
    n_eval = 2 * rs.n_time + 1
    print(f"  mean per window: before {before:.2f} s, after {after:.3f} s, ratio {before / after:.1f}x; "
          f"full sweep ({n_eval} evaluations) extrapolated: before {n_eval * before:.0f} s, "
          f"after {n_eval * after:.1f} s; "
          f"largest accuracy difference {max(gaps):.3f} (v1 stops at scikit-learn's tol 1e-4)")


def _sweep_fits(windows: list[np.ndarray], y: np.ndarray, weights: np.ndarray, n_classes: int, *, v2: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """Logistic CV of every window: fold accuracies (n_windows, n_fits) and iterations (n_windows, n_fits)."""
    accuracy, iterations = [], []
    for x in windows:
        if v2:  # QR coordinates of the centred rows, unscaled L-BFGS (curvature 1)
            z = np.linalg.qr((x - x.mean(axis=0)).T)[1].T
        else:
            z = _span_basis(x)[1]
        problems = _Problems(z, y, n_classes, weights)
        if v2:
            problems.curvature = np.ones(problems.n_params)
        solved, n_iter = _lbfgs(problems, np.zeros((len(weights), problems.n_params)))
        correct = (problems.scores(solved).argmax(axis=2) == y[:, None]).T & (weights == 0)
        accuracy.append(correct.sum(axis=1) / (weights == 0).sum(axis=1))
        iterations.append(n_iter)
    return np.array(accuracy), np.array(iterations)


def sweep(n_pairs: int) -> None:
    from threadpoolctl import threadpool_limits

    rs, states, y, _, weights = _cv_problem()
    increasing, decreasing = _window_means(states)
    windows = [states.mean(axis=1), *increasing, *decreasing]
    print(f"{rs.label} {rs.shape}: logistic CV of {len(windows)} windows x {len(weights)} fits, paired and "
          f"alternating, 1 BLAS thread")
    times, out = {"before": [], "after": []}, {}
    with threadpool_limits(limits=1, user_api="blas"):
        for order in alternating(n_pairs):
            for which in order:
                out[which], wall, _ = timed(
                    lambda: _sweep_fits(windows, y, weights, len(rs.stimuli), v2=which == "before"))
                times[which].append(wall)
                n_iter = out[which][1]
                print(f"  {which:<6} {times[which][-1]:6.2f} s  iterations median {np.median(n_iter):.0f}, "
                      f"p99 {np.percentile(n_iter, 99):.0f}, max {n_iter.max()}; "
                      f"fits at max_iter {np.sum(n_iter >= LOGISTIC_MAX_ITER)}/{n_iter.size}", flush=True)
    before, after = np.mean(times["before"]), np.mean(times["after"])
    gap = np.abs(out["before"][0] - out["after"][0])
    print(f"  mean: before {before:.2f} s, after {after:.2f} s, ratio {before / after:.1f}x; fold accuracies "
          f"differ in {np.sum(gap > 0)}/{gap.size} fits (largest {gap.max():.3f}); window accuracies differ by at "
          f"most {np.abs(out['before'][0].mean(axis=1) - out['after'][0].mean(axis=1)).max():.4f}")


BEFORE = "362448f"     # main before issue 16 target 2: every window from zero, in one process
ROOT = Path(__file__).resolve().parent.parent


def module_at(rev: str):
    """``compute/analysis/decoding.py`` as it was at git revision ``rev``, imported as a module of its own."""
    source = subprocess.run(["git", "show", f"{rev}:compute/analysis/decoding.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader(f"decoding_at_{rev}", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                    # dataclasses look their module up
    exec(compile(source, f"{rev}:compute/analysis/decoding.py", "exec"), module.__dict__)
    return module


def real(paths: list[str], n_rounds: int, rev: str) -> None:
    before = module_at(rev)
    sides = {"before": lambda rs: before.decoding_accuracy(rs),
             "after, 1 process": lambda rs: decoding_accuracy(rs, n_jobs=1),
             "after, 2 processes": lambda rs: decoding_accuracy(rs, n_jobs=2)}
    names = list(sides)
    print(f"decoding_accuracy with all windows; before = {rev}; {n_rounds} rounds, order reversing, wall seconds")
    for path in paths:
        rs = ResponseSet.load(path)
        print(f"{rs.label} {rs.shape} ({Path(path).name})")
        times: dict[str, list[float]] = {name: [] for name in names}
        longest: dict[str, list[float]] = {name: [] for name in names}    # CPU of the busier process
        results = {}
        for round_ in range(n_rounds):
            for name in names if round_ % 2 == 0 else names[::-1]:
                children = os.times()
                results[name], wall, cpu = timed(lambda: sides[name](rs))
                worker = sum(os.times()[2:4]) - sum(children[2:4])
                times[name].append(wall)
                longest[name].append(max(cpu, worker))
                print(f"  round {round_ + 1} {name:<19} {wall:6.2f} s wall; CPU {cpu:6.2f} s here, {worker:6.2f} s in "
                      f"the worker (on 2 free cores the wall is about the larger)", flush=True)
        reference = results["before"]
        first = np.mean(times["before"])
        for name in names[1:]:
            acc = results[name]
            busier, busier_before = np.mean(longest[name]), np.mean(longest["before"])
            print(f"  {name}: CPU of the busier process {busier:.2f} s vs before {busier_before:.2f} s, ratio "
                  f"{busier_before / busier:.2f}x (the wall ratio on 2 free cores; robust when the machine is busy)")
            differ = acc.window_logistic != reference.window_logistic
            largest = np.abs(acc.window_logistic - reference.window_logistic).max()
            print(f"  {name}: mean {np.mean(times[name]):.2f} s vs before {first:.2f} s, ratio "
                  f"{first / np.mean(times[name]):.2f}x; window accuracies differing from before "
                  f"{differ.sum()}/{differ.size} (largest {largest:.4f}),"
                  f" whole trial {acc.logistic:.4f} / {reference.logistic:.4f}, 3-NN equal "
                  f"{np.array_equal(acc.window_knn, reference.window_knn)}, not converged {acc.not_converged}")


def blas_threads(n_pairs: int) -> None:
    from threadpoolctl import threadpool_limits

    x = np.random.default_rng(0).normal(size=(48, 1146))
    times: dict[int, list[float]] = {1: [], 2: []}
    for order in alternating(n_pairs, (1, 2)):
        for threads in order:
            with threadpool_limits(limits=threads, user_api="blas"):
                times[threads].append(float(np.median(call_times(lambda: np.linalg.svd(x, full_matrices=False), 20))))
    one, two = np.median(times[1]), np.median(times[2])
    print(f"48 x 1146 SVD, median of 20 calls per run, {n_pairs} pairs: 1 BLAS thread {1e3 * one:.2f} ms, "
          f"2 threads {1e3 * two:.2f} ms, ratio 2/1 = {two / one:.1f}x")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the time-window sweeps")
    parser.add_argument("--compare", type=int, default=0, metavar="N",
                        help="only the paired before/after comparison over N windows")
    parser.add_argument("--sweep", type=int, default=0, metavar="N",
                        help="only the paired before/after of the whole window sweep's fits, N pairs")
    parser.add_argument("--real", nargs="+", default=[], metavar="PATH",
                        help="only before/after of the whole accuracy sweep on saved response sets")
    parser.add_argument("--pairs", type=int, default=2, metavar="N", help="rounds for --real")
    parser.add_argument("--before", default=BEFORE, metavar="REV", help="git revision of 'before' for --real")
    parser.add_argument("--blas", type=int, default=0, metavar="N",
                        help="only 1 vs 2 BLAS threads on a decoding-sized SVD, N pairs")
    args = parser.parse_args(argv)
    if args.real:
        real(args.real, args.pairs, args.before)
        return
    if args.blas:
        blas_threads(args.blas)
        return
    if args.sweep:
        sweep(args.sweep)
        return
    if args.compare:
        compare(args.compare)
        return
    windows = not args.quick
    sets = [reported(f"load {name} (reconstructed)", lambda name=name: load_dataset(name)) for name in ("retina", "V1")]
    sets.append(model_sized())
    for rs in sets:
        print(f"{rs.label}: {rs.shape}")
        reported("decoding manifold", lambda: decoding_manifold(rs))
        reported("decoding trajectories", lambda: decoding_trajectories(rs))
        acc = reported("accuracy, whole trial (25 LR fits + LOO 3-NN)", lambda: decoding_accuracy(rs, windows=False))
        print(f"    {acc.n_classes}-way: logistic {acc.logistic:.3f} +/- {acc.logistic_sd:.3f}, 3-NN {acc.knn:.3f}, "
              f"chance {acc.chance:.3f}, not converged {acc.not_converged}")
        if windows:
            acc = reported(f"accuracy with {2 * rs.n_time} windows", lambda: decoding_accuracy(rs))
            peak = acc.window_logistic.max(axis=1)
            print(f"    best logistic: increasing {peak[0]:.3f}, decreasing {peak[1]:.3f}; "
                  f"not converged {acc.not_converged}")


if __name__ == "__main__":
    main(sys.argv[1:])
