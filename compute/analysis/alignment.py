"""Alignment of a model module with biology: RSA, CCA, linear predictivity and DSA (METHODS.md section 7).

Both systems are compared on the 48 bio-matched conditions (6 stimuli x 8 directions), biology resampled
to the model's time base. RSA, CCA and linear predictivity are computed at every time bin on the
(condition x unit) matrices and averaged over time; DSA compares the whole time series. One engine
(``_alignment_engine``) draws the unit bootstraps and calls the per-method kernels, which take plain arrays
and are public for direct use:

- ``rsa_score(x, y)``, ``cca_score(x, y)``, ``lp_score(x, y)``: x (n_time, n_conditions, n_units_x),
  y (n_time, n_conditions, n_units_y) -> one score per time bin, shape (n_time,);
- ``dsa_score(x, y)``: x (n_conditions, n_time, n_units_x), y (n_conditions, n_time, n_units_y) -> float.

Undefined scores (a constant condition vector in RSA, a rank-deficient system in CCA, a constant target in
linear predictivity) count as 0: no measurable alignment.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.decomposition import PCA

from compute._validation import (check_array, check_choice, check_float, check_instance, check_int,
                                 check_random_state, check_subset)
from compute.analysis._stats import rowwise_pearson
from compute.analysis.timebase import resample_time
from compute.bio.datasets import BIO_STIMULI
from compute.jobs import JobControl, ensure_control
from compute.responses import ResponseSet

METHODS = ("rsa", "cca", "lp", "dsa")
PER_TIME_METHODS = ("rsa", "cca", "lp")
DSA_METHODS = ("angular", "wasserstein", "euclidean")
PRESETS: dict[str, dict[str, int]] = {
    "interactive": {"n_boot": 10, "n_nulls": 10},
    "publication": {"n_boot": 200, "n_nulls": 50},
}
_RANK_TOL = 1e-10  # eigenvalues below this fraction of the largest count as zero (rank deficiency)


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class AlignmentResult:
    """Alignment scores of one model response set with one biological set.

    Attributes
    ----------
    methods : tuple of str, length n_methods
        Subset of ("rsa", "cca", "lp", "dsa"), in that order.
    values : ndarray of shape (n_methods, n_boot)
        Score of each method per unit bootstrap (RSA/CCA/LP: mean over time bins; DSA: 1 - distance).
    per_time : ndarray of shape (n_methods, n_boot, n_time)
        Per-time-bin scores of RSA/CCA/LP; NaN rows for DSA.
    time : ndarray of shape (n_time,)
        The model's time axis.
    dsa_z : float
        z-score of the DSA score of all units against the time-shuffled nulls; NaN without DSA.
    dsa_null : ndarray of shape (n_nulls,)
        Null DSA scores (1 - distance) with the model's time order shuffled.
    preset : str
    model_label, bio_label : str
    bio_reconstructed : bool
        True when the biology was reconstructed from published factors (METHODS 3).
    """

    methods: tuple[str, ...]
    values: np.ndarray
    per_time: np.ndarray
    time: np.ndarray
    dsa_z: float
    dsa_null: np.ndarray
    preset: str
    model_label: str
    bio_label: str
    bio_reconstructed: bool

    @property
    def mean(self) -> np.ndarray:
        """Mean over bootstraps, shape (n_methods,)."""
        return self.values.mean(axis=1)

    @property
    def ci_low(self) -> np.ndarray:
        """2.5th percentile over bootstraps, shape (n_methods,)."""
        return np.percentile(self.values, 2.5, axis=1)

    @property
    def ci_high(self) -> np.ndarray:
        """97.5th percentile over bootstraps, shape (n_methods,)."""
        return np.percentile(self.values, 97.5, axis=1)

    @property
    def mean_alignment(self) -> float:
        """Mean of the methods' bootstrap means (the four scores when all were computed)."""
        return float(self.mean.mean())

    def score(self, method: str) -> tuple[float, float, float]:
        """(mean, ci_low, ci_high) of one method."""
        if method not in self.methods:
            raise ValueError(f"method {method!r} was not computed; this result has {list(self.methods)}")
        k = self.methods.index(method)
        return float(self.mean[k]), float(self.ci_low[k]), float(self.ci_high[k])

    def time_curve(self, method: str) -> np.ndarray:
        """Bootstrap mean of a per-time method's score at each time bin, shape (n_time,)."""
        if method not in PER_TIME_METHODS or method not in self.methods:
            raise ValueError(f"per-time curves exist for {[m for m in self.methods if m in PER_TIME_METHODS]}; "
                             f"got {method!r}")
        return self.per_time[self.methods.index(method)].mean(axis=0)


@dataclass(frozen=True)
class AlignmentTable:
    """Mean alignment (mean of the method scores) per module and dataset.

    Attributes
    ----------
    modules : tuple of str, length n_modules
    datasets : tuple of str, length n_datasets
    values : ndarray of shape (n_modules, n_datasets)
        NaN where a (module, dataset) pair was not computed.
    """

    modules: tuple[str, ...]
    datasets: tuple[str, ...]
    values: np.ndarray


# ---------------------------------------------------------------------------------------------- kernels
def _check_pair(x, y, *, axes: str, same_axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    x = check_array(x, ndim=3, name="x", axes=axes)
    y = check_array(y, ndim=3, name="y", axes=axes)
    for axis in same_axes:
        if x.shape[axis] != y.shape[axis]:
            raise ValueError(f"x and y must share the {axes.split(', ')[axis]} axis; got shapes {x.shape} and "
                             f"{y.shape}")
    return x, y


def _rdm_upper(x: np.ndarray) -> np.ndarray:
    """1 - Pearson correlation between condition vectors, upper triangle: (T, C, N) -> (T, C(C-1)/2)."""
    xc = x - x.mean(axis=2, keepdims=True)
    norm = np.linalg.norm(xc, axis=2, keepdims=True)
    xn = np.divide(xc, norm, out=np.full_like(xc, np.nan), where=norm > 0)
    iu, ju = np.triu_indices(x.shape[1], 1)
    return 1.0 - (xn @ xn.swapaxes(1, 2))[:, iu, ju]


def rsa_score(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Representational similarity per time bin: Spearman rho between the upper triangles of the two
    RDMs (RDM = 1 - Pearson correlation between condition vectors).

    Parameters
    ----------
    x : ndarray of shape (n_time, n_conditions, n_units_x)
    y : ndarray of shape (n_time, n_conditions, n_units_y)

    Returns
    -------
    ndarray of shape (n_time,)
        0 where a condition vector is constant (its correlations are undefined).
    """
    x, y = _check_pair(x, y, axes="time, condition, unit", same_axes=(0, 1))
    a, b = _rdm_upper(x), _rdm_upper(y)
    undefined = np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1)
    a, b = np.nan_to_num(a), np.nan_to_num(b)
    rho = rowwise_pearson(rankdata(a, axis=1), rankdata(b, axis=1))
    return np.where(undefined, 0.0, rho)


def _top_components(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k principal directions in condition space of centred data via the Gram matrix.

    x : (T, C, N), already centred over conditions. Returns U (T, C, k) orthonormal, with columns of
    (numerically) zero variance set to 0, and the variances (T, k) (0 for those columns).
    """
    gram = x @ x.swapaxes(1, 2)
    w, v = np.linalg.eigh(gram)
    w, v = w[:, ::-1][:, :k], v[:, :, ::-1][:, :, :k]
    keep = w > _RANK_TOL * np.maximum(w[:, :1], np.finfo(float).tiny)
    return v * keep[:, None, :], np.where(keep, w, 0.0)


def cca_score(x: np.ndarray, y: np.ndarray, *, n_components: int = 3) -> np.ndarray:
    """Mean canonical correlation per time bin between the top ``n_components`` PCs of each system.

    CCA between two sets of PC scores depends only on the subspaces they span, so the canonical
    correlations are the singular values of U_x^T U_y (orthonormal PC directions in condition space).
    Missing dimensions of a rank-deficient system count as correlation 0 (METHODS: NaN -> 0).

    Parameters
    ----------
    x : ndarray of shape (n_time, n_conditions, n_units_x)
    y : ndarray of shape (n_time, n_conditions, n_units_y)
    n_components : int, default=3
        PCs per system and canonical pairs.

    Returns
    -------
    ndarray of shape (n_time,), in [0, 1]
    """
    x, y = _check_pair(x, y, axes="time, condition, unit", same_axes=(0, 1))
    check_int(n_components, name="n_components", low=1, high=min(x.shape[1] - 1, x.shape[2], y.shape[2]),
              why=" for these shapes")
    ux, _ = _top_components(x - x.mean(axis=1, keepdims=True), n_components)
    uy, _ = _top_components(y - y.mean(axis=1, keepdims=True), n_components)
    corr = np.linalg.svd(ux.swapaxes(1, 2) @ uy, compute_uv=False)
    return np.clip(corr, 0.0, 1.0).sum(axis=1) / n_components


def _pc_scores(x: np.ndarray, k: int) -> np.ndarray:
    """Scores on the top-k PCs of standardised units (sd 0 -> 1): (T, C, N) -> (T, C, k)."""
    sd = x.std(axis=1, keepdims=True)
    z = (x - x.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)
    u, w = _top_components(z, k)
    return u * np.sqrt(w)[:, None, :]


def lp_score(x: np.ndarray, y: np.ndarray, *, n_splits: int = 10, n_train: int = 40, x_components: int = 10,
             y_components: int = 2, alpha: float = 1.0,
             random_state: int | np.random.Generator | None = 0) -> np.ndarray:
    """Linear predictivity of y from x per time bin (METHODS.md section 7).

    Each system is standardised (per unit, over conditions) and reduced to PCA scores, x to
    ``x_components`` and y to ``y_components``, on all conditions (unsupervised, as METHODS orders the
    steps); then for each random split into ``n_train`` training and the remaining test conditions a ridge
    regression (``alpha``, with intercept) fitted on the training conditions predicts the test y scores;
    the score is the test R^2 of each y component clipped to [0, 1], then averaged over the components and
    the splits (METHODS 7 v2: clip per component first). The same splits serve every time bin.

    Parameters
    ----------
    x : ndarray of shape (n_time, n_conditions, n_units_x)
        Predictor system (the model).
    y : ndarray of shape (n_time, n_conditions, n_units_y)
        Predicted system (the brain).

    Returns
    -------
    ndarray of shape (n_time,), in [0, 1]
    """
    x, y = _check_pair(x, y, axes="time, condition, unit", same_axes=(0, 1))
    n_cond = x.shape[1]
    check_int(n_train, name="n_train", low=2, high=n_cond - 2, why=" (at least 2 test conditions)")
    check_int(n_splits, name="n_splits", low=1)
    for name, k, n_units in (("x_components", x_components, x.shape[2]), ("y_components", y_components, y.shape[2])):
        check_int(k, name=name, low=1, high=min(n_cond, n_units), why=" (conditions, units)")
    alpha = check_float(alpha, name="alpha", low=0)
    rng = check_random_state(random_state)
    px, py = _pc_scores(x, x_components), _pc_scores(y, y_components)
    total = np.zeros(x.shape[0])
    eye = alpha * np.eye(x_components)
    for _ in range(n_splits):
        order = rng.permutation(n_cond)
        train, test = order[:n_train], order[n_train:]
        x_mean = px[:, train].mean(axis=1, keepdims=True)
        y_mean = py[:, train].mean(axis=1, keepdims=True)
        xt, yt = px[:, train] - x_mean, py[:, train] - y_mean
        weights = np.linalg.solve(xt.swapaxes(1, 2) @ xt + eye, xt.swapaxes(1, 2) @ yt)
        y_test = py[:, test]
        residual = ((y_test - y_mean - (px[:, test] - x_mean) @ weights) ** 2).sum(axis=1)
        spread = ((y_test - y_test.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        unexplained = np.divide(residual, spread, out=np.ones_like(spread), where=spread > 0)
        total += np.clip(1.0 - unexplained, 0.0, 1.0).mean(axis=1)
    return total / n_splits


def _pca_trajectories(x: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """(C, T, N) -> (C, T, n_components): PCA (centred, not scaled) fitted on all (condition, time) states."""
    c, t, n = x.shape
    scores = PCA(n_components=n_components, random_state=seed).fit_transform(x.reshape(c * t, n))
    return scores.reshape(c, t, n_components)


def _dsa_distance(x: np.ndarray, y: np.ndarray, score_method: str, seed: int) -> float:
    """dsa-metric distance between the linear dynamics (DMD, n_delays=1) of (C, T, k) trajectory sets.

    ``seed`` seeds torch's generator for the package's random start of the similarity transform (angular and
    euclidean), in a forked generator state. The package's optimiser works on k x k matrices, which more
    torch threads only slow down (``benchmarks/bench_alignment.py --threads 1`` against ``--threads 2``).
    """
    import torch  # keep torch out of module import
    from DSA import DSA

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(seed)
            warnings.simplefilter("ignore")
            return float(DSA(x, y, n_delays=1, score_method=score_method, device="cpu").fit_score())
    finally:
        torch.set_num_threads(threads)


def dsa_score(x: np.ndarray, y: np.ndarray, *, n_components: int = 10, score_method: str = "angular",
              random_state: int | np.random.Generator | None = 0) -> float:
    """Dynamical similarity (DSA, Ostrow et al. 2023, package dsa-metric): 1 - distance.

    Each system is reduced to PCA(``n_components``) over all its (condition, time) states; the conditions
    are trials of one dynamical system (DMD with n_delays=1).

    Parameters
    ----------
    x : ndarray of shape (n_conditions, n_time, n_units_x)
        The package's X; the authors pass the biology here (METHODS 7 v2).
    y : ndarray of shape (n_conditions, n_time, n_units_y)
        The package's Y: the model.
    n_components : int, default=10
    score_method : {"angular", "wasserstein", "euclidean"}, default="angular"
        dsa-metric's comparison of the DMD operators. "angular" (the authors' DSA 1.x default, METHODS 7 v2)
        optimises an orthogonal similarity transform (seconds per comparison); "wasserstein" (the package's
        newer default) compares eigenvalue spectra in milliseconds but saturates near 1 on these data.
    random_state : int, Generator or None, default=0
        Seeds the PCA solvers and the similarity transform's random start.

    Returns
    -------
    float
        1 - distance (1 = identical dynamics).
    """
    x, y = _check_pair(x, y, axes="condition, time, unit", same_axes=(0, 1))
    _check_dsa_options(n_components, score_method, x.shape, y.shape)
    px, py, seed = _dsa_inputs(x, y, n_components, check_random_state(random_state))
    return 1.0 - _dsa_distance(px, py, score_method, seed)


def _dsa_inputs(x: np.ndarray, y: np.ndarray, n_components: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """PCA trajectories of x and y (C, T, n_components) and the similarity transform's seed, drawn from
    ``rng`` in this order."""
    px = _pca_trajectories(x, n_components, int(rng.integers(2 ** 31)))
    py = _pca_trajectories(y, n_components, int(rng.integers(2 ** 31)))
    return px, py, int(rng.integers(2 ** 31))


def _check_dsa_options(n_components: int, score_method: str, x_shape, y_shape, *,
                       names: tuple[str, str] = ("n_components", "score_method")) -> None:
    """``names``: how the caller calls the two options (alignment_scores: dsa_components, dsa_method)."""
    check_choice(score_method, DSA_METHODS, name=names[1])
    check_int(n_components, name=names[0], low=1, high=min(x_shape[0] * x_shape[1], x_shape[2], y_shape[2]),
              why=" for these shapes")
    if x_shape[1] < 3:
        raise ValueError(f"DSA needs at least 3 time bins; got {x_shape[1]}")


# ---------------------------------------------------------------------------------------------- engine
def matched_arrays(model: ResponseSet, bio: ResponseSet) -> tuple[np.ndarray, np.ndarray]:
    """Both systems on the 48 bio-matched conditions and the model's time base.

    Returns
    -------
    model_arr : ndarray of shape (n_time, 48, n_model_units)
    bio_arr : ndarray of shape (n_time, 48, n_bio_units)
        Condition c = stimulus * 8 + direction, stimuli in ``BIO_STIMULI`` order; biology resampled
        (``resample_time``) to the model's n_time.
    """
    for name, rs in (("model", model), ("bio", bio)):
        check_instance(rs, ResponseSet, name=name)
        missing = [s for s in BIO_STIMULI if s not in rs.stimuli]
        if missing:
            raise ValueError(f"{name} set {rs.label!r} lacks the bio-matched stimuli {missing}; alignment "
                             f"compares the 48 conditions of {list(BIO_STIMULI)}")
    if model.directions.shape != bio.directions.shape or not np.allclose(model.directions, bio.directions):
        raise ValueError(f"model and bio directions differ: {model.directions.tolist()} vs {bio.directions.tolist()}")
    bio_rs = resample_time(bio.select(stimuli=BIO_STIMULI), model.n_time)

    def arrange(rs: ResponseSet) -> np.ndarray:
        r = rs.select(stimuli=BIO_STIMULI).responses.astype(np.float64)
        n, s, d, t = r.shape
        return r.transpose(3, 1, 2, 0).reshape(t, s * d, n)

    return arrange(model), arrange(bio_rs)


def _resolve_preset(preset: str, n_boot: int | None, n_nulls: int | None) -> tuple[int, int]:
    check_choice(preset, tuple(PRESETS), name="preset")
    n_boot = PRESETS[preset]["n_boot"] if n_boot is None else n_boot
    n_nulls = PRESETS[preset]["n_nulls"] if n_nulls is None else n_nulls
    return (check_int(n_boot, name="n_boot", low=1),
            check_int(n_nulls, name="n_nulls", low=2, why=" (a z-score needs a spread)"))


class _DsaComparisons:
    """The DSA comparisons of one alignment, each with its own seed, so the distances do not depend on where
    they run: in this process as each is submitted (``n_jobs`` = 1) or in ``n_jobs`` forked worker processes
    (angular DSA is a torch optimisation of seconds per comparison, bound by Python overhead on one core).
    Forked, not spawned: a spawned worker re-imports torch and the caller's main module (seconds each, and
    a script without a ``__main__`` guard would run again); each comparison sets torch to one thread
    before any work. ``tick(text)`` reports one finished comparison."""

    def __init__(self, method: str, n_jobs: int, control: JobControl, tick) -> None:
        self.method, self.control, self.tick = method, control, tick
        self.pool = None
        if n_jobs > 1:
            import DSA  # noqa: F401  (imported once here; the forked workers inherit it)

            self.pool = ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("fork"))
        self.futures: list[Future] = []

    def __enter__(self) -> "_DsaComparisons":
        return self

    def __exit__(self, kind, *_) -> None:
        if self.pool is not None:  # after an error or a cancel, drop queued comparisons and do not wait
            self.pool.shutdown(wait=kind is None, cancel_futures=True)

    def submit(self, x: np.ndarray, y: np.ndarray, seed: int, text: str) -> None:
        """Queue the comparison of trajectories x (C, T, k) and y (C, T, k)."""
        if self.pool is not None:
            self.futures.append(self.pool.submit(_dsa_distance, x, y, self.method, seed))
            return
        self.control.check()
        future: Future = Future()
        future.set_result(_dsa_distance(x, y, self.method, seed))
        self.futures.append(future)
        self.tick(text)

    def scores(self) -> np.ndarray:
        """1 - distance of every comparison in submission order, (n_submitted,); cancellable while waiting."""
        pending = {f for f in self.futures if not f.done()}
        while pending:
            self.control.check()
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for _ in finished:
                self.tick(f"DSA comparisons: {len(self.futures) - len(pending)}/{len(self.futures)} done")
        return 1.0 - np.array([f.result() for f in self.futures])


def _n_jobs(n_jobs: int | None, dsa_method: str, n_comparisons: int) -> int:
    """Worker processes for the DSA comparisons: 1 for "wasserstein" (milliseconds each) or when asked,
    else ``n_jobs`` (None: the available cores), at most one per comparison."""
    if n_jobs is None:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    else:
        check_int(n_jobs, name="n_jobs", low=1, why=" or None (all available cores)")
    return 1 if dsa_method == "wasserstein" else max(1, min(n_jobs, n_comparisons))


def _alignment_engine(x: np.ndarray, y: np.ndarray, methods: tuple[str, ...], *, n_boot: int, n_nulls: int,
                      dsa_components: int, dsa_method: str, n_jobs: int, rng: np.random.Generator,
                      control: JobControl) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """x = model (T, C, Nx), y = biology (T, C, Ny) -> values (n_methods, n_boot), per_time
    (n_methods, n_boot, T), dsa_z, dsa_null (n_nulls,).

    DSA follows the authors: X = biology, Y = model, and each null shuffles the model's time order. ``rng``
    is drawn in the same order whatever ``n_jobs``: per bootstrap the units, then each method in turn (DSA's
    two PCA seeds and its transform seed), then the all-unit DSA's seeds, then per null a permutation and a
    seed."""
    n_time = x.shape[0]
    values = np.zeros((len(methods), n_boot))
    per_time = np.full((len(methods), n_boot, n_time), np.nan)
    kernels = {"rsa": lambda a, b: rsa_score(a, b), "cca": lambda a, b: cca_score(a, b),
               "lp": lambda a, b: lp_score(a, b, random_state=rng)}
    dsa_z, dsa_null = np.nan, np.zeros(0)
    with_dsa = "dsa" in methods
    n_comparisons = n_boot + 1 + n_nulls if with_dsa else 0
    steps, done = n_boot + n_comparisons, 0

    def tick(text: str) -> None:
        nonlocal done
        done += 1
        control.report(done / steps, text)

    with _DsaComparisons(dsa_method, n_jobs, control, tick) as dsa:
        for b in range(n_boot):
            control.check()
            xb = x[:, :, rng.integers(0, x.shape[2], size=x.shape[2])]
            yb = y[:, :, rng.integers(0, y.shape[2], size=y.shape[2])]
            for k, method in enumerate(methods):
                if method == "dsa":
                    dsa.submit(*_dsa_inputs(yb.swapaxes(0, 1), xb.swapaxes(0, 1), dsa_components, rng),
                               text=f"DSA bootstrap {b + 1}/{n_boot}")
                else:
                    per_time[k, b] = kernels[method](xb, yb)
                    values[k, b] = per_time[k, b].mean()
            tick(f"alignment bootstrap {b + 1}/{n_boot}")
        if with_dsa:
            control.check()
            p_bio, p_model, seed = _dsa_inputs(y.swapaxes(0, 1), x.swapaxes(0, 1), dsa_components, rng)
            dsa.submit(p_bio, p_model, seed, text="DSA of all units")
            for k in range(n_nulls):
                dsa.submit(p_bio, p_model[:, rng.permutation(n_time)], int(rng.integers(2 ** 31)),
                           text=f"DSA null {k + 1}/{n_nulls}")
            scores = dsa.scores()
            values[methods.index("dsa")] = scores[:n_boot]
            observed, dsa_null = scores[n_boot], scores[n_boot + 1:]
            sd = dsa_null.std(ddof=1)
            dsa_z = float((observed - dsa_null.mean()) / sd) if sd > 0 else np.nan
    control.report(1.0, "DSA null distribution" if with_dsa else "alignment done")
    return values, per_time, dsa_z, dsa_null


def alignment_scores(model: ResponseSet, bio: ResponseSet, *, methods: Sequence[str] = METHODS,
                     preset: str = "interactive", n_boot: int | None = None, n_nulls: int | None = None,
                     dsa_components: int = 10, dsa_method: str = "angular",
                     random_state: int | np.random.Generator | None = 0, n_jobs: int | None = 1,
                     control: JobControl | None = None) -> AlignmentResult:
    """Alignment of a model module with a biological dataset (METHODS.md section 7).

    Both systems are restricted to the 48 bio-matched conditions and biology is resampled to the model's
    time bins. Each unit bootstrap redraws the units of both systems with replacement and scores every
    method; DSA (X = biology, Y = model, as the authors call it) has a z-score that compares the all-unit
    DSA score with ``n_nulls`` scores whose MODEL time order was shuffled (one permutation per null, shared
    by all conditions).

    Parameters
    ----------
    model : ResponseSet
        responses (n_model_units, n_stimuli, 8, n_time) containing the bio-matched stimuli by name.
    bio : ResponseSet
        responses (n_cells, 6, 8, n_bio_time).
    methods : sequence of {"rsa", "cca", "lp", "dsa"}, default=all four
    preset : {"interactive", "publication"}, default="interactive"
        interactive: 10 bootstraps, 10 DSA nulls; publication: 200 bootstraps, 50 nulls.
    n_boot, n_nulls : int, optional
        Override the preset.
    dsa_components : int, default=10
        PCs per system for DSA.
    dsa_method : {"angular", "wasserstein", "euclidean"}, default="angular"
        dsa-metric score method (see ``dsa_score``).
    random_state : int, Generator or None, default=0
    n_jobs : int or None, default=1
        Processes for the angular / euclidean DSA comparisons (n_boot + 1 + n_nulls of them, seconds each):
        1 runs them all in this process, None uses the available cores. The result does not depend on it.
        The default stays 1 because on the shared 2-core development machine (other sessions busy, the
        kernel's autogroup scheduling) two workers were slower (benchmarks/bench_alignment.py).
    control : JobControl, optional
        Progress per bootstrap and DSA comparison; cancellable between them.

    Returns
    -------
    AlignmentResult
        Per method: bootstrap values, mean and 95 % percentile interval; per-time curves for RSA/CCA/LP;
        DSA z-score.
    """
    check_subset(methods, METHODS, name="methods")
    methods = tuple(m for m in METHODS if m in methods)
    n_boot, n_nulls = _resolve_preset(preset, n_boot, n_nulls)
    x, y = matched_arrays(model, bio)
    if "dsa" in methods:
        _check_dsa_options(dsa_components, dsa_method, (x.shape[1], x.shape[0], x.shape[2]),
                           (y.shape[1], y.shape[0], y.shape[2]), names=("dsa_components", "dsa_method"))
    n_jobs = _n_jobs(n_jobs, dsa_method, n_boot + 1 + n_nulls if "dsa" in methods else 0)
    values, per_time, dsa_z, dsa_null = _alignment_engine(
        x, y, methods, n_boot=n_boot, n_nulls=n_nulls, dsa_components=dsa_components, dsa_method=dsa_method,
        n_jobs=n_jobs, rng=check_random_state(random_state), control=ensure_control(control))
    return AlignmentResult(methods=methods, values=values, per_time=per_time, time=model.time.copy(),
                           dsa_z=dsa_z, dsa_null=dsa_null, preset=preset, model_label=model.label,
                           bio_label=bio.label, bio_reconstructed=bool(bio.provenance.get("reconstructed", False)))


def mean_alignment_table(results: Mapping[str, Mapping[str, AlignmentResult]]) -> AlignmentTable:
    """Mean alignment per module and dataset: ``results[module][dataset]`` -> ``AlignmentResult``.

    Returns
    -------
    AlignmentTable
        values of shape (n_modules, n_datasets): each result's ``mean_alignment`` (mean of its method
        scores), NaN for missing pairs; modules in the mapping's order, datasets in first-seen order.
    """
    modules = tuple(results)
    datasets: list[str] = []
    for per_dataset in results.values():
        for name, result in per_dataset.items():
            check_instance(result, AlignmentResult, name=f"results[...][{name!r}]")
            if name not in datasets:
                datasets.append(name)
    values = np.full((len(modules), len(datasets)), np.nan)
    for i, module in enumerate(modules):
        for name, result in results[module].items():
            values[i, datasets.index(name)] = result.mean_alignment
    return AlignmentTable(modules=modules, datasets=tuple(datasets), values=values)
