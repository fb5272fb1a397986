"""Coincident points of an embedding: units whose coordinates agree to numerical precision.

The neural matrix and its PCs come out of float arithmetic, so two units with the same responses can differ
in the last bits; the IAN kernel's distances (Gram formula, float32 tuning) cannot tell them apart and a
Gabriel graph leaves one of them without neighbours. Such rows count as one point.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from compute._validation import check_array, check_float

#: Rows closer than this times the points' RMS distance from their mean are duplicates.
DUPLICATE_TOL = 1e-6


def deduplicate(points: np.ndarray, *, tol: float = DUPLICATE_TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Duplicate rows removed, first occurrences kept in their original order.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_dims)
    tol : float, default=DUPLICATE_TOL
        Rows within ``tol`` times the RMS distance of the rows from their mean are duplicates, joined
        transitively; 0 = exact duplicates only.

    Returns
    -------
    unique : ndarray of shape (n_unique, n_dims)
    representative : ndarray of shape (n_unique,)
        Index into ``points`` of each unique row (the first of its group).
    inverse : ndarray of shape (n_points,)
        Index into ``unique`` of every input row.
    """
    points = check_array(points, ndim=2, name="points", axes="point, dimension")
    tol = check_float(tol, name="tol", low=0)
    n = points.shape[0]
    spread = float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))
    pairs = cKDTree(points).query_pairs(tol * spread, output_type="ndarray")
    links = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = sparse.csgraph.connected_components(links, directed=False)
    first = np.full(group.max() + 1, n)
    np.minimum.at(first, group, np.arange(n))
    order = np.argsort(first, kind="stable")
    rank_of = np.empty_like(order)
    rank_of[order] = np.arange(order.size)
    representative = first[order]
    return points[representative], representative, rank_of[group]
