"""The neural matrix: each unit's coordinates on the permuted-CP components (METHODS.md 5.6-5.7).

With the factors fixed, every unit's data (its six relFR-scaled maps, non-significant ones included) is
fitted by non-negative least squares on the basis vec(B~_r (x) C_r), B~ = B / max_s B; the coordinates
are the square roots of the coefficients. Significant maps take the shift that best aligns them with the
model; a unit's non-significant maps share one rotation, the one with the lowest NNLS cost. With only
published factors (no data) the coordinates are sqrt(lambda_r * max_s B[s, r] * A[n, r]), which is what
the NNLS returns when the data is the model's own reconstruction.

Every NNLS has the same basis, so it is solved on the R x R normal equations (Cholesky factor of the
basis Gram matrix), which gives the same minimiser as the full 6 * 8T-row problem at a tiny cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import nnls
from sklearn.decomposition import PCA

from compute._validation import check_array, check_float, check_instance
from compute.encoding.permuted_cp import PermutedCPResult
from compute.encoding.points import deduplicate

__all__ = ["NeuralMatrix", "PCAReduction", "deduplicate", "factor_coordinates", "neural_matrix", "reduce_pca"]


@dataclass(frozen=True, eq=False)
class NeuralMatrix:
    """Coordinates of every unit on the components.

    Attributes
    ----------
    coords : ndarray of shape (n_units, rank)
        sqrt of the NNLS coefficients.
    coefficients : ndarray of shape (n_units, rank)
    shifts : ndarray of shape (n_units, n_stimuli), int
        Shift applied to each map (np.roll convention along directions) in the fit.
    relative_residual : ndarray of shape (n_units,)
        ||data - fit|| / ||data|| per unit (NaN for a unit without data).
    """

    coords: np.ndarray
    coefficients: np.ndarray
    shifts: np.ndarray
    relative_residual: np.ndarray


@dataclass(frozen=True, eq=False)
class PCAReduction:
    """PCA of the neural matrix keeping the fewest components above a variance threshold, duplicates removed.

    Attributes
    ----------
    points : ndarray of shape (n_unique, n_pcs)
        PC scores of the distinct units.
    representative : ndarray of shape (n_unique,), int
        Row (unit) of the neural matrix each point stands for (its first occurrence).
    inverse : ndarray of shape (n_units,), int
        Point of every unit: ``points[inverse]`` has one row per unit.
    n_pcs : int
    explained_variance_ratio : ndarray of shape (n_components,)
        Of all components of the PCA (so the curve can be shown).
    """

    points: np.ndarray
    representative: np.ndarray
    inverse: np.ndarray
    n_pcs: int
    explained_variance_ratio: np.ndarray


def factor_coordinates(lambdas: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Neural matrix from factors alone: sqrt(lambda_r * max_s B[s, r] * A[n, r]) (METHODS.md 5.6).

    Parameters
    ----------
    lambdas : ndarray of shape (rank,)
    A : ndarray of shape (n_units, rank)
    B : ndarray of shape (n_stimuli, rank)

    Returns
    -------
    ndarray of shape (n_units, rank)
    """
    lambdas = check_array(lambdas, ndim=1, name="lambdas")
    A = check_array(A, ndim=2, name="A", axes="unit, component")
    B = check_array(B, ndim=2, name="B", axes="stimulus, component")
    if not A.shape[1] == B.shape[1] == lambdas.shape[0]:
        raise ValueError(f"lambdas {lambdas.shape}, A {A.shape} and B {B.shape} must share the rank")
    if np.any(A < 0) or np.any(B < 0) or np.any(lambdas < 0):
        raise ValueError("factor coordinates need non-negative lambdas and factors")
    return np.sqrt(lambdas * B.max(axis=0) * A)


def _rolled_products(data: np.ndarray, C: np.ndarray, n_directions: int) -> np.ndarray:
    """Q[n, s, k, r] = <roll_k data[n, s], C_r> = <data[n, s], roll_{-k} C_r>, shape (N, S, D, R)."""
    n, s, length = data.shape
    rank = C.shape[1]
    maps = C.reshape(-1, n_directions, rank)                                   # (time, direction, R)
    rolled = np.stack([np.roll(maps, -k, axis=1).reshape(length, rank) for k in range(n_directions)], axis=1)
    return (data.reshape(n * s, length) @ rolled.reshape(length, -1)).reshape(n, s, n_directions, rank)


def neural_matrix(data: np.ndarray, result: PermutedCPResult, *, significant: np.ndarray | None = None
                  ) -> NeuralMatrix:
    """NNLS refit of every unit on the fixed factors (METHODS.md 5.6).

    Parameters
    ----------
    data : ndarray of shape (n_units, n_stimuli, n_directions * n_time)
        relFR-scaled maps with the non-significant ones kept (``EncodingTensor.full``); rows match
        ``result.A``.
    result : PermutedCPResult
        Fixed factors.
    significant : ndarray of shape (n_units, n_stimuli), bool, or None
        None: every map is significant.

    Returns
    -------
    NeuralMatrix
    """
    check_instance(result, PermutedCPResult, name="result")
    data = check_array(data, ndim=3, name="data", axes="unit, stimulus, direction + n_directions * time")
    expected = (result.A.shape[0], result.B.shape[0], result.C.shape[0])
    if data.shape != expected:
        raise ValueError(f"data must have shape {expected} to match the factors; got {data.shape}")
    n_units, n_stim, _ = data.shape
    significant = (np.ones((n_units, n_stim), dtype=bool) if significant is None
                   else np.asarray(significant, dtype=bool))
    if significant.shape != (n_units, n_stim):
        raise ValueError(f"significant must have shape {(n_units, n_stim)}; got {significant.shape}")

    D = result.n_directions
    B_tilde = result.B / np.where(result.B.max(axis=0) > 0, result.B.max(axis=0), 1.0)
    Q = _rolled_products(data, result.C, D)                                    # (N, S, D, R)
    # best shift of each significant map: argmax_k <Xhat[n, s], roll_k data[n, s]>
    weights = (result.lambdas * result.A)[:, None, :] * result.B[None]           # (N, S, R)
    model_shift = np.einsum("nsr,nskr->nsk", weights, Q).argmax(axis=2)
    # b[n, k, r] = <vec(B~_r (x) C_r), unit n's data> for every common rotation k of its non-significant maps
    at_model = np.take_along_axis(Q, model_shift[:, :, None, None], axis=2)        # (N, S, 1, R)
    blocks = np.where(significant[:, :, None, None], at_model, Q)                   # (N, S, D, R)
    b = np.einsum("sr,nskr->nkr", B_tilde, blocks)

    gram = (B_tilde.T @ B_tilde) * (result.C.T @ result.C)
    ridge = 1e-12 * max(np.trace(gram), 1e-300)
    L = np.linalg.cholesky(gram + ridge * np.eye(gram.shape[0]))
    c = solve_triangular(L, b.reshape(-1, b.shape[2]).T, lower=True).T.reshape(b.shape)  # (N, D, R)
    y_sq = (data ** 2).sum(axis=(1, 2))
    coefficients = np.zeros((n_units, result.rank))
    shifts = model_shift.copy()
    residual = np.full(n_units, np.nan)
    for unit in range(n_units):
        candidates = range(D) if not significant[unit].all() else range(1)
        best = None
        for k in candidates:
            x, rnorm = nnls(L.T, c[unit, k])
            cost = rnorm ** 2 - c[unit, k] @ c[unit, k]  # = ||y - M x||^2 - ||y||^2
            if best is None or cost < best[0] - 1e-12 * max(y_sq[unit], 1e-300):
                best = (cost, k, x)
        cost, k, x = best
        coefficients[unit] = x
        shifts[unit, ~significant[unit]] = k
        if y_sq[unit] > 0:
            residual[unit] = np.sqrt(max(cost + y_sq[unit], 0.0) / y_sq[unit])
    return NeuralMatrix(coords=np.sqrt(coefficients), coefficients=coefficients, shifts=shifts,
                        relative_residual=residual)


def reduce_pca(X: np.ndarray, *, variance_threshold: float = 0.8) -> PCAReduction:
    """PCA keeping the fewest components whose cumulative explained variance exceeds the threshold,
    then duplicates dropped (METHODS.md 5.7; rows equal to numerical precision, ``deduplicate``).

    Parameters
    ----------
    X : ndarray of shape (n_units, n_features)
    variance_threshold : float, default=0.8
        Keep components until the cumulative ratio is strictly greater than this.

    Returns
    -------
    PCAReduction
    """
    X = check_array(X, ndim=2, name="X", axes="unit, component")
    check_float(variance_threshold, name="variance_threshold", low=0, high=1, low_open=True, high_open=True)
    if X.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 units; got {X.shape[0]}")
    pca = PCA(n_components=min(X.shape), svd_solver="full")
    scores = pca.fit_transform(X)
    ratio = pca.explained_variance_ratio_
    n_pcs = int(np.flatnonzero(np.cumsum(ratio) > variance_threshold)[0] + 1) if ratio.sum() > variance_threshold \
        else ratio.size
    # Duplicates are found on the neural matrix itself and again on the kept PCs.
    _, rep_x, inv_x = deduplicate(X)
    points, rep_pc, inv_pc = deduplicate(scores[rep_x, :n_pcs])
    representative, inverse = rep_x[rep_pc], inv_pc[inv_x]
    return PCAReduction(points=points, representative=representative, inverse=inverse, n_pcs=n_pcs,
                        explained_variance_ratio=ratio)
