"""Tightness and crossing of trajectory bundles (METHODS.md section 6).

A bundle is the set of direction curves of one stimulus in population-state space. ``S_tight`` is the
typical tube radius around the bundle's smoothed centerline over the centerline's length (LOWER = tighter
tube); ``S_cross`` sums close, transverse approaches between different curves (higher = more crossing).

``tubularity`` is the deterministic geometry on given curves. ``tubularity_of_responses`` builds the curves
from a ``ResponseSet`` (unit bootstrap, StandardScaler, PCA) and aggregates over bootstraps;
``sensitivity_grid`` repeats that over quantiles q and smoothing factors s (``tubularity_of_responses`` is
its one-point case, and ``SensitivityGrid.at`` reads any point off one bootstrap run). All share one kernel
(``_tubularity_grid``) that computes everything independent of (q, s) once per bundle.

Scale eps of S_cross (``EPS_RULES``): by default the authors' rule (METHODS.md 6.4, v2), which looks for
another curve only among a point's 9 nearest neighbours and drops points without one; in loose bundles that
eps is several times smaller than the exact nearest-other-curve median ("exact", v1's rule), and S_cross
differs accordingly.

Scale: the smoothing factor s is FITPACK's (``scipy.interpolate.UnivariateSpline``): an upper bound on the
sum of squared residuals of the centerline spline, so it is in squared data units. Scaling every curve by
``a`` therefore leaves ``S_tight`` unchanged and divides ``S_cross`` by ``a`` when s is scaled by ``a**2``
(exactly so for s = 0, an interpolating centerline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
from scipy.interpolate import UnivariateSpline
from scipy.spatial.distance import cdist
from scipy.stats import mannwhitneyu
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from compute._validation import (check_array, check_choice, check_float, check_instance, check_int,
                                 check_random_state)
from compute.jobs import JobControl, ensure_control
from compute.responses import ResponseSet
from compute.stimuli import resolve

N_LENGTH_POINTS = 400  # polyline points for the centerline length L
EPS_RULES = ("authors", "exact")
"""Rules for the scale eps of a bundle (METHODS.md 6.4): "authors" (default) = median over the points that have
one of the distance to the first other-curve point among their 9 nearest neighbours in the bundle (points
without one dropped); "exact" = median over all points of the distance to the nearest point of another curve."""
N_EPS_NEIGHBOURS = 10  # the authors' k-NN query for eps: the point itself + 9 neighbours
SENSITIVITY_QS = (0.70, 0.75, 0.8, 0.85, 0.9, 0.95)  # METHODS 6.8
SENSITIVITY_SMOOTHINGS = (1.0, 1.5, 2.0, 2.5, 3.0)


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class TubularityResult:
    """Tubularity of every bundle of one set of curves.

    Attributes
    ----------
    bundles : ndarray of shape (n_bundles,)
        The distinct labels, sorted; bundle ``k`` is ``bundles[k]``.
    s_tight : ndarray of shape (n_bundles,)
        Mean over u-bins of the q-quantile distance to the centerline, over L. LOWER = tighter tube.
    s_cross : ndarray of shape (n_bundles,)
        Weighted count of close transverse approaches between different curves, over L.
    eps : ndarray of shape (n_bundles,)
        Scale of S_cross by ``eps_rule`` (see ``EPS_RULES``).
    length : ndarray of shape (n_bundles,)
        Centerline length L.
    n_curves : ndarray of shape (n_bundles,), int
    points : ndarray of shape (n_curves, M, n_dims)
        Every curve resampled to M points equally spaced in arclength (u = 0..1), in input order.
    centerlines : ndarray of shape (n_bundles, M, n_dims)
        Smoothed centerline of each bundle on the same u grid.
    curve_bundle : ndarray of shape (n_curves,), int
        Bundle index of each curve.
    q, smoothing : float
    eps_rule : str
        Settings used.
    """

    bundles: np.ndarray
    s_tight: np.ndarray
    s_cross: np.ndarray
    eps: np.ndarray
    length: np.ndarray
    n_curves: np.ndarray
    points: np.ndarray
    centerlines: np.ndarray
    curve_bundle: np.ndarray
    q: float
    smoothing: float
    eps_rule: str

    @property
    def mean_s_tight(self) -> float:
        """Curve-count-weighted mean of ``s_tight`` over bundles."""
        return float(np.average(self.s_tight, weights=self.n_curves))

def _mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error (sd with ddof=1 over sqrt(n)) along axis 0."""
    n = values.shape[0]
    se = values.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full(values.shape[1:], np.nan)
    return values.mean(axis=0), se


@dataclass(frozen=True)
class TubularityBootstrap:
    """Tubularity of a response set over unit bootstraps.

    Attributes
    ----------
    stimuli : tuple of str, length n_bundles
        The stimuli whose direction curves form the bundles.
    s_tight : ndarray of shape (n_boot,)
        Curve-count-weighted mean S_tight over bundles, per bootstrap. LOWER = tighter.
    s_cross : ndarray of shape (n_boot,)
        Same for S_cross.
    bundle_s_tight, bundle_s_cross : ndarray of shape (n_boot, n_bundles)
        Per-bundle values.
    q, smoothing : float
    eps_rule : str
    n_components : int
    label : str
        The response set's label.
    reconstructed : bool
        True for biology reconstructed from published factors: its S_cross is not reliable (METHODS 3).
    """

    stimuli: tuple[str, ...]
    s_tight: np.ndarray
    s_cross: np.ndarray
    bundle_s_tight: np.ndarray
    bundle_s_cross: np.ndarray
    q: float
    smoothing: float
    eps_rule: str
    n_components: int
    label: str
    reconstructed: bool

    @property
    def n_boot(self) -> int:
        return int(self.s_tight.shape[0])

    @property
    def s_tight_mean(self) -> float:
        return float(self.s_tight.mean())

    @property
    def s_tight_se(self) -> float:
        """Standard error over bootstraps: sd (ddof=1) / sqrt(n_boot); NaN for one bootstrap."""
        return float(_mean_se(self.s_tight)[1])

    @property
    def s_cross_mean(self) -> float:
        return float(self.s_cross.mean())

    @property
    def s_cross_se(self) -> float:
        return float(_mean_se(self.s_cross)[1])


@dataclass(frozen=True)
class SensitivityGrid:
    """Bootstrap tubularity over a grid of quantiles q and smoothing factors s.

    Attributes
    ----------
    qs : ndarray of shape (n_q,)
    smoothings : ndarray of shape (n_s,)
    s_tight : ndarray of shape (n_boot, n_q, n_s)
        Curve-count-weighted mean S_tight per bootstrap and setting.
    s_cross : ndarray of shape (n_boot, n_s)
        S_cross per bootstrap and smoothing; it does not depend on q.
    bundle_s_tight : ndarray of shape (n_boot, n_q, n_s, n_bundles)
    bundle_s_cross : ndarray of shape (n_boot, n_s, n_bundles)
        Per-bundle values.
    weights : ndarray of shape (n_bundles,)
        Curve-count weights of the bundles (sum 1).
    stimuli : tuple of str
    eps_rule : str
    n_components : int
    label : str
    reconstructed : bool
    """

    qs: np.ndarray
    smoothings: np.ndarray
    s_tight: np.ndarray
    s_cross: np.ndarray
    bundle_s_tight: np.ndarray
    bundle_s_cross: np.ndarray
    weights: np.ndarray
    stimuli: tuple[str, ...]
    eps_rule: str
    n_components: int
    label: str
    reconstructed: bool

    def at(self, q: float, smoothing: float) -> TubularityBootstrap:
        """The bootstrap tubularity of one (q, s) of the grid: what ``tubularity_of_responses`` gives with the
        same draws (the same ``random_state``)."""
        iq, js = np.flatnonzero(self.qs == q), np.flatnonzero(self.smoothings == smoothing)
        if iq.size == 0 or js.size == 0:
            raise ValueError(f"(q, smoothing) = ({q}, {smoothing}) is not on the grid; qs {self.qs.tolist()}, "
                             f"smoothings {self.smoothings.tolist()}")
        tight, cross = self.bundle_s_tight[:, iq[0], js[0]], self.bundle_s_cross[:, js[0]]
        return TubularityBootstrap(stimuli=self.stimuli, s_tight=tight @ self.weights, s_cross=cross @ self.weights,
                                   bundle_s_tight=tight, bundle_s_cross=cross, q=float(q), smoothing=float(smoothing),
                                   eps_rule=self.eps_rule, n_components=self.n_components, label=self.label,
                                   reconstructed=self.reconstructed)

    @property
    def s_tight_mean(self) -> np.ndarray:
        """Shape (n_q, n_s)."""
        return _mean_se(self.s_tight)[0]

    @property
    def s_tight_se(self) -> np.ndarray:
        """Shape (n_q, n_s)."""
        return _mean_se(self.s_tight)[1]

    @property
    def s_cross_mean(self) -> np.ndarray:
        """Shape (n_s,)."""
        return _mean_se(self.s_cross)[0]

    @property
    def s_cross_se(self) -> np.ndarray:
        """Shape (n_s,)."""
        return _mean_se(self.s_cross)[1]


class GroupComparison(NamedTuple):
    """One-sided Mann-Whitney U test; unpacks as ``(U, p)``."""

    U: float
    p: float


# ---------------------------------------------------------------------------------------------- kernel
def _resample_arclength(curves: np.ndarray, M: int) -> tuple[np.ndarray, np.ndarray]:
    """Curves (n, T, D) -> points (n, M, D) equally spaced in arclength and unit tangents (n, M, D).

    Tangents come from central differences of the resampled points over u = linspace(0, 1, M)
    (one-sided at the ends); a curve of zero length gets zero tangents.
    """
    n, T, _ = curves.shape
    seg = np.linalg.norm(np.diff(curves, axis=1), axis=2)
    arc = np.concatenate([np.zeros((n, 1)), np.cumsum(seg, axis=1)], axis=1)
    total = arc[:, -1:]
    frac = np.where(total > 0, arc / np.where(total > 0, total, 1.0), np.linspace(0.0, 1.0, T))
    u = np.linspace(0.0, 1.0, M)
    # One searchsorted for all curves: shift curve c's (monotone) fractions by 2c so rows never overlap.
    shift = 2.0 * np.arange(n)[:, None]
    flat_idx = np.searchsorted((frac + shift).ravel(), (u + shift).ravel(), side="right") - 1
    rows = np.repeat(np.arange(n), M)
    local = np.clip(flat_idx - rows * T, 0, T - 2).reshape(n, M)
    f0 = np.take_along_axis(frac, local, axis=1)
    f1 = np.take_along_axis(frac, local + 1, axis=1)
    gap = f1 - f0
    w = np.divide(u - f0, gap, out=np.zeros_like(gap), where=gap > 0)[..., None]
    c = np.arange(n)[:, None]
    points = curves[c, local] + w * (curves[c, local + 1] - curves[c, local])
    deriv = np.gradient(points, u, axis=1)
    norm = np.linalg.norm(deriv, axis=2, keepdims=True)
    tangents = np.divide(deriv, norm, out=np.zeros_like(deriv), where=norm > 0)
    return points, tangents


def _bundle_eps(points: np.ndarray, eps_rule: str) -> float:
    """Scale eps of one bundle (METHODS 6.4); points (m, M, D). Floor 1e-12.

    "authors": among each point's 10 nearest points of the bundle (the point itself is neighbour 0), the
    distance to the nearest one on another curve; points without one are dropped; median (1.0 if none).
    "exact": median over all points of the distance to the nearest point of another curve.
    Distances of one curve's points to all points at a time (``cdist``), so memory stays O(m M^2).
    """
    m, M, D = points.shape
    flat = points.reshape(m * M, D)
    owner = np.repeat(np.arange(m), M)
    k = min(N_EPS_NEIGHBOURS, m * M)
    nearest = np.empty((m, M))
    for c in range(m):
        d2 = cdist(points[c], flat, "sqeuclidean")
        if eps_rule == "exact":
            d2[:, owner == c] = np.inf
            nearest[c] = d2.min(axis=1)
            continue
        d2[np.arange(M), c * M + np.arange(M)] = -1.0  # the point itself is neighbour 0, even with duplicates
        near = np.argpartition(d2, k - 1, axis=1)[:, :k]
        near_d2 = np.take_along_axis(d2, near, axis=1)
        near_d2[owner[near] == c] = np.inf
        nearest[c] = near_d2.min(axis=1)
    found = np.sqrt(nearest[np.isfinite(nearest)])
    return max(float(np.median(found)) if found.size else 1.0, 1e-12)


def _bundle_pair_terms(points: np.ndarray, tangents: np.ndarray, eps_rule: str) -> tuple[float, float]:
    """eps and the crossing sum X of one bundle (steps 4 and 6).

    points, tangents : (m, M, D) resampled curves of the bundle and their unit tangents. Distances are
    exact (``cdist``), one curve against the later curves at a time, so memory stays O(m M^2). (A KD-tree
    pair search was slower here: in 10 dimensions its cost grows with the pairs within 3 eps, most of the
    bundle under the exact rule.)

    eps by ``eps_rule`` (``_bundle_eps``); X = 2 / (m (m - 1)) * sum over unordered pairs from different
    curves with distance <= 3 eps of exp(-d^2 / (2 eps^2)) * (1 - (t_i . t_j)^2) / M^2.
    """
    m, M, D = points.shape
    flat, flat_tan = points.reshape(m * M, D), tangents.reshape(m * M, D)
    eps = _bundle_eps(points, eps_rule)
    total = 0.0
    for c in range(m - 1):
        later = slice((c + 1) * M, None)  # each unordered pair of curves once
        d2 = cdist(points[c], flat[later], "sqeuclidean")
        close = d2 <= (3.0 * eps) ** 2
        cos = (tangents[c] @ flat_tan[later].T)[close]
        total += float(np.sum(np.exp(-d2[close] / (2.0 * eps ** 2)) * (1.0 - cos ** 2)))
    return eps, 2.0 / (m * (m - 1)) * total / M ** 2


def _group_quantiles(values: np.ndarray, groups: np.ndarray, n_groups: int, qs: np.ndarray) -> np.ndarray:
    """np.quantile (linear method) of ``values`` within each group, for every q: shape (n_q, n_groups).

    Every group must be non-empty.
    """
    order = np.lexsort((values, groups))
    sorted_vals = values[order]
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = (counts - 1)[None, :] * qs[:, None]
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, counts - 1)
    frac = pos - lo
    v_lo = sorted_vals[starts + lo]
    v_hi = sorted_vals[starts + hi]
    return v_lo + frac * (v_hi - v_lo)


def _smooth_centerline(mean: np.ndarray, u: np.ndarray, smoothing: float):
    """Per-dimension cubic smoothing splines of the mean curve (M, D); returns u -> (len(u), D)."""
    splines = [UnivariateSpline(u, mean[:, d], k=3, s=smoothing) for d in range(mean.shape[1])]
    return lambda x: np.stack([sp(x) for sp in splines], axis=1)


def _tubularity_grid(curves: np.ndarray, curve_bundle: np.ndarray, n_bundles: int, *, M: int,
                     qs: np.ndarray, smoothings: np.ndarray, n_bins: int, eps_rule: str) -> dict[str, np.ndarray]:
    """The shared kernel. curves (n_curves, T, D); curve_bundle (n_curves,) ints 0..n_bundles-1.

    Returns s_tight (n_q, n_s, n_bundles), s_cross (n_s, n_bundles), length (n_s, n_bundles),
    eps (n_bundles,), n_curves (n_bundles,), points (n_curves, M, D), tangents (n_curves, M, D),
    centerlines (n_s, n_bundles, M, D).
    """
    points, tangents = _resample_arclength(curves, M)
    u = np.linspace(0.0, 1.0, M)
    u_len = np.linspace(0.0, 1.0, N_LENGTH_POINTS)
    point_bin = np.minimum((u * n_bins).astype(int), n_bins - 1)
    bin_centres = (np.arange(n_bins) + 0.5) / n_bins
    n_q, n_s, D = len(qs), len(smoothings), curves.shape[2]
    out = {"s_tight": np.zeros((n_q, n_s, n_bundles)), "s_cross": np.zeros((n_s, n_bundles)),
           "length": np.zeros((n_s, n_bundles)), "eps": np.zeros(n_bundles),
           "n_curves": np.bincount(curve_bundle, minlength=n_bundles), "points": points,
           "tangents": tangents, "centerlines": np.zeros((n_s, n_bundles, M, D))}
    for b in range(n_bundles):
        members = np.flatnonzero(curve_bundle == b)
        m = members.size
        pts, tan = points[members], tangents[members]
        eps, crossing = _bundle_pair_terms(pts, tan, eps_rule)
        out["eps"][b] = eps
        mean_curve = pts.mean(axis=0)
        if np.ptp(mean_curve, axis=0).max() == 0:
            raise ValueError(f"bundle {b} has a centerline of zero length (its mean curve does not move); "
                             "S_tight and S_cross are undefined for it")
        # Points of bin k are all member points whose u falls in bin k (same bins for every curve).
        groups = np.tile(point_bin, m)
        for k, s in enumerate(smoothings):
            centre = _smooth_centerline(mean_curve, u, float(s))
            poly = centre(u_len)
            length = float(np.sum(np.linalg.norm(np.diff(poly, axis=0), axis=1)))
            dist = np.linalg.norm(pts - centre(bin_centres)[point_bin][None], axis=2).ravel()
            radius = _group_quantiles(dist, groups, n_bins, qs)
            out["s_tight"][:, k, b] = radius.mean(axis=1) / length
            out["s_cross"][k, b] = crossing / length
            out["length"][k, b] = length
            out["centerlines"][k, b] = centre(u)
    return out


# ---------------------------------------------------------------------------------------------- checks
def _check_settings(M: int, q_values: Sequence[float], smoothings: Sequence[float], n_bins: int,
                    eps_rule: str) -> tuple[np.ndarray, np.ndarray]:
    check_choice(eps_rule, EPS_RULES, name="eps_rule")
    M = check_int(M, name="M", low=4, why=" (a cubic spline needs more than 3 points)")
    check_int(n_bins, name="n_bins", low=1, high=M, why=" (at most M, so that every bin holds a point)")
    return _check_grid(q_values, name="q", low=0, high=1), _check_grid(smoothings, name="smoothing", low=0)


def _check_grid(values: Sequence[float], *, name: str, low: float, high: float | None = None) -> np.ndarray:
    values = list(np.ravel(values))
    if not values:
        raise ValueError(f"{name} must hold at least one value; got none")
    return np.array([check_float(v, name=name, low=low, high=high) for v in values])


def _check_curves(curves, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Curves as float64 (n_curves, T, D), bundle labels, bundle index per curve."""
    curves = check_array(curves, ndim=3, name="curves", axes="curve, time, dimension")
    n, T, D = curves.shape
    if T < 2 or D < 1:
        raise ValueError(f"curves need at least 2 time points and 1 dimension; got shape {curves.shape}")
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one bundle label per curve; got {labels.shape}")
    bundles, curve_bundle = np.unique(labels, return_inverse=True)
    counts = np.bincount(curve_bundle)
    if np.any(counts < 2):
        lonely = [str(b) for b in bundles[counts < 2]]
        raise ValueError(f"every bundle needs at least 2 curves; bundles {lonely} have 1")
    return curves, bundles, curve_bundle


# ---------------------------------------------------------------------------------------------- public
def tubularity(curves: np.ndarray, labels: np.ndarray, *, M: int = 150, q: float = 0.9, n_bins: int = 100,
               smoothing: float = 2.0, eps_rule: str = "authors") -> TubularityResult:
    """Tightness and crossing of trajectory bundles (METHODS.md section 6, steps 2-6). Deterministic.

    Parameters
    ----------
    curves : ndarray of shape (n_curves, n_time, n_dims)
        One trajectory per condition, e.g. in PCA space.
    labels : ndarray of shape (n_curves,)
        Bundle of each curve (its stimulus); curves with the same label form one tube (>= 2 curves each).
    M : int, default=150
        Points per curve after resampling equally in arclength (u in [0, 1]).
    q : float, default=0.9
        Quantile of the point-to-centerline distances in each u-bin.
    n_bins : int, default=100
        Number B of equal u-bins (at most M).
    smoothing : float, default=2.0
        Smoothing factor s of the per-dimension cubic smoothing spline (UnivariateSpline) that smooths the
        pointwise mean into the centerline; 0.01 reproduces the older figure.
    eps_rule : {"authors", "exact"}, default="authors"
        Scale eps of S_cross (``EPS_RULES``): the authors' 9-nearest-neighbour rule (METHODS.md 6.4) or the
        exact nearest-other-curve median.

    Returns
    -------
    TubularityResult
        s_tight (LOWER = tighter) and s_cross, each of shape (n_bundles,), plus eps, L, the resampled
        curves and the centerlines.
    """
    curves, bundles, curve_bundle = _check_curves(curves, labels)
    qs, ss = _check_settings(M, [q], [smoothing], n_bins, eps_rule)
    out = _tubularity_grid(curves, curve_bundle, len(bundles), M=int(M), qs=qs, smoothings=ss, n_bins=int(n_bins),
                           eps_rule=eps_rule)
    return TubularityResult(bundles=bundles, s_tight=out["s_tight"][0, 0], s_cross=out["s_cross"][0],
                            eps=out["eps"], length=out["length"][0], n_curves=out["n_curves"],
                            points=out["points"], centerlines=out["centerlines"][0], curve_bundle=curve_bundle,
                            q=float(q), smoothing=float(smoothing), eps_rule=eps_rule)


def _state_matrix(rs: ResponseSet, stimuli: Sequence[str | int] | None
                  ) -> tuple[np.ndarray, tuple[str, ...], tuple[int, int, int]]:
    """Rows = (stimulus, direction, time) states in C order, columns = units: shape (n_s*n_d*T, n_units)."""
    check_instance(rs, ResponseSet, name="rs")
    sub = rs.select(stimuli=list(resolve(stimuli, rs.stimuli)))
    n_units, n_stim, n_dir, n_time = sub.shape
    states = sub.responses.transpose(1, 2, 3, 0).reshape(n_stim * n_dir * n_time, n_units).astype(np.float64)
    return states, sub.stimuli, (n_stim, n_dir, n_time)


def response_curves(rs: ResponseSet, *, stimuli: Sequence[str | int] | None = None, n_components: int = 10,
                    units: np.ndarray | None = None, random_state: int | np.random.Generator | None = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Direction curves of each stimulus in PCA space (METHODS.md section 6, step 1, one bootstrap).

    Rows = population states (stimulus x direction x time), columns = units (``units`` picks columns, with
    repeats for a bootstrap); StandardScaler then PCA(``n_components``).

    Returns
    -------
    curves : ndarray of shape (n_stimuli * n_directions, n_time, n_components)
        Curve of condition (stimulus s, direction d) at row ``s * n_directions + d``.
    labels : ndarray of shape (n_stimuli * n_directions,), int
        Stimulus index (into the chosen stimuli) of each curve.
    """
    states, _, shape = _state_matrix(rs, stimuli)
    _check_components(n_components, states.shape)
    columns = slice(None) if units is None else np.asarray(units, dtype=int)
    z = StandardScaler().fit_transform(states[:, columns])
    return _pca_curves(z, shape, n_components, check_random_state(random_state))


def _check_components(n_components: int, shape: tuple[int, int]) -> None:
    check_int(n_components, name="n_components", low=1, high=min(shape), why=f" (states x units = {shape})")


def _pca_curves(z: np.ndarray, shape: tuple[int, int, int], n_components: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    n_stim, n_dir, n_time = shape
    # z is a fresh array in both callers, so PCA may centre it in place (copy=False: same numbers, one copy less).
    pca = PCA(n_components=n_components, copy=False, random_state=int(rng.integers(2 ** 31)))
    scores = pca.fit_transform(z)
    labels = np.repeat(np.arange(n_stim), n_dir)
    return scores.reshape(n_stim * n_dir, n_time, n_components), labels


def _bootstrap_grid(rs: ResponseSet, *, stimuli, n_boot: int, n_components: int, qs: np.ndarray,
                    smoothings: np.ndarray, M: int, n_bins: int, eps_rule: str, random_state,
                    control: JobControl | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Per-bootstrap per-bundle s_tight (n_boot, n_q, n_s, n_bundles), s_cross (n_boot, n_s, n_bundles),
    curve counts (n_bundles,) and the stimuli used."""
    check_int(n_boot, name="n_boot", low=1)
    control = ensure_control(control)
    rng = check_random_state(random_state)
    states, names, shape = _state_matrix(rs, stimuli)
    _check_components(n_components, states.shape)
    n_units = states.shape[1]
    # StandardScaler is per column, so scaling once and then drawing columns equals scaling each bootstrap.
    z = StandardScaler().fit_transform(states)
    n_bundles = shape[0]
    s_tight = np.zeros((n_boot, len(qs), len(smoothings), n_bundles))
    s_cross = np.zeros((n_boot, len(smoothings), n_bundles))
    counts = np.zeros(n_bundles)
    for b in range(n_boot):
        control.check()
        columns = rng.integers(0, n_units, size=n_units)
        curves, labels = _pca_curves(z[:, columns], shape, n_components, rng)
        out = _tubularity_grid(curves, labels, n_bundles, M=M, qs=qs, smoothings=smoothings, n_bins=n_bins,
                               eps_rule=eps_rule)
        s_tight[b], s_cross[b], counts = out["s_tight"], out["s_cross"], out["n_curves"]
        control.report((b + 1) / n_boot, f"tubularity bootstrap {b + 1}/{n_boot}")
    return s_tight, s_cross, counts, names


def tubularity_of_responses(rs: ResponseSet, *, stimuli: Sequence[str | int] | None = None, n_boot: int = 30,
                            n_components: int = 10, random_state: int | np.random.Generator | None = 0,
                            q: float = 0.9, smoothing: float = 2.0, M: int = 150, n_bins: int = 100,
                            eps_rule: str = "authors", control: JobControl | None = None) -> TubularityBootstrap:
    """S_tight and S_cross of a response set over unit bootstraps (METHODS.md section 6, steps 1-7).

    Bundles are the direction curves of each stimulus. Each bootstrap draws units with replacement, fits
    StandardScaler + PCA(``n_components``) on the (stimulus x direction x time) states and runs
    ``tubularity`` on the curves; bundles are averaged with curve-count weights.

    Parameters
    ----------
    rs : ResponseSet
        responses of shape (n_units, n_stimuli, n_directions, n_time); each system on its own time axis.
    stimuli : sequence of str or int, optional
        Default: the bio-matched six when present (picked by name), else all stimuli.
    n_boot : int, default=30
    n_components : int, default=10
    random_state : int, Generator or None, default=0
        Seeds the unit draws and the PCA solver.
    q, smoothing, M, n_bins, eps_rule
        As in ``tubularity``.
    control : JobControl, optional
        Progress per bootstrap; cancellable between bootstraps.

    Returns
    -------
    TubularityBootstrap
        s_tight and s_cross of shape (n_boot,) with their mean and standard error.
    """
    grid = sensitivity_grid(rs, qs=[q], smoothings=[smoothing], stimuli=stimuli, n_boot=n_boot,
                            n_components=n_components, random_state=random_state, M=M, n_bins=n_bins,
                            eps_rule=eps_rule, control=control)
    return grid.at(grid.qs[0], grid.smoothings[0])


def sensitivity_grid(rs: ResponseSet, *, qs: Sequence[float] = SENSITIVITY_QS,
                     smoothings: Sequence[float] = SENSITIVITY_SMOOTHINGS, stimuli: Sequence[str | int] | None = None,
                     n_boot: int = 30, n_components: int = 10, random_state: int | np.random.Generator | None = 0,
                     M: int = 150, n_bins: int = 100, eps_rule: str = "authors",
                     control: JobControl | None = None) -> SensitivityGrid:
    """Bootstrap S_tight over every (q, s) and S_cross over every s (METHODS.md section 6, step 8).

    The bootstraps and curves are shared by all settings (the same draws as ``tubularity_of_responses``
    with the same ``random_state``), so the grid isolates the effect of q and s, and ``SensitivityGrid.at``
    gives any one setting's ``TubularityBootstrap`` without a second run.

    Returns
    -------
    SensitivityGrid
        s_tight of shape (n_boot, n_q, n_s) and s_cross of shape (n_boot, n_s).
    """
    q_arr, s_arr = _check_settings(M, qs, smoothings, n_bins, eps_rule)
    s_tight, s_cross, counts, names = _bootstrap_grid(
        rs, stimuli=stimuli, n_boot=n_boot, n_components=n_components, qs=q_arr, smoothings=s_arr, M=int(M),
        n_bins=int(n_bins), eps_rule=eps_rule, random_state=random_state, control=control)
    weights = counts / counts.sum()
    return SensitivityGrid(qs=q_arr, smoothings=s_arr, s_tight=s_tight @ weights, s_cross=s_cross @ weights,
                           bundle_s_tight=s_tight, bundle_s_cross=s_cross, weights=weights, stimuli=names,
                           eps_rule=eps_rule, n_components=int(n_components), label=rs.label,
                           reconstructed=bool(rs.provenance.get("reconstructed", False)))


def compare_groups(a_values: Sequence[float], b_values: Sequence[float], *, alternative: str = "less"
                   ) -> GroupComparison:
    """One-sided Mann-Whitney U test between two groups of bootstrap values (METHODS.md 6, step 7).

    Parameters
    ----------
    a_values : array-like of shape (n_a,)
    b_values : array-like of shape (n_b,)
    alternative : {"less", "greater", "two-sided"}, default="less"
        "less": the alternative is that ``a`` tends to be smaller than ``b`` (e.g. biology tighter than a
        model).

    Returns
    -------
    GroupComparison
        ``(U, p)``: the U statistic of ``a`` and the p-value.
    """
    check_choice(alternative, ("less", "greater", "two-sided"), name="alternative")
    a = check_array(a_values, ndim=1, name="a_values")
    b = check_array(b_values, ndim=1, name="b_values")
    if a.size == 0 or b.size == 0:
        raise ValueError(f"both groups need at least one value; got {a.size} and {b.size}")
    result = mannwhitneyu(a, b, alternative=alternative)
    return GroupComparison(float(result.statistic), float(result.pvalue))
