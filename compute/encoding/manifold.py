"""The encoding manifold: pipeline and UI-facing result (METHODS.md section 5).

responses -> encoding tensor -> permuted CP -> neural matrix (NNLS) -> PCA (> 80 % variance, duplicates
dropped) -> outlier removal (the k_far points with the largest and the k_near with the smallest distance to
their nearest neighbour; the 1-NN distances are kept so the cut can be judged) -> IAN kernel (linear
program by default) -> diffusion map (3 coordinates) -> HDBSCAN clusters on those coordinates. For the
biological datasets the published factors replace the first three steps (``encoding_manifold_from_factors``).

Clusteredness (reported in the diagnostics, see ``clusteredness``): the headline number is the k-means
silhouette excess in PC space (best silhouette over k = 2..10 minus the same on a Gaussian sample with the
data's mean and covariance); the 10th non-trivial eigenvalue of the diffusion operator is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from scipy.spatial import cKDTree
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from compute._validation import check_array, check_choice, check_instance, check_int, check_random_state
from compute.encoding.diffusion import diffusion_map, hdbscan_clusters
from compute.encoding.ian import ian_kernel
from compute.encoding.neural_matrix import factor_coordinates, neural_matrix, reduce_pca
from compute.encoding.permuted_cp import effective_dimensionality, permuted_cp
from compute.encoding.tensor import encoding_tensor, is_model_set, unflatten_maps
from compute.jobs import JobControl, ensure_control
from compute.responses import ResponseSet
from compute.seed_ranks import BIO_OUTLIERS, MODEL_OUTLIERS, N_RESTARTS

__all__ = ["EncodingManifold", "chance_purity", "clusteredness", "encoding_manifold", "encoding_manifold_from_factors",
           "nearest_neighbour_outliers", "neighbour_purity"]

_MIN_POINTS = 12   # 10 non-trivial diffusion eigenvalues + the trivial one need more points than that


@dataclass(frozen=True, eq=False)
class EncodingManifold:
    """One encoding manifold, ready for a 3-D view.

    Attributes
    ----------
    coords : ndarray of shape (n_units, 3)
        Diffusion coordinates; NaN rows for units IAN set aside.
    unit_ids : ndarray of shape (n_units,), int
        Index of each unit in its source (response-set unit, or cell-info entry for published factors).
    clusters : ndarray of shape (n_units,), int
        HDBSCAN label in the diffusion coordinates, -1 for noise and set-aside units.
    eigenvalues : ndarray of shape (n_eigenvalues,)
        Non-trivial diffusion eigenvalues, decreasing.
    preferred_direction : ndarray of shape (n_units,)
        Degrees, from the permuted-CP shifts on each unit's strongest stimulus; NaN where unknown
        (published factors carry no shifts).
    pcs : ndarray of shape (n_units, n_pcs)
        The neural matrix in PC space (the points IAN saw, one row per unit).
    nn_distances : ndarray of shape (n_distinct,)
        Distance of every distinct point (duplicates dropped) to its nearest neighbour in PC space, before
        outlier removal: the data of the 1-NN distance histogram.
    nn_removed : ndarray of shape (n_distinct,), bool
        The distinct points removed as outliers (k_far largest and k_near smallest 1-NN distances).
    units : dict of str -> ndarray of shape (n_units,)
        Unit metadata (cell_type, layer, module, channel, ...), for colouring.
    diagnostics : dict
        JSON: rank, fit, n_pcs, n_unique, n_disconnected, IAN C / iterations, clusteredness, source, ...
    """

    coords: np.ndarray
    unit_ids: np.ndarray
    clusters: np.ndarray
    eigenvalues: np.ndarray
    preferred_direction: np.ndarray
    pcs: np.ndarray
    nn_distances: np.ndarray
    nn_removed: np.ndarray
    units: Mapping[str, np.ndarray] = field(default_factory=dict)
    diagnostics: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        return self.coords.shape[0]


# ---------------------------------------------------------------------------------------------- statistics
def _labelled(labels, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},); got {labels.shape}")
    mask = np.array([not (v is None or (isinstance(v, str) and v == "")) for v in labels.tolist()], dtype=bool)
    return labels, mask


def neighbour_purity(points: np.ndarray, labels: np.ndarray, *, k: int = 10) -> float:
    """Mean fraction of each labelled point's k nearest labelled neighbours that share its label.

    Unlabelled points (None or "") are left out before the neighbours are found.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
    labels : ndarray of shape (n_points,)
    k : int, default=10

    Returns
    -------
    float in [0, 1]; compare with ``chance_purity(labels)``.
    """
    points = check_array(points, ndim=2, name="points", axes="point, dimension")
    labels, mask = _labelled(labels, points.shape[0])
    check_int(k, name="k", low=1)
    if mask.sum() <= k:
        raise ValueError(f"need more than k={k} labelled points; got {int(mask.sum())}")
    pts, lab = points[mask], labels[mask]
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(pts).kneighbors(pts)
    # drop each point itself (exact duplicates can put it in any column, so drop by index)
    neighbours = np.array([row[row != i][:k] for i, row in enumerate(idx)])
    return float((lab[neighbours] == lab[:, None]).mean())


def chance_purity(labels: np.ndarray) -> float:
    """Purity expected without structure: sum over labels of p_label^2 (unlabelled entries ignored)."""
    labels, mask = _labelled(labels, np.shape(labels)[0])
    _, counts = np.unique(labels[mask], return_counts=True)
    p = counts / counts.sum()
    return float((p ** 2).sum())


def _best_silhouette(points: np.ndarray, ks: Sequence[int], rng: np.random.Generator) -> float:
    best = -1.0
    # one thread: these k-means runs are tiny, and OpenMP threads on a busy machine cost 40x more
    with threadpool_limits(1):
        for n_clusters in ks:
            labels = KMeans(n_clusters=n_clusters, n_init=4,
                            random_state=int(rng.integers(2 ** 31))).fit_predict(points)
            if np.unique(labels).size > 1:
                best = max(best, float(silhouette_score(points, labels)))
    return best


def clusteredness(points: np.ndarray, *, eigenvalues: np.ndarray | None = None, ks: Sequence[int] = range(2, 11),
                  random_state: int | np.random.Generator | None = 0) -> dict[str, float]:
    """How clustered a point cloud is, against a structureless reference.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
        The neural matrix in PC space (duplicates removed).
    eigenvalues : ndarray of shape (n_eigenvalues,) or None
        Non-trivial diffusion eigenvalues; adds "diffusion_eig10" (the 10th; near 1 when there are
        10 or more well-separated groups).
    ks : sequence of int, default=range(2, 11)
        k-means cluster counts tried.
    random_state : int, Generator or None, default=0

    Returns
    -------
    dict
        silhouette (best over ks), silhouette_gaussian (the same on a Gaussian sample with the points'
        mean and covariance), silhouette_excess (their difference: the headline number, > 0 = clustered),
        and diffusion_eig10 when eigenvalues are given.
    """
    points = check_array(points, ndim=2, name="points", axes="point, dimension")
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 2 or max(ks) >= points.shape[0]:
        raise ValueError(f"ks must be cluster counts in [2, n_points - 1]; got {ks}")
    rng = check_random_state(random_state)
    gaussian = rng.multivariate_normal(points.mean(0), np.atleast_2d(np.cov(points, rowvar=False)),
                                       size=points.shape[0])
    data_sil = _best_silhouette(points, ks, rng)
    ref_sil = _best_silhouette(gaussian, ks, rng)
    out = {"silhouette": data_sil, "silhouette_gaussian": ref_sil, "silhouette_excess": data_sil - ref_sil}
    if eigenvalues is not None:
        eigenvalues = np.asarray(eigenvalues, dtype=float)
        out["diffusion_eig10"] = float(eigenvalues[9]) if eigenvalues.size >= 10 else float("nan")
    return out


# ---------------------------------------------------------------------------------------------- pipeline
def nearest_neighbour_outliers(points: np.ndarray, *, k_far: int, k_near: int) -> tuple[np.ndarray, np.ndarray]:
    """1-NN distances and the outliers the authors remove before IAN (METHODS.md 5.7).

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
        Distinct points.
    k_far, k_near : int
        How many points with the largest / smallest distance to their nearest neighbour to remove.

    Returns
    -------
    distances : ndarray of shape (n_points,)
    removed : ndarray of shape (n_points,), bool
    """
    points = check_array(points, ndim=2, name="points", axes="point, dimension")
    for name, value in (("k_far", k_far), ("k_near", k_near)):
        check_int(value, name=name, low=0)
    if k_far + k_near > points.shape[0] - _MIN_POINTS:
        raise ValueError(f"removing k_far={k_far} + k_near={k_near} outliers leaves fewer than {_MIN_POINTS} of "
                         f"the {points.shape[0]} distinct points; lower k_far / k_near")
    distances = cKDTree(points).query(points, k=2)[0][:, 1]
    order = np.argsort(distances, kind="stable")
    removed = np.zeros(points.shape[0], dtype=bool)
    removed[order[:k_near]] = True
    if k_far:
        removed[order[-k_far:]] = True
    return distances, removed


def _check_embedding(ian_objective: str, k_far: int | None, k_near: int | None, min_cluster_size: int) -> None:
    """The embedding's options, checked before the decomposition that precedes it."""
    check_choice(ian_objective, ("lp", "greedy"), name="ian_objective")
    for name, value in (("k_far", k_far), ("k_near", k_near)):
        check_int(value, name=name, low=0, optional=True)
    check_int(min_cluster_size, name="min_cluster_size", low=2)


def _embed(X: np.ndarray, *, random_state, ian_objective: str, k_far: int, k_near: int, min_cluster_size: int,
           control: JobControl) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Neural matrix (n_units, R) -> per-unit coords, clusters, pcs, 1-NN data and the embedding diagnostics."""
    rng = check_random_state(random_state)
    reduction = reduce_pca(X)
    points = reduction.points
    if points.shape[0] < _MIN_POINTS:
        raise ValueError(f"an encoding manifold needs at least {_MIN_POINTS} distinct connected units; got "
                         f"{points.shape[0]} distinct units")
    nn_distances, removed = nearest_neighbour_outliers(points, k_far=k_far, k_near=k_near)
    kept = np.flatnonzero(~removed)
    kernel = ian_kernel(points[kept], objective=ian_objective, control=control.sub(0.0, 0.8))
    keep = np.zeros(points.shape[0], dtype=bool)
    keep[kept[kernel.connected]] = True
    if keep.sum() < _MIN_POINTS:
        raise ValueError(f"an encoding manifold needs at least {_MIN_POINTS} distinct connected units; got "
                         f"{int(keep.sum())} ({points.shape[0]} distinct, {int(removed.sum())} removed as outliers, "
                         f"{int((~kernel.connected).sum())} set aside by IAN)")
    connected = kernel.connected
    dmap = diffusion_map(kernel.kernel[connected][:, connected], n_components=3, n_eigenvalues=10,
                         random_state=rng)
    control.report(0.9, "clusters")
    coords = np.full((points.shape[0], 3), np.nan)
    coords[keep] = dmap.coords
    clusters = np.full(points.shape[0], -1, dtype=np.int64)
    # clusters live in the coordinates the manifold is drawn in
    clusters[keep] = hdbscan_clusters(dmap.coords, min_cluster_size=min_cluster_size)
    stats = clusteredness(points, eigenvalues=dmap.eigenvalues, random_state=rng)
    inv = reduction.inverse
    diagnostics = {"n_pcs": reduction.n_pcs, "explained_variance": float(reduction.explained_variance_ratio[
        :reduction.n_pcs].sum()), "n_unique": int(points.shape[0]), "k_far": int(k_far), "k_near": int(k_near),
        "n_outliers": int(removed.sum()), "n_disconnected": int((~connected).sum()),
        "n_set_aside_units": int((~keep[inv]).sum()), "ian_C": kernel.C, "ian_iterations": kernel.n_iter,
        "ian_converged": kernel.converged, "ian_edges": int(kernel.edges.shape[0]),
        "ian_objective": ian_objective, "n_clusters": int(clusters.max() + 1), "clusteredness": stats}
    arrays = {"coords": coords[inv], "clusters": clusters[inv], "eigenvalues": dmap.eigenvalues,
              "pcs": reduction.points[inv], "nn_distances": nn_distances, "nn_removed": removed}
    return arrays, diagnostics


def _preferred_direction(result, shifts: np.ndarray, rel_fr: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Direction (deg) of each unit's peak on its strongest stimulus: the aligned model map peaks at d_a,
    the map was rolled by k, so the unit's own peak is at d_a - k."""
    units = np.arange(shifts.shape[0])
    top = rel_fr.argmax(axis=1)
    model = unflatten_maps((result.lambdas * result.A)[:, None, :] * result.B[top][:, None, :] @ result.C.T,
                           result.n_directions)[:, 0]                                  # (N, D, T)
    tuning = model.sum(axis=2)
    peak = (tuning.argmax(axis=1) - shifts[units, top]) % result.n_directions
    return np.where(tuning.max(axis=1) > 0, np.asarray(directions, float)[peak], np.nan)


def encoding_manifold(rs: ResponseSet, *, rank: int, n_restarts: int = N_RESTARTS, random_state: int = 0,
                      stimuli: str | Sequence[str] | None = None, extra_stimuli: Sequence[str] = (),
                      smoothing_sigma: float | None = None, max_iter: int = 1000, device: str | None = None, ian_objective: str = "lp",
                      k_far: int | None = None, k_near: int | None = None, min_cluster_size: int = 10,
                      n_jobs: int | None = None, control: JobControl | None = None) -> EncodingManifold:
    """Encoding manifold of a response set (METHODS.md 5.1-5.9).

    Parameters
    ----------
    rs : ResponseSet
        responses (n_units, n_stimuli, 8, n_time).
    rank : int
        Permuted-CP rank (seed-study ranks in ``compute.seed_ranks.MODULE_RANKS``; retina 16, V1 17).
    n_restarts : int, default=50
    random_state : int, default=0
    stimuli, extra_stimuli, smoothing_sigma :
        See ``compute.encoding.tensor.encoding_tensor`` (None: "optSF" for model units).
    max_iter : int, default=1000
        L-BFGS-B iterations per restart.
    device : {"auto", "cpu", "cuda"} or None
    ian_objective : {"lp", "greedy"}, default="lp"
        IAN scales by the linear program (the authors') or the quick greedy pass.
    k_far, k_near : int or None, default=None
        Outliers removed before IAN (``nearest_neighbour_outliers``); None: ``MODEL_OUTLIERS`` (3, 10)
        for model sets, ``BIO_OUTLIERS`` (0, 0) for biology.
    min_cluster_size : int, default=10
    n_jobs : int or None, default=None
        Restarts run at once (``permuted_cp``).
    control : JobControl or None

    Returns
    -------
    EncodingManifold
        One row per unit of ``rs``.
    """
    control = ensure_control(control)
    rng = check_random_state(random_state)
    for name, value in (("rank", rank), ("n_restarts", n_restarts), ("max_iter", max_iter)):
        check_int(value, name=name, low=1)
    check_int(n_jobs, name="n_jobs", low=1, optional=True)
    _check_embedding(ian_objective, k_far, k_near, min_cluster_size)
    default_far, default_near = MODEL_OUTLIERS if is_model_set(rs) else BIO_OUTLIERS
    k_far = default_far if k_far is None else k_far
    k_near = default_near if k_near is None else k_near
    control.report(0.0, "encoding tensor")
    tensor = encoding_tensor(rs, stimuli=stimuli, extra_stimuli=extra_stimuli, smoothing_sigma=smoothing_sigma)
    cp = permuted_cp(tensor.tensor, rank, n_directions=tensor.n_directions, n_restarts=n_restarts,
                     random_state=rng, device=device, max_iter=max_iter, n_jobs=n_jobs,
                     control=control.sub(0.02, 0.85))
    control.report(0.85, "neural matrix")
    nm = neural_matrix(tensor.full, cp, significant=tensor.significant)
    arrays, diagnostics = _embed(nm.coords, random_state=rng, ian_objective=ian_objective, k_far=k_far,
                                 k_near=k_near, min_cluster_size=min_cluster_size, control=control.sub(0.88, 1.0))
    diagnostics.update(source=rs.label, rank=cp.rank, fit=cp.fit, error=cp.error, n_restarts=n_restarts,
                       restart_errors=cp.restart_errors.tolist(), n_iter=cp.n_iter,
                       effective_dimensionality=effective_dimensionality(cp.A), stimuli=tensor.choice,
                       smoothing_sigma=tensor.smoothing_sigma, rel_fr_in_tensor=tensor.rel_fr_in_tensor,
                       neural_matrix="nnls", median_nnls_residual=float(np.nanmedian(nm.relative_residual)))
    preferred = _preferred_direction(cp, nm.shifts, tensor.rel_fr, rs.directions)
    return EncodingManifold(unit_ids=np.arange(rs.n_units), preferred_direction=preferred,
                            units=dict(rs.units), diagnostics=diagnostics, **arrays)


def encoding_manifold_from_factors(factors, *, random_state: int = 0, ian_objective: str = "lp",
                                   k_far: int = BIO_OUTLIERS[0], k_near: int = BIO_OUTLIERS[1],
                                   min_cluster_size: int = 10, control: JobControl | None = None) -> EncodingManifold:
    """Encoding manifold of a biological dataset from its published factors (no traces needed).

    Coordinates are sqrt(lambda_r * max_s B[s, r] * A[n, r]) (METHODS.md 5.6) for every cell-info entry
    (factor rows without a cell are left out); preferred directions are unknown (NaN).

    Parameters
    ----------
    factors : compute.bio.datasets.BioFactors
    random_state : int, default=0
    ian_objective, k_far, k_near, min_cluster_size :
        As ``encoding_manifold`` (biology removes no outliers by default).

    Returns
    -------
    EncodingManifold
        One row per cell, ``units`` = the cell metadata.
    """
    from compute.bio.datasets import BioFactors

    _check_embedding(ian_objective, k_far, k_near, min_cluster_size)
    check_random_state(random_state)
    check_instance(factors, BioFactors, name="factors", what="BioFactors (compute.bio.datasets.load_factors)")
    control = ensure_control(control)
    A = factors.neurons[factors.cell_rows]
    X = factor_coordinates(factors.lambdas, A, factors.stimuli)
    arrays, diagnostics = _embed(X, random_state=random_state, ian_objective=ian_objective, k_far=k_far,
                                 k_near=k_near, min_cluster_size=min_cluster_size, control=control)
    diagnostics.update(source=f"{factors.name} (published factors)", rank=factors.rank, fit=None,
                       effective_dimensionality=effective_dimensionality(A), neural_matrix="published factors")
    return EncodingManifold(unit_ids=np.arange(factors.n_cells), preferred_direction=np.full(factors.n_cells, np.nan),
                            units=dict(factors.cells), diagnostics=diagnostics, **arrays)
