"""Decoding analyses of a response set (METHODS.md section 4).

- decoding manifold: each condition (stimulus, direction) averaged over time, PCA to 3, no scaling;
- decoding accuracy: stimulus class from time-averaged population vectors; logistic regression
  (scikit-learn's L2 objective, C = 1, max_iter 500; L-BFGS to max |gradient| 1e-6, solved exactly in the
  span of the centred rows, see :func:`_span_basis`) with 5 x stratified 5-fold CV (seeds 42..46) and
  3-nearest-neighbours leave-one-out; also per time for "increasing" [0..t] and "decreasing" [t..end] windows
  (each family a chain of warm starts extrapolated from its last three windows, the increasing one in a
  forked process);
- decoding trajectories: one joint PCA(3) over all (condition, time) population vectors.

Conditions are stimulus-major: condition c = stimulus k * n_directions + direction d, and
``labels[c] = (k, d)`` with k indexing the result's ``stimuli`` and d its ``directions``.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Callable, Iterator, Sequence

import numpy as np
from scipy.sparse.linalg import svds
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from compute._validation import check_bool, check_instance, check_int
from compute.jobs import Cancelled, JobControl, ensure_control, fail_to_parent
from compute.responses import ResponseSet
from compute.stimuli import resolve

CV_SEEDS = (42, 43, 44, 45, 46)
CV_FOLDS = 5
LOGISTIC_MAX_ITER = 500
KNN_NEIGHBOURS = 3
WINDOWS = ("increasing", "decreasing")
_FULL_SVD_MAX = 200         # PCA: full SVD up to this many rows or units, ARPACK above
_POLL_S = 0.25              # how often the sweep's parent checks its control while the forked family runs
# _ONE_THREAD: every BLAS call here is small (a 48 x 1146 SVD, a 38-sample logistic fit, ARPACK
# matrix-vector products); on a busy machine OpenBLAS threads make them several times slower, not faster
# (``python benchmarks/bench_decoding.py --blas 4`` measures it), so the kernels run single-threaded.


@dataclass(frozen=True, eq=False)
class DecodingManifold:
    """One point per condition in the first 3 PCs of the time-averaged population vectors.

    Attributes
    ----------
    coords : ndarray of shape (n_conditions, 3)
    explained_variance_ratio : ndarray of shape (3,)
    labels : ndarray of shape (n_conditions, 2), int
        (stimulus index into ``stimuli``, direction index into ``directions``).
    stimuli : tuple of str, length n_stimuli
    directions : ndarray of shape (n_directions,), degrees
    """

    coords: np.ndarray
    explained_variance_ratio: np.ndarray
    labels: np.ndarray
    stimuli: tuple[str, ...]
    directions: np.ndarray


@dataclass(frozen=True, eq=False)
class DecodingAccuracy:
    """Stimulus-class decoding from population vectors averaged over a time window.

    Attributes
    ----------
    stimuli : tuple of str, length n_classes
        The decoded classes.
    chance : float
        1 / n_classes.
    logistic : float
        Logistic-regression accuracy (whole trial), mean over the 5 repeats of 5-fold CV.
    logistic_sd : float
        Standard deviation of the 5 repeat means.
    logistic_repeats : ndarray of shape (5,)
        Mean accuracy of each repeat (seeds 42..46).
    knn : float
        3-nearest-neighbour leave-one-out accuracy (whole trial).
    time : ndarray of shape (n_time,)
        Time axis of the window curves (empty when windows were not computed).
    window_logistic, window_logistic_sd, window_knn : ndarray of shape (2, n_time)
        Row 0: "increasing" window [0..t]; row 1: "decreasing" window [t..end].
        Shape (2, 0) when windows were not computed.
    not_converged : int
        Logistic fits (25 per evaluated window) that stopped at max_iter (500) without converging.
    """

    stimuli: tuple[str, ...]
    chance: float
    logistic: float
    logistic_sd: float
    logistic_repeats: np.ndarray
    knn: float
    time: np.ndarray
    window_logistic: np.ndarray
    window_logistic_sd: np.ndarray
    window_knn: np.ndarray
    not_converged: int

    @property
    def n_classes(self) -> int:
        return len(self.stimuli)


@dataclass(frozen=True, eq=False)
class Trajectories:
    """One 3-D curve per condition: all (condition, time) population vectors in one joint PCA(3).

    Attributes
    ----------
    curves : ndarray of shape (n_conditions, n_time, 3)
    labels : ndarray of shape (n_conditions, 2), int
        (stimulus index into ``stimuli``, direction index into ``directions``).
    explained_variance_ratio : ndarray of shape (3,)
    stimuli : tuple of str, length n_stimuli
    directions : ndarray of shape (n_directions,), degrees
    time : ndarray of shape (n_time,)
    """

    curves: np.ndarray
    labels: np.ndarray
    explained_variance_ratio: np.ndarray
    stimuli: tuple[str, ...]
    directions: np.ndarray
    time: np.ndarray


# ---------------------------------------------------------------------------- inputs
def resolve_stimuli(rs: ResponseSet, stimuli: str | Sequence[str | int] | None = None, *,
                    default: str = "bio-matched") -> tuple[str, ...]:
    """Stimulus names an analysis of ``rs`` uses, in the order it uses them (``compute.stimuli.resolve``
    among ``rs.stimuli``: None = ``default``, falling back to every stimulus of the set)."""
    check_instance(rs, ResponseSet, name="rs")
    return resolve(stimuli, rs.stimuli, default=default)


def _states(rs: ResponseSet, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Population vectors per condition and time, and condition labels.

    Returns states of shape (n_conditions, n_time, n_units) float64 and labels (n_conditions, 2).
    """
    sub = rs.select(stimuli=list(names)).responses                     # (unit, stim, dir, time)
    n_units, n_stim, n_dir, n_time = sub.shape
    states = sub.transpose(1, 2, 3, 0).reshape(n_stim * n_dir, n_time, n_units).astype(np.float64)
    labels = np.stack(np.meshgrid(np.arange(n_stim), np.arange(n_dir), indexing="ij"), -1).reshape(-1, 2)
    return states, labels


def condition_matrix(rs: ResponseSet, *, stimuli: str | Sequence[str | int] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Time-averaged population vector of every condition.

    Parameters
    ----------
    rs : ResponseSet
    stimuli : str or sequence of str/int, default=None
        "all", a preset of ``compute.stimuli.PRESETS`` ("bio-matched", ...), or names/indices.
        None: the bio-matched six when the set has them, else all.

    Returns
    -------
    matrix : ndarray of shape (n_conditions, n_units)
        Row c = stimulus k * n_directions + direction d.
    labels : ndarray of shape (n_conditions, 2), int
        (k indexing ``resolve_stimuli(rs, stimuli)``, d indexing ``rs.directions``).
    """
    states, labels = _states(rs, resolve_stimuli(rs, stimuli))
    return states.mean(axis=1), labels


def _pca(x: np.ndarray, n_components: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """PCA of ``x`` (n_samples, n_features), centred, not scaled.

    Returns scores (n_samples, n_components) and explained-variance ratios (n_components,). Small
    matrices use a full SVD; large ones (trajectory states, e.g. 6480 x 1146) compute only the leading
    singular triplets with ARPACK from a fixed start vector, to machine precision. Each component's sign
    makes its largest-magnitude loading positive (sklearn's convention), so results are deterministic.
    """
    n_samples, n_features = x.shape
    if min(n_samples, n_features) < n_components:
        raise ValueError(f"PCA to {n_components} components needs at least {n_components} units and "
                         f"{n_components} rows; got {n_features} units and {n_samples} rows")
    xc = x - x.mean(axis=0)
    small = min(n_samples, n_features)
    with threadpool_limits(limits=1, user_api="blas"):     # see _ONE_THREAD
        if small <= _FULL_SVD_MAX:
            u, singular, vt = np.linalg.svd(xc, full_matrices=False)
            u, singular, vt = u[:, :n_components], singular[:n_components], vt[:n_components]
        else:
            u, singular, vt = svds(xc, k=n_components, v0=np.full(small, 1.0 / np.sqrt(small)), tol=0)
            u, singular, vt = u[:, ::-1], singular[::-1], vt[::-1]
    signs = np.sign(vt[np.arange(n_components), np.abs(vt).argmax(axis=1)])
    total = float(np.einsum("ij,ij->", xc, xc))
    ratio = singular ** 2 / total if total > 0 else np.zeros(n_components)
    return u * (singular * signs), ratio


def decoding_manifold(rs: ResponseSet, *, stimuli: str | Sequence[str | int] | None = None) -> DecodingManifold:
    """PCA(3) of the condition matrix (48 points for the six bio-matched stimuli); no scaling.

    Parameters
    ----------
    rs : ResponseSet
    stimuli : str or sequence of str/int, default=None
        "all", a preset of ``compute.stimuli.PRESETS`` ("bio-matched", ...), or names/indices.
        None: the bio-matched six when the set has them, else all.
    """
    names = resolve_stimuli(rs, stimuli)
    states, labels = _states(rs, names)
    coords, ratio = _pca(states.mean(axis=1))
    return DecodingManifold(coords=coords, explained_variance_ratio=ratio, labels=labels, stimuli=names,
                            directions=rs.directions.copy())


def decoding_trajectories(rs: ResponseSet, *, stimuli: str | Sequence[str | int] | None = None) -> Trajectories:
    """Every (condition, time) population vector in one joint PCA(3) (no scaling), as curves; parameters
    as for :func:`decoding_manifold`."""
    names = resolve_stimuli(rs, stimuli)
    states, labels = _states(rs, names)
    n_cond, n_time, n_units = states.shape
    scores, ratio = _pca(states.reshape(n_cond * n_time, n_units))
    return Trajectories(curves=scores.reshape(n_cond, n_time, 3), labels=labels, explained_variance_ratio=ratio,
                        stimuli=names, directions=rs.directions.copy(), time=rs.time.copy())


# ---------------------------------------------------------------------------- logistic regression
LOGISTIC_TOL = 1e-6         # max |gradient| at the stop. scikit-learn's default 1e-4 can stop short of the
                            # optimum by enough to flip held-out predictions (0.01-0.02 accuracy on a test fixture)
_HISTORY = 10               # L-BFGS memory (scikit-learn / scipy default)
_ARMIJO = 1e-4
_MAX_HALVINGS = 40


def _span_basis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates of the centred rows of ``x`` (n_samples, n_units) in an orthonormal basis of their span:
    the principal axes, so that the coordinates' columns are orthogonal (see :class:`_Problems`).

    Exact for an L2-penalised logistic regression with an unpenalised intercept: (1) centring by any
    vector m only moves the intercept (W x + b = W (x - m) + b + W m), so the optimal W is unchanged;
    (2) at the optimum W = -C sum_i g_i x_i with sum_i g_i = 0 (the intercept's gradient), i.e. W's rows
    lie in the span of the training rows less m, hence in the span of all centred rows, where the
    orthonormal coordinates leave the penalty unchanged. Fitting and predicting on the coordinates is the
    same optimum with ~n_samples columns instead of n_units; centring also removes the rows' common mean,
    the direction that makes the raw problem ill-conditioned against the intercept.

    Returns basis (n_units, r), coords (n_samples, r) with r = min(n_samples, n_units), and the mean m
    (n_units,); coords @ basis.T + m = x.
    """
    mean = x.mean(axis=0)
    u, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    return vt.T, u * singular, mean


class _Problems:
    """A batch of multinomial (binary: one logit against a zero reference) L2 logistic objectives.

    Problem b is scikit-learn's ``LogisticRegression(C=1)`` objective on the rows with ``weights[b] > 0``:
    mean cross-entropy + ||W||^2 / (2 n_b), intercepts unpenalised. Parameters of problems ``rows`` have
    shape (len(rows), n_logits * (n_features + 1)), per logit its weights then its intercept.

    ``curvature`` (n_params,) is the Hessian's diagonal at zero averaged over the problems (class
    probabilities 1 / n_classes: c = 1 / n_classes, or 1 / 4 for one binary logit), c * mean_i z_ij^2 + l2.
    On principal-axis coordinates (orthogonal columns) the Hessian at zero is nearly this diagonal, while
    the columns' variances span orders of magnitude (a few signal axes, many noise axes, the penalty only
    1 / n_b): L-BFGS scaled by it (``_lbfgs``) does not crawl along the flat axes.
    """

    def __init__(self, z: np.ndarray, y: np.ndarray, n_classes: int, weights: np.ndarray):
        n_train = weights.sum(axis=1)
        self.z1 = np.hstack([z, np.ones((len(z), 1))])              # (n_samples, n_features + 1)
        self.y = y
        self.n_classes = n_classes
        self.w = weights / n_train[:, None]                        # (n_problems, n_samples)
        self.l2 = 1.0 / n_train                                    # (n_problems,)
        self.n_logits = 1 if n_classes == 2 else n_classes
        penalised = np.ones((self.n_logits, self.z1.shape[1]))
        penalised[:, -1] = 0.0
        self.penalised = penalised.ravel()                         # (n_params,)
        c = 0.25 if self.n_logits == 1 else 1.0 / n_classes
        column = c * np.einsum("ij,ij->j", self.z1, self.z1) / len(self.z1)
        self.curvature = np.tile(column, self.n_logits) + self.l2.mean() * self.penalised

    @property
    def n_params(self) -> int:
        return self.n_logits * self.z1.shape[1]

    def scores(self, theta: np.ndarray) -> np.ndarray:
        """(n_samples, n_rows, n_classes) class scores of every sample under each parameter row."""
        n_rows = len(theta)
        out = (self.z1 @ theta.reshape(n_rows * self.n_logits, -1).T).reshape(len(self.z1), n_rows, self.n_logits)
        return np.concatenate([np.zeros_like(out), out], axis=2) if self.n_logits == 1 else out

    def value_grad(self, theta: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objective (len(rows),) and gradient (like ``theta``) of problems ``rows`` at ``theta``."""
        scores = self.scores(theta)                                # (n_samples, n_rows, n_classes)
        n_samples = len(scores)
        true = scores[np.arange(n_samples), :, self.y]             # (n_samples, n_rows)
        # Reductions over the short class axis are slow in numpy; shift by the row maxima only when
        # exp could overflow, and sum over classes with a matrix product.
        shift = scores.max(axis=2, keepdims=True) if np.abs(scores).max() > 300 else 0.0
        expo = np.exp(scores - shift)
        total = (expo.reshape(-1, self.n_classes) @ np.ones(self.n_classes)).reshape(n_samples, -1)
        nll = np.log(total) + np.squeeze(shift, axis=2) - true if np.ndim(shift) else np.log(total) - true
        w = self.w[rows].T                                         # (n_samples, n_rows)
        coef = theta * self.penalised
        value = np.einsum("nb,nb->b", w, nll) + 0.5 * self.l2[rows] * np.einsum("bp,bp->b", coef, coef)
        residual = expo * (w / total)[..., None]
        residual[np.arange(n_samples), :, self.y] -= w
        if self.n_logits == 1:
            residual = residual[..., 1:]
        grad = (residual.reshape(n_samples, -1).T @ self.z1).reshape(theta.shape)
        return value, grad + self.l2[rows, None] * coef


def _lbfgs(problems: _Problems, theta: np.ndarray, *, max_iter: int = LOGISTIC_MAX_ITER,
           tol: float = LOGISTIC_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Minimise every problem of the batch by L-BFGS with a backtracking (Armijo) line search.

    The objectives are strongly convex (the L2 term), so every step has positive curvature and the
    two-loop recursion's direction descends. The initial inverse Hessian is gamma / ``problems.curvature``
    (gamma from the newest pair, s'y / y'H0 y), i.e. L-BFGS on parameters scaled by sqrt(curvature); the
    iterates differ, the optimum does not. A problem stops once max |gradient| <= ``tol`` (scikit-learn's
    lbfgs criterion, on the unscaled parameters), when its objective stops decreasing (relative change
    <= 64 eps, scipy's rule), or after ``max_iter``; stopped problems leave the batch.

    Parameters
    ----------
    theta : ndarray of shape (n_problems, n_params)
        Starting points.

    Returns the minimisers (n_problems, n_params) and the iterations of each problem (n_problems,).
    """
    out = theta.copy()
    n_iter = np.zeros(len(theta), dtype=np.int64)
    rows = np.arange(len(theta))
    x = theta.copy()
    value, g = problems.value_grad(x, rows)
    s_hist = np.zeros((_HISTORY, len(x), x.shape[1]))
    y_hist = np.zeros_like(s_hist)
    rho = np.zeros((_HISTORY, len(x)))
    inverse = 1.0 / problems.curvature      # (n_params,) diagonal of the initial inverse Hessian, up to gamma
    gamma = np.ones(len(x))                 # s'y / y'H0 y of the newest pair
    keep = np.abs(g).max(axis=1) > tol
    for it in range(max_iter):
        if not keep.all():                  # stopped problems leave the batch
            out[rows[~keep]] = x[~keep]
            rows, x, value, g, gamma = rows[keep], x[keep], value[keep], g[keep], gamma[keep]
            s_hist, y_hist, rho = s_hist[:, keep], y_hist[:, keep], rho[:, keep]
        if not len(rows):
            break
        stored = [(it - 1 - j) % _HISTORY for j in range(min(it, _HISTORY))]     # newest first
        q = g.copy()
        alpha = np.zeros((_HISTORY, len(x)))
        for i in stored:
            alpha[i] = rho[i] * np.einsum("bp,bp->b", s_hist[i], q)
            q -= alpha[i][:, None] * y_hist[i]
        if stored:
            q *= gamma[:, None] * inverse
        else:                               # first step: length at most 1 in the scaled parameters
            q *= inverse / np.maximum(1.0, np.sqrt(np.einsum("bp,p,bp->b", g, inverse, g)))[:, None]
        for i in reversed(stored):
            q += (alpha[i] - rho[i] * np.einsum("bp,bp->b", y_hist[i], q))[:, None] * s_hist[i]
        direction = -q
        slope = np.einsum("bp,bp->b", g, direction)
        step = np.ones(len(x))
        new_x, new_value, new_g = x.copy(), value.copy(), g.copy()
        todo = np.arange(len(x))
        for _ in range(_MAX_HALVINGS):
            trial = x[todo] + step[todo, None] * direction[todo]
            trial_value, trial_grad = problems.value_grad(trial, rows[todo])
            ok = trial_value <= value[todo] + _ARMIJO * step[todo] * slope[todo]
            done = todo[ok]
            new_x[done], new_value[done], new_g[done] = trial[ok], trial_value[ok], trial_grad[ok]
            todo = todo[~ok]
            if not len(todo):
                break
            step[todo] *= 0.5
        moved = np.ones(len(x), dtype=bool)
        moved[todo] = False
        slot = it % _HISTORY
        s_hist[slot], y_hist[slot] = new_x - x, new_g - g
        curvature = np.einsum("bp,bp->b", s_hist[slot], y_hist[slot])
        usable = moved & (curvature > 0)
        rho[slot] = np.where(usable, 1.0 / np.where(usable, curvature, 1.0), 0.0)
        y_norm = np.einsum("bp,p,bp->b", y_hist[slot], inverse, y_hist[slot])
        gamma = np.where(usable, curvature / np.where(usable, y_norm, 1.0), gamma)
        stalled = np.abs(value - new_value) <= 64 * np.finfo(float).eps * np.maximum.reduce(
            [np.abs(value), np.abs(new_value), np.ones(len(x))])
        n_iter[rows] += 1
        x, value, g = new_x, new_value, new_g
        keep = moved & ~stalled & (np.abs(g).max(axis=1) > tol)
    out[rows] = x                           # the last iterates of the problems still running at max_iter
    return out, n_iter


# ---------------------------------------------------------------------------- accuracy kernels
def _fold_weights(splits: list[list[tuple[np.ndarray, np.ndarray]]], n_samples: int) -> np.ndarray:
    """(n_repeats * n_folds, n_samples) 1.0 on each fit's training rows, 0.0 on its test rows."""
    folds = [train for repeat in splits for train, _ in repeat]
    weights = np.zeros((len(folds), n_samples))
    for b, train in enumerate(folds):
        weights[b, train] = 1.0
    return weights


@dataclass(frozen=True, eq=False)
class _Solution:
    """The fits of one window, the warm start of the next (:func:`_logistic_cv`).

    basis (n_units, r) and mean (n_units,) of the window's :func:`_span_basis`; theta (n_fits, n_params)
    in its coordinates, per logit the weights (r,) then the intercept.
    """

    basis: np.ndarray
    mean: np.ndarray
    theta: np.ndarray
    n_logits: int

    def start(self, basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """The same classifiers in the coordinates of another window (``basis`` (n_units, r'), ``mean``),
        (n_fits, n_logits * (r' + 1)): weights in unit space projected onto the new span (the part outside
        it only adds to the penalty), intercepts moved so that the scores stay W (x - m) + b."""
        theta = self.theta.reshape(len(self.theta), self.n_logits, -1)
        weights, intercept = theta[..., :-1], theta[..., -1]
        change = self.basis.T @ basis                                 # (r, r'), instead of (r, n_units)
        intercept = intercept + weights @ (self.basis.T @ (mean - self.mean))
        return np.concatenate([weights @ change, intercept[..., None]], axis=2).reshape(len(theta), -1)


_EXTRAPOLATION_POINTS = 3   # quadratic: 27-31 % fewer iterations than the last window's solution on
                            # fnn-random Enc L8, cubic no better (bench_decoding.py --real)


def _extrapolated_start(chain: Sequence[_Solution], basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Start of the next window of a chain: the polynomial through the chain's solutions (oldest first; up
    to quadratic), extrapolated one window on, in the next window's coordinates ``basis``, ``mean``.

    Every solution is first mapped into those coordinates (:meth:`_Solution.start`, linear in theta), so the
    extrapolation sum_j (-1)^(j+1) C(k, j) theta_{t-j} (k points, unit spacing: theta_{t-1} for one point,
    2 theta_{t-1} - theta_{t-2} for two, 3 theta_{t-1} - 3 theta_{t-2} + theta_{t-3} for three) is exact for
    solutions on a polynomial path of degree k - 1.
    """
    k = len(chain)
    return sum((-1) ** (j + 1) * math.comb(k, j) * chain[-j].start(basis, mean) for j in range(1, k + 1))


def _logistic_cv(x: np.ndarray, y: np.ndarray, n_classes: int, weights: np.ndarray, n_repeats: int,
                 warm: Sequence[_Solution] = ()) -> tuple[np.ndarray, int, _Solution]:
    """L2 logistic regression (scikit-learn's lbfgs objective, C = 1) on every fold of every repeat.

    All fits share the centred rows' span coordinates (:func:`_span_basis`) and run as one batch, from zero
    or from the solutions of the preceding windows of a chain (``warm``, :func:`_extrapolated_start`): the
    objective is strictly convex, so the start changes the iterations, not the optimum (up to the stopping
    tolerance).

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_units)
    y : ndarray of shape (n_samples,), int in [0, n_classes)
    weights : ndarray of shape (n_fits, n_samples)
        :func:`_fold_weights`; fits are repeat-major.
    warm : sequence of _Solution, default=()
        The same fits on the preceding windows of a chain of the same conditions, oldest first.

    Returns
    -------
    repeats : ndarray of shape (n_repeats,)
        Mean fold accuracy of each repeat, as ``cross_val_score(...).mean()``.
    not_converged : int
        Fits that stopped at max_iter.
    solution : _Solution
        These fits, to warm-start the next window.
    """
    basis, z, mean = _span_basis(x)
    problems = _Problems(z, y, n_classes, weights)
    start = _extrapolated_start(warm, basis, mean) if warm else np.zeros((len(weights), problems.n_params))
    solved, n_iter = _lbfgs(problems, start)
    correct = (problems.scores(solved).argmax(axis=2) == y[:, None]).T    # (n_fits, n_samples)
    test = weights == 0
    fold_accuracy = (correct & test).sum(axis=1) / test.sum(axis=1)
    repeats = fold_accuracy.reshape(n_repeats, -1).mean(axis=1)
    return repeats, int(np.sum(n_iter >= LOGISTIC_MAX_ITER)), _Solution(basis, mean, solved, problems.n_logits)


def _knn_loo(x: np.ndarray, y: np.ndarray, n_classes: int, k: int = KNN_NEIGHBOURS) -> float:
    """Leave-one-out accuracy of k-NN (Euclidean, majority vote, ties to the lowest class)."""
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    np.fill_diagonal(d2, np.inf)
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :k]
    votes = np.zeros((len(y), n_classes), dtype=np.int64)
    np.add.at(votes, (np.repeat(np.arange(len(y)), k), y[nearest].ravel()), 1)
    return float(np.mean(np.argmax(votes, axis=1) == y))


def _window_means(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over [0..t] and over [t..end] for every t: two arrays of shape (n_time, n_cond, n_units)."""
    n_time = states.shape[1]
    csum = np.cumsum(states, axis=1).transpose(1, 0, 2)               # (time, cond, units)
    counts = np.arange(1, n_time + 1, dtype=np.float64)[:, None, None]
    increasing = csum / counts
    before = np.concatenate([np.zeros_like(csum[:1]), csum[:-1]])
    decreasing = (csum[-1][None] - before) / counts[::-1]
    return increasing, decreasing


_Window = tuple[np.ndarray, int, float]
"""One window's evaluation: repeat means (n_repeats,), fits at max_iter, 3-NN accuracy."""


def _family(windows: Sequence[np.ndarray], y: np.ndarray, n_classes: int, weights: np.ndarray,
            n_repeats: int) -> Iterator[_Window]:
    """Evaluate ``windows`` (each (n_samples, n_units)) in order, each window's fits warm-started from the
    preceding windows', which are near: neighbouring windows share all but one time bin."""
    chain: list[_Solution] = []
    for x in windows:
        repeats, failed, solution = _logistic_cv(x, y, n_classes, weights, n_repeats, chain)
        chain = [*chain, solution][-_EXTRAPOLATION_POINTS:]
        yield repeats, failed, _knn_loo(x, y, n_classes)


def _n_jobs(n_jobs: int | None) -> int:
    """Processes for the window sweep: ``n_jobs`` (None: the available cores), 1 inside a daemonic process
    (which may not start children)."""
    if n_jobs is None:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    else:
        check_int(n_jobs, name="n_jobs", low=1, why=" or None (all available cores)")
    return 1 if multiprocessing.current_process().daemon else n_jobs


def _run_families(families: Sequence[Sequence[np.ndarray]], run: Callable[[Sequence[np.ndarray]], Iterator[_Window]],
                  n_jobs: int, control: JobControl) -> list[list[_Window]]:
    """``run`` every family of windows; the last family in a forked worker process when ``n_jobs`` > 1.

    The fits are many small numpy operations (on (25, ~1000) arrays) that hold the GIL in between, so two
    threads were slower than one (0.9x). A family is a fixed warm-start chain, so the results do not depend
    on where it runs. Forked, not spawned (a spawned worker re-imports the caller's modules). Progress after
    every window of either process; cancellable between windows.
    """
    total = sum(len(family) for family in families)
    results: list[list[_Window]] = [[] for _ in families]
    worker = None

    def done(family: int, window: _Window) -> None:
        results[family].append(window)
        finished = sum(map(len, results))
        control.report(finished / total, f"decoding windows: {finished}/{total} done")

    def receive(timeout: float) -> None:
        process, connection = worker
        while len(results[-1]) < len(families[-1]) and connection.poll(timeout):     # then only EOF is left
            try:
                kind, value = connection.recv()
            except EOFError:
                process.join(timeout=5)
                raise RuntimeError(f"decoding worker (pid {process.pid}) stopped without a result (exit code "
                                   f"{process.exitcode}; negative = killed by that signal); run again, or pass "
                                   "n_jobs=1 to decode in one process") from None
            if kind == "error":
                raise value
            done(len(families) - 1, value)
            timeout = 0.0

    if n_jobs > 1 and len(families) > 1 and len(families[-1]):
        context = multiprocessing.get_context("fork")
        here, there = context.Pipe()
        process = context.Process(target=_family_worker, args=(there, run, families[-1], os.getpid()), daemon=True,
                                  name="twinscope-decoding")
        process.start()
        there.close()
        worker = (process, here)
    try:
        for f, family in enumerate(families[:-1] if worker else families):
            control.check()
            for window in run(family):
                done(f, window)
                if worker:
                    receive(0.0)
                control.check()
        while worker and len(results[-1]) < len(families[-1]):
            control.check()
            receive(_POLL_S)
    finally:
        if worker:
            if worker[0].is_alive():
                worker[0].kill()
            worker[0].join()
            worker[1].close()
    return results


def _family_worker(connection: Connection, run: Callable[[Sequence[np.ndarray]], Iterator[_Window]],
                   family: Sequence[np.ndarray], parent: int) -> None:
    """The forked process of :func:`_run_families`: one BLAS thread, Ctrl-C left to the parent, stop when the
    parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            for window in run(family):
                if os.getppid() != parent:
                    raise Cancelled("the decoding's parent process is gone")
                connection.send(("window", window))
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent
        fail_to_parent(connection, err, "decoding worker")


def decoding_accuracy(rs: ResponseSet, *, stimuli: str | Sequence[str | int] | None = None, windows: bool = True,
                      n_jobs: int | None = None, control: JobControl | None = None) -> DecodingAccuracy:
    """Decode the stimulus class of every condition from its time-averaged population vector.

    Parameters
    ----------
    rs : ResponseSet
        Needs at least 5 directions (5-fold stratified CV) and 2 stimuli.
    stimuli : str or sequence of str/int, default=None
        "all", a preset of ``compute.stimuli.PRESETS`` ("bio-matched", ...), or names/indices.
        None: every stimulus of the set (11-way for the full suite, 6-way for biology).
    windows : bool, default=True
        Also decode from every "increasing" [0..t] and "decreasing" [t..end] window
        (2 x n_time - 2 more evaluations: the whole trial is the last increasing and the first decreasing
        window). Each family runs as a chain of warm starts: increasing from [0..0] up, decreasing from the
        whole trial down.
    n_jobs : int, default=None
        Processes for the window sweep: 2 or more runs the increasing family in a forked process (None:
        the available cores; 1 inside a daemonic process). The results do not depend on it.
    control : JobControl, default=None
        Progress and cancellation (the window sweep takes seconds to minutes).

    Returns
    -------
    DecodingAccuracy
    """
    control = ensure_control(control)
    windows = check_bool(windows, name="windows")
    n_jobs = _n_jobs(n_jobs)
    names = resolve_stimuli(rs, stimuli, default="all")
    if len(names) < 2:
        raise ValueError(f"decoding needs at least 2 stimulus classes; got {list(names)}")
    if len(rs.directions) < CV_FOLDS:
        raise ValueError(f"stratified {CV_FOLDS}-fold CV needs at least {CV_FOLDS} directions per class; "
                         f"got {len(rs.directions)}")
    states, labels = _states(rs, names)
    if not np.all(np.isfinite(states)):
        raise ValueError(f"{rs.label}: responses contain NaN or infinite values; decoding needs finite responses")
    y = labels[:, 0]
    splits = [list(StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed).split(y, y)) for seed in CV_SEEDS]
    weights = _fold_weights(splits, len(y))

    def run(family: Sequence[np.ndarray]) -> Iterator[_Window]:
        return _family(family, y, len(names), weights, len(CV_SEEDS))

    whole = states.mean(axis=1)
    if windows:
        increasing, decreasing = _window_means(states)
        families = [[whole, *decreasing[1:]], list(increasing[:-1])]
    else:
        families = [[whole]]
    with threadpool_limits(limits=1, user_api="blas"):     # see _ONE_THREAD
        results = _run_families(families, run, n_jobs, control)
    control.report(1.0, "decoding done")
    repeats, _, knn = results[0][0]
    n_time = states.shape[1] if windows else 0
    by_time = [results[1] + results[0][:1], results[0]] if windows else [[], []]     # WINDOWS order
    window_logistic = np.array([[reps.mean() for reps, _, _ in row] for row in by_time]).reshape(len(WINDOWS), n_time)
    window_sd = np.array([[reps.std() for reps, _, _ in row] for row in by_time]).reshape(len(WINDOWS), n_time)
    window_knn = np.array([[score for _, _, score in row] for row in by_time]).reshape(len(WINDOWS), n_time)
    not_converged = sum(failed for family in results for _, failed, _ in family)
    return DecodingAccuracy(stimuli=names, chance=1.0 / len(names), logistic=float(repeats.mean()),
                            logistic_sd=float(repeats.std()), logistic_repeats=repeats, knn=knn,
                            time=rs.time.copy() if windows else np.zeros(0), window_logistic=window_logistic,
                            window_logistic_sd=window_sd, window_knn=window_knn, not_converged=not_converged)
