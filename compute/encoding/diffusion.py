"""Diffusion map of a kernel and optional HDBSCAN clusters (METHODS.md 5.9).

With alpha = 1 the kernel is first normalised by the densities, K~ = D^-1 K D^-1 (D = row sums), so the
embedding approximates the Laplace-Beltrami operator of the underlying manifold regardless of sampling
density; the Markov matrix P = D~^-1 K~ is then symmetrised as D~^-1/2 K~ D~^-1/2 for the eigensolver.
Coordinates are the right eigenvectors psi_k = u_k / sqrt(D~) scaled by their eigenvalues (t = 1); the
first, constant one is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import eigsh
from sklearn.cluster import HDBSCAN

from compute._validation import check_array, check_float, check_int, check_random_state

__all__ = ["DiffusionMap", "diffusion_map", "hdbscan_clusters"]


@dataclass(frozen=True, eq=False)
class DiffusionMap:
    """Diffusion coordinates.

    Attributes
    ----------
    coords : ndarray of shape (n_points, n_components)
        The first non-trivial coordinates lambda_k psi_k, k = 1..n_components.
    eigenvalues : ndarray of shape (n_eigenvalues,)
        Non-trivial eigenvalues of the Markov operator in decreasing order (lambda_1, lambda_2, ...).
    """

    coords: np.ndarray
    eigenvalues: np.ndarray


def _check_kernel(K) -> sparse.csr_matrix:
    if not sparse.issparse(K):
        K = check_array(K, ndim=2, name="kernel")
    K = sparse.csr_matrix(K, dtype=np.float64)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"kernel must be square; got shape {K.shape}")
    if K.nnz and (K.data.min() < 0 or not np.all(np.isfinite(K.data))):
        raise ValueError("kernel entries must be finite and non-negative")
    if abs(K - K.T).max() > 1e-10 * max(abs(K).max(), 1e-300):
        raise ValueError("kernel must be symmetric")
    if np.any(np.asarray(K.sum(axis=1)).ravel() <= 0):
        raise ValueError("every kernel row needs positive mass; drop set-aside points first")
    return K


def diffusion_map(kernel, *, n_components: int = 3, n_eigenvalues: int = 10, alpha: float = 1.0,
                  random_state: int | np.random.Generator | None = 0) -> DiffusionMap:
    """Diffusion map of a symmetric non-negative kernel.

    Parameters
    ----------
    kernel : sparse matrix or ndarray of shape (n_points, n_points)
        Symmetric weights with positive row sums (e.g. the connected block of ``IANKernel.kernel``).
    n_components : int, default=3
        Non-trivial coordinates returned.
    n_eigenvalues : int, default=10
        Non-trivial eigenvalues returned (at least ``n_components`` are computed).
    alpha : float, default=1.0
        Density normalisation exponent (1: Laplace-Beltrami, 0: graph Laplacian).
    random_state : int, Generator or None, default=0
        Seeds the eigensolver's start vector.

    Returns
    -------
    DiffusionMap
        coords (n_points, n_components), eigenvalues (n_eigenvalues,).
    """
    K = _check_kernel(kernel)
    n = K.shape[0]
    for name, value in (("n_components", n_components), ("n_eigenvalues", n_eigenvalues)):
        check_int(value, name=name, low=1)
    n_eig = max(n_components, n_eigenvalues) + 1
    if n_eig >= n:
        raise ValueError(f"{n_eig - 1} non-trivial eigenpairs need more than {n_eig} points; got {n}")
    alpha = check_float(alpha, name="alpha", low=0)
    rng = check_random_state(random_state)
    q = np.asarray(K.sum(axis=1)).ravel()
    Dq = sparse.diags(q ** -alpha)
    K_alpha = Dq @ K @ Dq
    d = np.asarray(K_alpha.sum(axis=1)).ravel()
    Dh = sparse.diags(1.0 / np.sqrt(d))
    M = Dh @ K_alpha @ Dh
    M = 0.5 * (M + M.T)
    if n <= 600:
        values, vectors = np.linalg.eigh(M.toarray())
        values, vectors = values[-n_eig:], vectors[:, -n_eig:]
    else:
        values, vectors = eigsh(M, k=n_eig, which="LA", v0=rng.uniform(0.5, 1.5, n), tol=1e-10)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    psi = vectors / np.sqrt(d)[:, None]
    coords = psi[:, 1:n_components + 1] * values[1:n_components + 1]
    # eigenvector signs are arbitrary: make the largest-magnitude entry of each coordinate positive
    flip = np.sign(coords[np.abs(coords).argmax(axis=0), np.arange(coords.shape[1])])
    return DiffusionMap(coords=coords * np.where(flip == 0, 1.0, flip), eigenvalues=values[1:n_eigenvalues + 1])


def hdbscan_clusters(points: np.ndarray, *, min_cluster_size: int = 10) -> np.ndarray:
    """HDBSCAN labels of points (``sklearn.cluster.HDBSCAN``).

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
    min_cluster_size : int, default=10

    Returns
    -------
    ndarray of shape (n_points,), int
        Cluster of each point, -1 for noise.
    """
    points = check_array(points, ndim=2, name="points", axes="point, dimension")
    check_int(min_cluster_size, name="min_cluster_size", low=2)
    if points.shape[0] < min_cluster_size:
        return np.full(points.shape[0], -1, dtype=np.int64)
    return HDBSCAN(min_cluster_size=int(min_cluster_size), copy=True).fit_predict(points).astype(np.int64)
