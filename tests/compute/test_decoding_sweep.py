"""The decoding window sweep's mechanisms (issue 16 target 2): warm starts along each window family and the
family run in a forked worker process. Known answers: a warm start keeps the classifier; a warm-started
sweep reaches every window's cold-started optimum; the result does not depend on the number of processes."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

import compute.analysis.decoding as decoding
from compute.analysis.decoding import (CV_FOLDS, CV_SEEDS, LOGISTIC_TOL, _extrapolated_start, _fold_weights, _lbfgs,
                                       _logistic_cv, _Problems, _span_basis, _window_means, decoding_accuracy)
from compute.jobs import Cancelled, JobControl
from tests.compute.test_decoding import from_conditions, make_set

N_STIM, N_DIR, N_TIME = 3, 8, 6


def overlapping(rng: np.random.Generator) -> np.ndarray:
    """(24 conditions, 6 time bins, 60 units): 3 classes that overlap, each condition's response drifting
    smoothly in time (a running mean of noise), so that neighbouring windows are near, as in real responses."""
    n_cond, n_units, spread = N_STIM * N_DIR, 60, 8.0
    means = rng.normal(0, 3.0, (N_STIM, 1, n_units)) + rng.normal(0, spread, (N_STIM, N_DIR, n_units))
    steps = rng.normal(0, spread, (n_cond, N_TIME, n_units))
    drift = np.cumsum(steps, axis=1) / np.sqrt(np.arange(1, N_TIME + 1))[:, None]
    return means.reshape(n_cond, 1, n_units) + drift


def cv_weights(y: np.ndarray) -> np.ndarray:
    splits = [list(StratifiedKFold(CV_FOLDS, shuffle=True, random_state=s).split(y, y)) for s in CV_SEEDS]
    return _fold_weights(splits, len(y))


def scores(solution: decoding._Solution, x: np.ndarray) -> np.ndarray:
    """(n_fits, n_samples, n_logits) scores W (x - m) + b of a window's fits on the rows x (n_samples, n_units)."""
    theta = solution.theta.reshape(len(solution.theta), solution.n_logits, -1)
    return np.einsum("fkr,nr->fnk", theta[..., :-1], (x - solution.mean) @ solution.basis) + theta[:, None, :, -1]


class TestWarmStart:
    def test_start_keeps_the_classifier_when_the_span_is_the_same(self, rng):
        """Shifting every row by one vector leaves the centred rows (and so their span) unchanged: in the
        shifted window's coordinates the mapped start must be the same classifier W (x - m) + b, i.e. give
        the fitted scores on the shifted rows (without moving the intercepts they would differ by W shift)."""
        x = overlapping(rng)[:, 0]
        y = np.repeat(np.arange(N_STIM), N_DIR)
        _, _, fitted = _logistic_cv(x, y, N_STIM, cv_weights(y), len(CV_SEEDS))
        shifted = x + rng.normal(0, 5.0, x.shape[1])
        basis, z, mean = _span_basis(shifted)
        moved = decoding._Solution(basis, mean, fitted.start(basis, mean), fitted.n_logits)
        expected = scores(fitted, shifted)
        assert np.abs(expected - scores(fitted, x)).max() > 1.0               # the shift matters
        np.testing.assert_allclose(scores(moved, shifted), expected, atol=1e-9 * np.abs(expected).max())

    @pytest.mark.parametrize("n_points", [1, 2, 3])
    def test_extrapolation_is_exact_on_a_polynomial_path(self, rng, n_points):
        """Solutions theta(t) on a polynomial of degree n_points - 1 in t, the windows sharing one span (the
        same rows shifted): the start for window t + 1 is theta(t + 1) itself, mapped into its coordinates.
        One degree more is not reproduced (the extrapolation is the lowest-degree one)."""
        x = overlapping(rng)[:, 0]
        basis, _, mean = _span_basis(x)
        coefficients = rng.normal(size=(n_points + 1, 7, 2 * (basis.shape[1] + 1)))

        def theta(t, degree):
            return sum(c * t ** p for p, c in enumerate(coefficients[: degree + 1]))

        shift = rng.normal(0, 5.0, x.shape[1])
        target_basis, _, target_mean = _span_basis(x + shift)
        for degree, exact in ((n_points - 1, True), (n_points, False)):
            chain = [decoding._Solution(basis, mean, theta(t, degree), 2) for t in range(n_points)]
            start = _extrapolated_start(chain, target_basis, target_mean)
            expected = decoding._Solution(basis, mean, theta(n_points, degree), 2).start(target_basis, target_mean)
            assert np.allclose(start, expected, atol=1e-8 * np.abs(expected).max()) == exact

    def test_warm_started_family_reaches_each_windows_cold_optimum(self, rng):
        """Each window of both families warm-started from its chain's last three windows: the same optimum as
        fits from zero (the same strictly convex problem) up to the stopping rule: both solutions with
        max |gradient| ~ LOGISTIC_TOL, decision scores equal to that tolerance, so the same CV accuracies but
        where a held-out row is a near-tie; and fewer iterations."""
        values = overlapping(rng)
        y = np.repeat(np.arange(N_STIM), N_DIR)
        weights = cv_weights(y)
        cold_iterations = warm_iterations = n_flips = n_predictions = 0
        accuracies = []
        for family in _window_means(values):
            chain = []
            for x in family:
                cold_repeats, _, cold = _logistic_cv(x, y, N_STIM, weights, len(CV_SEEDS))
                repeats, _, solution = _logistic_cv(x, y, N_STIM, weights, len(CV_SEEDS), chain)
                reference = scores(cold, x)
                ours = scores(solution, x)
                ours, reference = (a - a.mean(axis=2, keepdims=True) for a in (ours, reference))   # softmax-invariant
                # the scores differ by what max |gradient| <= 1e-6 leaves open on a weak penalty (a few 1e-4)
                tolerance = 1e-3 * np.abs(reference).max()
                np.testing.assert_allclose(ours, reference, atol=tolerance)
                # so a prediction may differ only on a near-tie of the cold fit, and then the accuracy with it
                flips = ours.argmax(axis=2) != reference.argmax(axis=2)          # (n_fits, n_samples)
                top = np.sort(reference, axis=2)
                assert np.all(top[..., -1][flips] - top[..., -2][flips] <= 2 * tolerance)
                if not flips.any():
                    np.testing.assert_array_equal(repeats, cold_repeats)
                n_flips += flips.sum()
                n_predictions += flips.size
                basis, z, mean = _span_basis(x)
                problems = _Problems(z, y, N_STIM, weights)
                for fits in (solution, cold):       # both stopped at the optimum: max |gradient| <= 1e-6, or the
                    gradient = problems.value_grad(fits.theta, np.arange(len(weights)))[1]    # relative-change rule
                    assert np.abs(gradient).max() <= 10 * LOGISTIC_TOL                        # (64 eps) just short
                cold_iterations += _lbfgs(problems, np.zeros((len(weights), problems.n_params)))[1].sum()
                start = _extrapolated_start(chain, basis, mean) if chain else np.zeros_like(cold.theta)
                warm_iterations += _lbfgs(problems, start)[1].sum()
                chain = [*chain, solution][-decoding._EXTRAPOLATION_POINTS:]
                accuracies.append(repeats.mean())
        assert 0.6 < max(accuracies) < 1.0              # informative fits, not perfectly separable ones
        assert n_flips <= 1e-3 * n_predictions
        assert warm_iterations < 0.97 * cold_iterations   # 0.94 here (noise-driven drift); ~0.5 on fnn-random modules


class TestWorkers:
    def test_parallel_equals_serial_exactly(self, rng):
        rs = make_set(from_conditions(overlapping(rng), N_STIM, N_DIR))
        runs = {}
        for n_jobs in (1, 2):
            reports = []
            control = JobControl(progress=lambda fraction, text: reports.append((fraction, text)))
            runs[n_jobs] = decoding_accuracy(rs, n_jobs=n_jobs, control=control)
            n_windows = 2 * N_TIME - 1                                  # the whole trial is shared by both families
            assert [text for _, text in reports[:-1]] == [f"decoding windows: {k}/{n_windows} done"
                                                         for k in range(1, n_windows + 1)]
            assert reports[-1] == (1.0, "decoding done")
        serial, parallel = runs[1], runs[2]
        for field in ("logistic_repeats", "window_logistic", "window_logistic_sd", "window_knn"):
            np.testing.assert_array_equal(getattr(parallel, field), getattr(serial, field))
        assert parallel.knn == serial.knn and parallel.not_converged == serial.not_converged
        assert 0.6 < serial.window_logistic.max() < 1.0

    def test_cancel_stops_the_worker(self, rng):
        rs = make_set(from_conditions(overlapping(rng), N_STIM, N_DIR))
        reports = []
        control = JobControl(progress=lambda fraction, text: reports.append(text), cancelled=lambda: len(reports) >= 2)
        with pytest.raises(Cancelled):
            decoding_accuracy(rs, n_jobs=2, control=control)
        assert len(reports) < 2 * N_TIME - 1 and multiprocessing.active_children() == []      # stopped early

    def test_worker_error_reaches_the_caller(self, rng, monkeypatch):
        parent = os.getpid()
        knn = decoding._knn_loo

        def failing_in_worker(*args, **kwargs):
            if os.getpid() != parent:
                raise FloatingPointError("planted failure")
            return knn(*args, **kwargs)

        monkeypatch.setattr(decoding, "_knn_loo", failing_in_worker)
        rs = make_set(from_conditions(overlapping(rng), N_STIM, N_DIR))
        with pytest.raises(FloatingPointError, match="planted failure"):
            decoding_accuracy(rs, n_jobs=2)
        assert multiprocessing.active_children() == []

    def test_n_jobs_errors(self, rng):
        rs = make_set(rng.random((5, 2, 8, 4)))
        with pytest.raises(ValueError, match=r"n_jobs must be an integer >= 1 or None \(all available cores\); got 0"):
            decoding_accuracy(rs, n_jobs=0)
        with pytest.raises(TypeError, match="n_jobs must be an integer >= 1 or None"):
            decoding_accuracy(rs, n_jobs=1.5)
