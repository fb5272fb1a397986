"""Crossing events between decoding trajectories (METHODS.md section 4).

For two different trajectories i < j, a crossing is a pair of times (ti, tj) with |ti - tj| <= delta and
Euclidean distance between their first 3 coordinates < epsilon. The definition is a loop over
pairs x T^2; here a KD-tree finds every close pair of points at once and the time and identity conditions
filter them, which gives the same set (see ``_crossing_pairs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from compute._validation import check_array, check_float, check_int

_N_COORDS = 3


@dataclass(frozen=True, eq=False)
class CrossingEvents:
    """All crossing events, sorted by (i, j, ti, tj).

    Attributes
    ----------
    i, j : ndarray of shape (n_events,), int
        Trajectory indices, i < j.
    ti, tj : ndarray of shape (n_events,), int
        Time indices on trajectory i and j, |ti - tj| <= delta.
    distance : ndarray of shape (n_events,)
        Euclidean distance over the first 3 coordinates, < epsilon.
    midpoint : ndarray of shape (n_events, 3)
        Midpoint of the two points (first 3 coordinates).
    epsilon : float
    delta : int
    """

    i: np.ndarray
    j: np.ndarray
    ti: np.ndarray
    tj: np.ndarray
    distance: np.ndarray
    midpoint: np.ndarray
    epsilon: float
    delta: int

    @property
    def count(self) -> int:
        return int(self.i.shape[0])


def _check_options(epsilon: float, delta: int) -> tuple[float, int]:
    return (check_float(epsilon, name="epsilon", low=0, low_open=True, why=" (a distance)"),
            check_int(delta, name="delta", low=0, why=" (time bins)"))


def _crossing_pairs(points: np.ndarray, epsilon: float, delta: int) -> tuple[np.ndarray, ...]:
    """Kernel on plain arrays: points (n_traj, T, 3) -> i, j, ti, tj, distance, sorted by (i, j, ti, tj).

    A KD-tree lists a superset of the candidate pairs; the exact conditions of the definition then
    filter it. When the time band is narrow, time joins the tree as a 4th coordinate scaled by
    s = 2 epsilon / delta (2 epsilon for delta = 0): a crossing has 4-D distance below
    sqrt(epsilon^2 + (s delta)^2) = sqrt(5) epsilon (epsilon for delta = 0), and pairs far apart in time
    are never listed. For a wide band that radius costs more than it prunes, so the tree stays 3-D.
    """
    n_traj, n_time, _ = points.shape
    flat = points.reshape(n_traj * n_time, _N_COORDS)
    radius = epsilon
    if 4 * (2 * delta + 1) <= n_time:
        scale = 2.0 * epsilon / max(delta, 1)
        radius = epsilon * (np.sqrt(5.0) if delta else 1.0)
        flat = np.column_stack([flat, np.tile(np.arange(n_time) * scale, n_traj)])
    # A slightly larger radius for the tree; the exact test below uses the same formula as the definition.
    pairs = cKDTree(flat).query_pairs(radius * (1.0 + 1e-9) + 1e-300, output_type="ndarray")
    i, ti = np.divmod(pairs[:, 0], n_time)                # query_pairs gives a < b, so i <= j
    j, tj = np.divmod(pairs[:, 1], n_time)
    keep = np.flatnonzero((i != j) & (np.abs(ti - tj) <= delta))
    diff = points[i[keep], ti[keep]] - points[j[keep], tj[keep]]
    distance = np.sqrt(diff[:, 0] ** 2 + diff[:, 1] ** 2 + diff[:, 2] ** 2)   # the definition's rounding
    close = keep[distance < epsilon]
    distance = distance[distance < epsilon]
    i, j, ti, tj = i[close], j[close], ti[close], tj[close]
    order = np.argsort(((i * n_traj + j) * n_time + ti) * n_time + tj)
    return i[order], j[order], ti[order], tj[order], distance[order]


def crossing_events(trajectories: np.ndarray, epsilon: float, delta: int) -> CrossingEvents:
    """Every close approach between two different trajectories at nearby times.

    Parameters
    ----------
    trajectories : ndarray of shape (n_trajectories, n_time, n_dims), n_dims >= 3
        Curves in PCA space (e.g. ``Trajectories.curves``); only the first 3 coordinates are used.
    epsilon : float
        Distance threshold (strict: distance < epsilon), in the units of the coordinates.
    delta : int
        Largest allowed time difference |ti - tj|, in time bins (0 = same time only).

    Returns
    -------
    CrossingEvents
        Exactly the events of the brute-force definition, sorted by (i, j, ti, tj).
    """
    traj = check_array(trajectories, ndim=3, name="trajectories", axes="trajectory, time, coordinate")
    if traj.shape[2] < _N_COORDS:
        raise ValueError(f"trajectories need at least {_N_COORDS} coordinates; got shape {traj.shape}")
    epsilon, delta = _check_options(epsilon, delta)
    points = np.ascontiguousarray(traj[:, :, :_N_COORDS])
    i, j, ti, tj, distance = _crossing_pairs(points, epsilon, delta)
    midpoint = (points[i, ti] + points[j, tj]) / 2.0
    return CrossingEvents(i=i, j=j, ti=ti, tj=tj, distance=distance, midpoint=midpoint.reshape(-1, _N_COORDS),
                          epsilon=epsilon, delta=delta)
