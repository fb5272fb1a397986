"""IAN kernel: iterated adaptive neighbourhoods (Dyballa & Zucker 2023; METHODS.md 5.8).

Starting from the Gabriel graph of the points, IAN finds per-point scales sigma_i for the kernel
K_ij = exp(-d_ij^2 / (sigma_i sigma_j)) that are as small as possible while every graph edge keeps
sigma_i sigma_j >= (C d_ij)^2, with sigma_i at most the distance to i's farthest graph neighbour. The
scales come from the linear program obtained by replacing each hyperbola sigma_i sigma_j = (C d_ij)^2 by two
secants (``scipy.optimize.linprog``, HiGHS interior point with crossover: the simplex's vertex, 5x faster; the
default, as the authors ran it) or, as the quick option, from
a greedy single pass over the edges.
Each iteration then

1. tunes C in [0.5, 1] by bisection so that the median volume ratio is within 0.1 of 1, where the volume
   ratio of point i is its kernel mass sum_j exp(-d_ij^2 / sigma_i^2) over max(2, degree), divided by the
   mass a uniformly sampled neighbourhood of that dimension would have ((sqrt(pi) / 2)^log2(degree));
2. prunes the farthest edge of the points whose ratio is an outlier (robust mean + 4.5 robust SD from the
   quartiles, at least 2.75), at most 10 % of them per iteration, one edge per point;

until no point is an outlier. C is tuned once more on the weighted kernel. Points that lose all their
edges are set aside (scale 0, no kernel row) rather than failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from scipy.spatial import Delaunay, QhullError, cKDTree
from scipy.stats import norm

from compute._validation import check_array, check_bool, check_choice, check_float, check_int
from compute.encoding.points import DUPLICATE_TOL, deduplicate
from compute.jobs import JobControl, ensure_control

__all__ = ["IANKernel", "gabriel_graph", "greedy_scales", "ian_kernel", "lp_scales", "volume_ratios"]

_MEDIAN_TOL = 0.1
_MIN_THRESHOLD = 2.75
_KERNEL_TOL = 1e-8
_VOLUME_BASE = np.sqrt(np.pi) / 2.0


@dataclass(frozen=True, eq=False)
class IANKernel:
    """Result of the IAN kernel.

    Attributes
    ----------
    kernel : scipy.sparse.csr_matrix of shape (n_points, n_points)
        Symmetric weights exp(-d^2 / (sigma_i sigma_j)) (entries below 1e-8 dropped), ones on the diagonal
        of connected points; rows and columns of set-aside points are empty.
    scales : ndarray of shape (n_points,)
        sigma_i (0 for set-aside points).
    edges : ndarray of shape (n_edges, 2), int
        Final graph edges (i < j).
    C : float
        Tuned connectivity constant.
    disconnected : ndarray of shape (n_disconnected,), int
        Points set aside because pruning removed all their edges.
    volume_ratios : ndarray of shape (n_points,)
        Final volume ratios of the weighted kernel (0 for set-aside points).
    n_initial_edges : int
        Edges of the Gabriel graph.
    n_iter : int
        Pruning iterations.
    converged : bool
        False when ``max_iter`` stopped the pruning.
    """

    kernel: sparse.csr_matrix
    scales: np.ndarray
    edges: np.ndarray
    C: float
    disconnected: np.ndarray
    volume_ratios: np.ndarray
    n_initial_edges: int
    n_iter: int
    converged: bool

    @property
    def connected(self) -> np.ndarray:
        """Boolean mask (n_points,) of the points kept."""
        mask = np.ones(self.scales.shape[0], dtype=bool)
        mask[self.disconnected] = False
        return mask


# ---------------------------------------------------------------------------------------------- graph
def _squared_distances(points: np.ndarray) -> np.ndarray:
    sq = (points ** 2).sum(1)
    D2 = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    np.maximum(D2, 0.0, out=D2)
    np.fill_diagonal(D2, 0.0)
    return D2


def _check_points(points) -> np.ndarray:
    points = check_array(points, ndim=2, name="points", axes="point, dimension")
    if points.shape[0] < 3:
        raise ValueError(f"need at least 3 points; got {points.shape[0]}")
    n_unique = deduplicate(points)[0].shape[0]
    if n_unique != points.shape[0]:
        raise ValueError(f"points contain duplicates ({points.shape[0] - n_unique} rows within {DUPLICATE_TOL:g} of "
                         "the points' spread of another); remove them first (compute.encoding.points.deduplicate)")
    return points


def _blocked(D2: np.ndarray, pairs: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Closed-ball Gabriel test of pairs (p, 2) against every other point: blocked (p,) bool."""
    out = np.empty(pairs.shape[0], dtype=bool)
    for start in range(0, pairs.shape[0], chunk):
        i, j = pairs[start:start + chunk, 0], pairs[start:start + chunk, 1]
        through = D2[i] + D2[j]
        rows = np.arange(i.size)
        through[rows, i] = np.inf
        through[rows, j] = np.inf
        out[start:start + chunk] = through.min(axis=1) <= D2[i, j] * (1.0 + 1e-12)
    return out


def _gabriel_exact(D2: np.ndarray, n_filter: int = 24, chunk: int = 64) -> np.ndarray:
    """Exact Gabriel edges in any dimension from squared distances (n, n): a cheap filter with each
    endpoint's nearest neighbours as candidate blockers, then the full test on the surviving pairs."""
    n = D2.shape[0]
    m = min(n - 1, n_filter)
    near = np.argpartition(D2 + np.diag(np.full(n, np.inf)), m - 1, axis=1)[:, :m]   # (n, m), self excluded
    survives = np.ones((n, n), dtype=bool)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        k = near[rows]                                                           # (b, m)
        through = np.take_along_axis(D2[rows], k, axis=1)[:, :, None] + D2[k]   # (b, m, n): d_ik^2 + d_kj^2
        hit = through <= D2[rows][:, None, :] * (1.0 + 1e-12)                   # k blocks (i, j)
        hit[np.arange(rows.size)[:, None], np.arange(m)[None, :], k] = False    # k == j is no blocker
        survives[rows] &= ~hit.any(axis=1)
    survives &= survives.T
    pairs = np.argwhere(np.triu(survives, k=1))
    return pairs[~_blocked(D2, pairs)]


def _gabriel_delaunay(points: np.ndarray) -> np.ndarray:
    """Gabriel edges as the Delaunay edges whose diametral ball holds no other point (low dimensions)."""
    simplices = Delaunay(points).simplices
    d = simplices.shape[1]
    cand = np.concatenate([simplices[:, [a, b]] for a in range(d) for b in range(a + 1, d)])
    cand = np.unique(np.sort(cand, axis=1), axis=0)
    mid = 0.5 * (points[cand[:, 0]] + points[cand[:, 1]])
    r2 = 0.25 * ((points[cand[:, 0]] - points[cand[:, 1]]) ** 2).sum(1)
    dist, idx = cKDTree(points).query(mid, k=3)
    other = (idx != cand[:, [0]]) & (idx != cand[:, [1]])
    blocked = (other & (dist ** 2 <= r2[:, None] * (1.0 + 1e-9))).any(axis=1)
    return cand[~blocked]


def gabriel_graph(points: np.ndarray, *, method: str = "auto") -> np.ndarray:
    """Edges of the Gabriel graph: (i, j) is an edge when no other point lies in the closed ball with
    diameter [x_i, x_j] (i.e. no k with d_ik^2 + d_jk^2 <= d_ij^2).

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
        Distinct points.
    method : {"auto", "delaunay", "exact"}, default="auto"
        "delaunay" tests only Delaunay edges (scipy/qhull; fast in 2-3 dimensions); "exact" filters all
        pairs vectorised (any dimension); "auto" uses Delaunay for n_dims <= 3 and falls back to "exact"
        when qhull cannot triangulate (points in a lower-dimensional flat).

    Returns
    -------
    ndarray of shape (n_edges, 2), int
        i < j, sorted row-major.
    """
    points = _check_points(points)
    check_choice(method, ("auto", "delaunay", "exact"), name="method")
    return _gabriel(points, None, method)


def _gabriel(points: np.ndarray, D2: np.ndarray | None, method: str) -> np.ndarray:
    edges = None
    if method == "delaunay" or (method == "auto" and 2 <= points.shape[1] <= 3):
        if points.shape[1] < 2:
            raise ValueError("method='delaunay' needs points of at least 2 dimensions; use 'exact'")
        try:
            edges = _gabriel_delaunay(points)
        except QhullError:
            if method == "delaunay":
                raise ValueError("qhull cannot triangulate these points (they lie in a lower-dimensional "
                                 "flat); use method='exact'") from None
    if edges is None:
        edges = _gabriel_exact(_squared_distances(points) if D2 is None else D2)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    return edges[order].astype(np.int64)


# ---------------------------------------------------------------------------------------------- scales
def greedy_scales(edges: np.ndarray, lengths: np.ndarray, farthest: np.ndarray, *, C: float = 1.0) -> np.ndarray:
    """Greedy single pass: each edge not yet covered raises its endpoints' scales equally (or sets the
    unset one), keeping every scale at most the distance to its farthest neighbour.

    Parameters
    ----------
    edges : ndarray of shape (n_edges, 2), int
    lengths : ndarray of shape (n_edges,)
        d_ij of each edge.
    farthest : ndarray of shape (n_points,)
        Distance of each point to its farthest graph neighbour (the upper bound of its scale).
    C : float, default=1.0

    Returns
    -------
    ndarray of shape (n_points,)
        Scales with sigma_i sigma_j >= (C d_ij)^2 on every edge (0 for points without edges).
    """
    C = check_float(C, name="C", low=0, low_open=True)
    pairs = zip(edges[:, 0].tolist(), edges[:, 1].tolist(), lengths.tolist())
    return np.asarray(_greedy(pairs, farthest.tolist(), C))


def _greedy(pairs, cap: list[float], C: float) -> list[float]:
    """The greedy pass over (i, j, d_ij) triples in order; ``cap`` holds the upper bounds."""
    sig = [0.0] * len(cap)
    for i, j, d in pairs:
        w = C * d
        si, sj = sig[i], sig[j]
        if si == 0.0 and sj == 0.0:
            sig[i] = sig[j] = w
            continue
        if si > 0.0 and sj > 0.0:
            if si * sj < w * w:
                a = w / math.sqrt(si * sj)
                si, sj = si * a, sj * a
        elif si == 0.0:
            si = w * w / sj
        else:
            sj = w * w / si
        if si > cap[i]:
            sj, si = si * sj / cap[i], cap[i]
        elif sj > cap[j]:
            si, sj = si * sj / cap[j], cap[j]
        sig[i], sig[j] = si, sj
    return sig


def lp_scales(edges: np.ndarray, lengths: np.ndarray, farthest: np.ndarray, *, C: float = 1.0) -> np.ndarray:
    """Minimum-sum scales by linear programming: 0 <= sigma_i <= farthest_i and, per edge, the two secants
    of sigma_i sigma_j = (C d_ij)^2 through (w^2/u_j, u_j), (w, w) and (u_i, w^2/u_i), w = C d_ij, which
    lie above the convex hyperbola so every feasible point satisfies the edge constraint.

    Parameters and returns as ``greedy_scales``.
    """
    C = check_float(C, name="C", low=0, low_open=True)
    n, m = farthest.shape[0], edges.shape[0]
    i, j = edges[:, 0], edges[:, 1]
    w = C * lengths
    u_i, u_j = farthest[i], farthest[j]
    # each row: slope * sigma_i - sigma_j <= intercept
    slopes = np.concatenate([-w / u_i, -u_j / w])
    intercepts = np.concatenate([-w * w / u_i - w, -u_j - w])
    rows = np.arange(2 * m)
    A = sparse.csr_matrix((np.concatenate([slopes, -np.ones(2 * m)]),
                           (np.concatenate([rows, rows]), np.concatenate([i, i, j, j]))), shape=(2 * m, n))
    res = linprog(np.ones(n), A_ub=A, b_ub=intercepts, bounds=np.stack([np.zeros(n), farthest], 1),
                  method="highs-ipm")
    if res.status != 0:
        raise ValueError(f"the IAN scale LP failed: {res.message}")
    return np.maximum(res.x, 0.0)


def volume_ratios(D2: np.ndarray, scales: np.ndarray, degrees: np.ndarray, *, weighted: bool = False) -> np.ndarray:
    """Kernel mass of each point over the mass a uniform neighbourhood of its degree would have.

    Parameters
    ----------
    D2 : ndarray of shape (n_points, n_points)
        Squared distances (float32 is enough and twice as fast).
    scales : ndarray of shape (n_points,)
        0 marks a set-aside point (ratio 0, and no contribution to others).
    degrees : ndarray of shape (n_points,)
    weighted : bool, default=False
        False: the graph statistic, mass sum_j exp(-d_ij^2 / sigma_i^2); True: the weighted kernel's row
        sum sum_j exp(-d_ij^2 / (sigma_i sigma_j)).

    Returns
    -------
    ndarray of shape (n_points,)
    """
    check_bool(weighted, name="weighted")
    live = scales > 0
    out = np.zeros(scales.shape[0])
    sub = D2 if live.all() else D2[np.ix_(live, live)]
    inv = (1.0 / scales[live]).astype(sub.dtype)
    power = sub * (inv * inv)[:, None] if not weighted else (sub * inv[:, None]) * inv[None, :]
    np.exp(-power, out=power)
    deg = np.maximum(degrees[live], 2)
    out[live] = power.sum(axis=1, dtype=np.float64) / deg / _VOLUME_BASE ** np.log2(deg)
    return out


def _kernel(D2: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """exp(-d_ij^2 / (sigma_i sigma_j)) with entries below 1e-8 set to 0, shape (n, n)."""
    K = np.exp(-np.minimum(D2 / np.outer(scales, scales), 700.0))
    K[K < _KERNEL_TOL] = 0.0
    return K


# ---------------------------------------------------------------------------------------------- iteration
def _robust_threshold(values: np.ndarray, n_stds: float, max_threshold: float) -> float:
    """Quartile-based mean and SD (Wan et al. 2014, method C3): threshold = mean + n_stds * SD."""
    n = values.size
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    mu = (q1 + med + q3) / 3.0
    sd = (q3 - q1) / (2.0 * norm.ppf((0.75 * n - 0.125) / (n + 0.25))) if n > 1 else 0.0
    threshold = max(_MIN_THRESHOLD, mu + n_stds * sd)
    if np.all(values <= threshold) and max_threshold < threshold:
        threshold = max_threshold
    return threshold


class _Graph:
    """Mutable edge set: active flags over the Gabriel edges, degrees and farthest neighbours."""

    def __init__(self, edges: np.ndarray, lengths: np.ndarray, n: int) -> None:
        self.edges, self.lengths, self.n = edges, lengths, n
        self.active = np.ones(edges.shape[0], dtype=bool)
        self.pairs = list(zip(edges[:, 0].tolist(), edges[:, 1].tolist(), lengths.tolist()))
        self.by_length = np.argsort(lengths, kind="stable")
        self.rank = np.empty(edges.shape[0], dtype=np.int64)
        self.rank[self.by_length] = np.arange(edges.shape[0])

    def degrees(self) -> np.ndarray:
        e = self.edges[self.active]
        return np.bincount(e.ravel(), minlength=self.n)

    def farthest(self) -> tuple[np.ndarray, np.ndarray]:
        """Distance to the farthest neighbour (n,) and the index of that edge (-1 if none)."""
        ids = np.flatnonzero(self.active)
        best = np.full(self.n, -1, dtype=np.int64)
        for col in (0, 1):
            np.maximum.at(best, self.edges[ids, col], self.rank[ids])
        edge = np.where(best >= 0, self.by_length[np.maximum(best, 0)], -1)
        dist = np.where(edge >= 0, self.lengths[np.maximum(edge, 0)], 0.0)
        return dist, edge

    def median_neighbour(self) -> np.ndarray:
        e = self.edges[self.active]
        ends = np.concatenate([e[:, 0], e[:, 1]])
        d = np.concatenate([self.lengths[self.active]] * 2)
        order = np.lexsort((d, ends))
        ends, d = ends[order], d[order]
        starts = np.searchsorted(ends, np.arange(self.n))
        stops = np.searchsorted(ends, np.arange(self.n), side="right")
        return np.array([np.median(d[a:b]) if b > a else 0.0 for a, b in zip(starts, stops)])


def _scales(objective: str, graph: _Graph, farthest: np.ndarray, C: float, base: np.ndarray | None):
    if objective == "greedy":
        return C * base
    e = graph.active
    return lp_scales(graph.edges[e], graph.lengths[e], farthest, C=C)


def _tune_C(objective, graph, farthest, degrees, D2, C, *, weighted: bool) -> tuple[float, np.ndarray, np.ndarray]:
    """Bisection of C in [min(C, 0.5), max(C, 1)] until the median volume ratio is within 0.1 of 1."""
    base = None
    if objective == "greedy":
        pairs = [graph.pairs[k] for k in np.flatnonzero(graph.active).tolist()]
        base = np.asarray(_greedy(pairs, farthest.tolist(), 1.0))
    lo, hi = min(C, 0.5), max(C, 1.0)
    for _ in range(20):
        sig = _scales(objective, graph, farthest, C, base)
        ratios = volume_ratios(D2, sig, degrees, weighted=weighted)
        diff = np.median(ratios[ratios > 0]) - 1.0
        if abs(diff) <= _MEDIAN_TOL or (diff > 0 and np.isclose(C, lo)) or (diff < 0 and np.isclose(C, hi)):
            break
        lo, hi = (lo, C) if diff > 0 else (C, hi)
        C = lo + 0.5 * (hi - lo)
    return C, sig, ratios


def ian_kernel(points: np.ndarray, *, objective: str = "lp", n_stds: float = 4.5, max_prune: float = 0.1,
               max_iter: int = 500, control: JobControl | None = None) -> IANKernel:
    """IAN kernel of a point cloud (METHODS.md 5.8).

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
        Distinct points (deduplicate first).
    objective : {"lp", "greedy"}, default="lp"
        How the scales are found each iteration: the linear program (the authors' IAN
        'exact-precomputed-sq', objective 'l1') or the quick greedy single pass (about 30x faster, ~94 %
        shared edges).
    n_stds : float, default=4.5
        Outlier threshold, in robust SDs above the robust mean of the volume ratios.
    max_prune : float, default=0.1
        Fraction of the outlier points whose farthest edge is pruned per iteration (at least one).
    max_iter : int, default=500
        Pruning iterations before stopping unconverged (``converged`` False).
    control : JobControl or None

    Returns
    -------
    IANKernel
    """
    points = _check_points(points)
    check_choice(objective, ("greedy", "lp"), name="objective")
    n_stds = check_float(n_stds, name="n_stds", low=0)
    max_prune = check_float(max_prune, name="max_prune", low=0, high=1, low_open=True)
    max_iter = check_int(max_iter, name="max_iter", low=0)
    control = ensure_control(control)
    n = points.shape[0]
    D2 = _squared_distances(points)
    D2_32 = D2.astype(np.float32)
    edges = _gabriel(points, D2, "auto")
    graph = _Graph(edges, np.sqrt(D2[edges[:, 0], edges[:, 1]]), n)
    farthest, _ = graph.farthest()
    C = float(np.clip(np.median(graph.median_neighbour() / farthest), 0.55, 0.95))

    converged, iteration = False, 0
    for iteration in range(1, max_iter + 1):
        control.check()
        control.report(min(iteration / 50.0, 0.95), f"IAN iteration {iteration}")
        degrees = graph.degrees()
        farthest, far_edge = graph.farthest()
        C, sig, stats = _tune_C(objective, graph, farthest, degrees, D2_32, C, weighted=False)
        live = stats > 0
        diff = np.median(stats[live]) - 1.0
        threshold = _robust_threshold(stats[live], n_stds, 5.0 - diff)
        to_prune = np.flatnonzero(stats > threshold)
        to_prune = to_prune[np.argsort(-stats[to_prune], kind="stable")]
        if diff > _MEDIAN_TOL:
            n_extra = live.sum() - 2 * int((stats[live] < 1.0 + _MEDIAN_TOL).sum())
            if n_extra > to_prune.size:
                to_prune = np.argsort(stats, kind="stable")[-n_extra:][::-1]
        if to_prune.size == 0:
            converged = True
            break
        to_prune = to_prune[:max(1, int(max_prune * to_prune.size))]
        seen: set[int] = set()
        for i in to_prune.tolist():
            e = int(far_edge[i])
            if e < 0:
                continue
            a, b = graph.edges[e]
            if a in seen or b in seen:
                continue
            graph.active[e] = False
            seen.update((int(a), int(b)))

    degrees = graph.degrees()
    farthest, _ = graph.farthest()
    C, sig, ratios = _tune_C(objective, graph, farthest, degrees, D2_32, C, weighted=True)
    live = sig > 0
    idx = np.flatnonzero(live)
    K = _embed(sparse.csr_matrix(_kernel(D2[np.ix_(live, live)], sig[live])), idx, n)
    control.report(1.0, "IAN kernel done")
    return IANKernel(kernel=K, scales=np.where(live, sig, 0.0), edges=graph.edges[graph.active], C=float(C),
                     disconnected=np.flatnonzero(~live), volume_ratios=ratios, n_initial_edges=edges.shape[0],
                     n_iter=iteration, converged=converged)


def _embed(K: sparse.csr_matrix, idx: np.ndarray, n: int) -> sparse.csr_matrix:
    """A (k, k) matrix over the points ``idx`` as an (n, n) matrix with empty rows elsewhere."""
    coo = K.tocoo()
    return sparse.csr_matrix((coo.data, (idx[coo.row], idx[coo.col])), shape=(n, n))
