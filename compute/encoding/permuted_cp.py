"""Permuted non-negative CP decomposition (METHODS.md section 5.4-5.5; Dyballa et al., PNAS 2024).

The tensor X has shape (n_units, n_stimuli, n_directions * n_time); each (unit, stimulus) fibre is a
direction x time map flattened in Fortran order (index = direction + n_directions * time). The model is

    minimise 1/2 sum_{n,s} || roll_{k(n,s)}(X[n,s]) - Xhat[n,s] ||^2,   Xhat = sum_r a_r (x) b_r (x) c_r,

over non-negative A (N, R), B (S, R), C (L, R), where roll_k circularly shifts the map by k directions
(``np.roll`` convention: rolled[d] = X[(d - k) mod n_directions]). As in the authors' MATLAB code
(``perm_tt_cp_fg.m``), the shift of every (unit, stimulus) block is re-chosen inside every objective /
gradient evaluation as the argmax of the 8 inner products <Xhat[n,s], roll_k X[n,s]>, and the factors are
optimised with L-BFGS-B (lower bound 0) from random uniform starts; the restart with the lowest error is kept.

The objective and gradient are one vectorised torch kernel in the frequency domain of the direction axis
(a circular shift is a phase there): the 8 inner products of every block and the A / B gradients come from
one batched product over the real DFT's frequencies, the C gradient from one more, so neither the model
tensor nor the shifted data is formed and the same code runs on a GPU. Restarts run in parallel threads
(``n_jobs``), one torch thread each on CPU; every restart's random start is drawn up front from the one
generator, so the result does not depend on ``n_jobs``.

Stopping rule: the authors' L-BFGS-B settings (factr 1e-5, i.e. scipy ``ftol = factr * eps``; pgtol 1e-4;
at most 1000 iterations, 5000 evaluations; 5 correction pairs). The kernel works on X / ||X||, but L-BFGS-B
is handed the authors' un-normalised objective and variables, so both tolerances apply where theirs do
(pgtol on a normalised objective stops ||X||^(5/3) times earlier). The kernel runs in float64, as the
authors' MATLAB code: in float32 the rounding of f (~1e-6 relative) ends the line search ("ABNORMAL")
before pgtol is reached, after more evaluations than float64 needs to reach it.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize
from tensorly.cp_tensor import CPTensor, cp_to_tensor
from tensorly.decomposition import non_negative_parafac_hals
from tensorly.metrics.factors import congruence_coefficient
from threadpoolctl import threadpool_limits

from compute._validation import (check_array, check_bool, check_choice, check_float, check_int,
                                 check_random_state)
from compute.jobs import JobControl, ensure_control
from compute.seed_ranks import N_RESTARTS

if TYPE_CHECKING:
    import torch

__all__ = ["FACTR", "MAX_ITER", "N_RESTARTS", "PGTOL", "PermutedCPResult", "RankDiagnostics", "effective_dimensionality",
           "factor_match_score", "permuted_cp", "rank_diagnostics", "resolve_device"]


@dataclass(frozen=True, eq=False)
class PermutedCPResult:
    """Best restart of a permuted CP decomposition.

    Attributes
    ----------
    lambdas : ndarray of shape (rank,)
        Component weights (column norms), sorted in decreasing order.
    A : ndarray of shape (n_units, rank)
        Neural factors, unit-norm non-negative columns.
    B : ndarray of shape (n_stimuli, rank)
        Stimulus factors, unit-norm non-negative columns.
    C : ndarray of shape (n_directions * n_time, rank)
        Response-map factors (Fortran order: index = direction + n_directions * time), unit-norm columns.
    shifts : ndarray of shape (n_units, n_stimuli), int
        Circular shift k (in directions) applied to each block: the aligned map is np.roll(map, k, axis=direction).
    fit : float
        1 - ||Xhat - P(X)||^2 / ||X||^2 of the best restart.
    error : float
        Relative residual ||Xhat - P(X)|| / ||X|| of the best restart (the restart-ranking criterion).
    restart_errors : ndarray of shape (n_restarts,)
        ``error`` of every restart, in the order they ran.
    n_iter : int
        L-BFGS-B iterations of the best restart.
    n_directions : int
    n_evaluations : ndarray of shape (n_restarts,)
        Objective / gradient evaluations of every restart (empty when unknown).
    """

    lambdas: np.ndarray
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    shifts: np.ndarray
    fit: float
    error: float
    restart_errors: np.ndarray
    n_iter: int
    n_directions: int = 8
    n_evaluations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def rank(self) -> int:
        return int(self.lambdas.shape[0])

    @property
    def cp_tensor(self) -> CPTensor:
        """The aligned model as a tensorly ``CPTensor``: weights = lambdas, factors = [A, B, C]."""
        return CPTensor((self.lambdas, [self.A, self.B, self.C]))

    def to_tensor(self) -> np.ndarray:
        """Xhat of shape (n_units, n_stimuli, n_directions * n_time): the aligned reconstruction."""
        return cp_to_tensor(self.cp_tensor)

    def __repr__(self) -> str:
        return (f"PermutedCPResult(rank={self.rank}, shape={(self.A.shape[0], self.B.shape[0], self.C.shape[0])}, "
                f"fit={self.fit:.4f}, restarts={self.restart_errors.size})")


@dataclass(frozen=True, eq=False)
class RankDiagnostics:
    """Effective dimensionality and error against rank (METHODS.md section 5.5).

    Attributes
    ----------
    ranks : ndarray of shape (n_ranks,)
    errors : ndarray of shape (n_ranks, n_restarts)
        Relative residual of every restart.
    effective_dims : ndarray of shape (n_ranks, n_restarts)
        ``effective_dimensionality`` of every restart's neural factor matrix.
    seconds : ndarray of shape (n_ranks,)
        Wall-clock time spent on each rank.
    baseline_errors : ndarray of shape (n_ranks,)
        Relative residual of tensorly's ``non_negative_parafac_hals`` on the unpermuted tensor (no
        shifts; SVD start): how much the per-block shifts buy at each rank. NaN when not computed.
    """

    ranks: np.ndarray
    errors: np.ndarray
    effective_dims: np.ndarray
    seconds: np.ndarray
    baseline_errors: np.ndarray

    def summary(self) -> dict[str, np.ndarray]:
        """Mean and SD over restarts of the error and the effective dimensionality, each (n_ranks,)."""
        return {"ranks": self.ranks, "error_mean": self.errors.mean(1), "error_sd": self.errors.std(1),
                "ed_mean": self.effective_dims.mean(1), "ed_sd": self.effective_dims.std(1),
                "baseline_error": self.baseline_errors}


# ---------------------------------------------------------------------------------------------- checks
def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` reads TWINSCOPE_DEVICE; "auto" picks CUDA when available, else CPU."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device is None:
        from compute.config import Settings

        device = Settings.from_env().device
    check_choice(device, ("auto", "cpu", "cuda"), name="device")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but no CUDA device is available; use device='cpu' or 'auto'")
    return torch.device(device)


def _check_tensor(X, n_directions: int) -> np.ndarray:
    X = check_array(X, ndim=3, name="X", axes="unit, stimulus, direction + n_directions * time")
    check_int(n_directions, name="n_directions", low=1)
    if X.shape[2] % n_directions:
        raise ValueError(f"the last axis of X ({X.shape[2]}) must be n_directions * n_time with "
                         f"n_directions={n_directions}; it is not a multiple")
    if np.any(X < 0):
        raise ValueError("X must be non-negative (shift responses first, see compute.encoding.tensor)")
    if not np.any(X):
        raise ValueError("X is all zeros; nothing to decompose")
    return X


def _check_rank(rank, X: np.ndarray) -> int:
    check_int(rank, name="rank", low=1)
    if rank > X.shape[0]:
        raise ValueError(f"rank={rank} exceeds n_units={X.shape[0]}; reduce rank")
    return int(rank)


# ---------------------------------------------------------------------------------------------- kernel
class _Objective:
    """f(theta) and its gradient for the permuted CP model of X / ||X||, on torch tensors.

    theta = [vec(A); vec(B); vec(C)] (row-major) as one float64 numpy vector. X is scaled to unit norm, so
    f = 1/2 ||P(X) - Xhat||^2 / ||X||^2 = (1 - fit) / 2 whatever the data's scale. f is assembled in float64
    as 1/2 ||X||^2 - sum of the blocks' best inner products + 1/2 ||Xhat||^2 (the last from the R x R factor
    Gram matrices), so neither Xhat nor the shifted tensor is formed.

    The 8 shifts of a block are a circular correlation along directions, so the kernel works on the real
    DFT of X along directions (computed once): P[b, k, r] = <roll_k X[b], C_r> is the inverse DFT over
    frequencies of M[b, f, r] = sum_t C^[t, f, r] conj(X^[b, t, f]), one batched product over the 5
    frequencies (each over T, not 8T, terms); the inner products with the model and the rows of the A and B
    gradients are contractions of M with the Khatri-Rao rows, and the C gradient's data term
    sum_b kr[b] roll_k(b) X[b] is one more batched product in the frequency domain (the roll a phase).
    """

    def __init__(self, X: np.ndarray, rank: int, n_directions: int, device: torch.device,
                 dtype: torch.dtype | None = None) -> None:
        import torch

        n, s, length = X.shape
        self.shape = (n, s, length)
        self.rank = rank
        self.n_dir = n_directions
        self.n_time = length // n_directions
        self.device = device
        self.dtype = torch.float64 if dtype is None else dtype
        self.norm = float(np.sqrt(np.sum(np.square(X, dtype=np.float64))))
        Xs = X / self.norm
        self.x_sq = float(np.sum(np.square(Xs)))   # ||P(X)||^2 for every shift: 1 up to rounding
        # Fortran flattening (index = d + D * t) is a C-order (time, direction) view.
        self.X4 = torch.as_tensor(Xs, dtype=self.dtype, device=device).reshape(n, s, self.n_time, n_directions)
        D = n_directions
        d = np.arange(D)
        # Frequency slots of the real DFT along directions, two real rows each: slot 0 pairs the two real
        # frequencies 0 and D/2 (a zero row for odd D), slot f >= 1 is frequency f as (real, imaginary).
        angle = 2 * np.pi * np.outer(np.arange(1, (D - 1) // 2 + 1), d) / D           # (F - 1, D)
        real_pair = np.stack([np.ones(D), np.cos(np.pi * d) if D % 2 == 0 else np.zeros(D)])
        dft = np.concatenate([real_pair[None], np.stack([np.cos(angle), -np.sin(angle)], axis=1)])  # (F, 2, D)
        # the forward transform, and the phase of a roll by d (1 and (-1)^d in slot 0, e^{-2 pi i f d / D})
        self.dft = torch.as_tensor(dft, dtype=self.dtype, device=device)
        # real inverse DFT: x[d] = sum over slots and rows of coefficient * weight * dft[slot, row, d]
        weight = np.r_[1.0, np.full(angle.shape[0], 2.0)] / D
        self.inverse = torch.as_tensor(dft * weight[:, None, None], dtype=self.dtype, device=device)
        # (F, 2T, NS): X's two coefficient rows over time per slot, blocks last (contiguous) for every product
        spec = np.tensordot(dft, Xs.reshape(n * s, self.n_time, D), axes=([2], [2]))  # (F, 2, NS, T)
        self.Xf = torch.as_tensor(spec.transpose(0, 1, 3, 2).reshape(dft.shape[0], 2 * self.n_time, n * s),
                                  dtype=self.dtype, device=device).contiguous()

    def split(self, theta: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        n, s, length = self.shape
        r = self.rank
        t = torch.as_tensor(theta, dtype=self.dtype, device=self.device)
        return (t[: n * r].reshape(n, r), t[n * r: (n + s) * r].reshape(s, r), t[(n + s) * r:].reshape(length, r))

    def _correlations(self, C: torch.Tensor) -> torch.Tensor:
        """M of shape (F, 2, R, NS): real and imaginary parts of sum_t C^[t, f, r] conj(X^[b, t, f]) per slot
        (slot 0: the products at frequencies 0 and D/2)."""
        import torch

        r = self.rank
        t = self.n_time
        # C^ (F, 2, T, R): the forward real DFT of every map factor along directions
        spec = torch.einsum("fjd,tdr->fjtr", self.dft, C.reshape(t, self.n_dir, r))
        re, im = spec[:, 0].transpose(1, 2), spec[:, 1].transpose(1, 2)                 # (F, R, T)
        # Re M = a.c + b.d, Im M = a.d - b.c with X^ = a + ib, C^ = c + id: one (2R, 2T) block per slot;
        # slot 0's two real frequencies do not mix: a0.c0 and a_{D/2}.c_{D/2}
        left = torch.cat([torch.cat([re, im], dim=2), torch.cat([im, -re], dim=2)], dim=1)   # (F, 2R, 2T)
        left[0, :r, t:] = 0.0
        left[0, r:, :t] = 0.0
        left[0, r:, t:] = im[0]
        return torch.bmm(left, self.Xf).reshape(-1, 2, r, self.Xf.shape[2])

    def best_shifts(self, krT: torch.Tensor, M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Best shift of every block and its inner product <Xhat, roll_k X>, each (NS,), from the Khatri-Rao
        rows krT (R, NS) and ``_correlations``."""
        q = M[:, :, 0] * krT[0]                                                 # (F, 2, NS) model spectrum
        for r in range(1, krT.shape[0]):    # a loop of fused multiply-adds: no (F, 2, R, NS) temporary
            q.addcmul_(M[:, :, r], krT[r])
        cross = self.inverse.reshape(-1, self.n_dir).T @ q.reshape(-1, q.shape[2])   # (D, NS): the 8 products
        best, k = cross.max(dim=0)
        return k, best

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        import torch

        n, s, length = self.shape
        r = self.rank
        A, B, C = self.split(theta)
        krT = (A.T[:, :, None] * B.T[:, None, :]).reshape(r, n * s)  # Khatri-Rao, column = n * S + s
        M = self._correlations(C)
        k, best = self.best_shifts(krT, M)
        gA, gB, gC = A.T @ A, B.T @ B, C.T @ C
        xhat_sq = float((gA.double() * gB.double() * gC.double()).sum())
        f = 0.5 * self.x_sq - float(best.sum(dtype=torch.float64)) + 0.5 * xhat_sq
        # W[r, b] = <roll_k(b) X[b], C_r>: the inverse DFT of M at each block's own shift
        at_k = self.inverse[:, :, k]                                               # (F, 2, NS)
        W = M[0, 0] * at_k[0, 0]
        for slot, row in np.ndindex(*at_k.shape[:2]):
            if slot or row:
                W.addcmul_(M[slot, row], at_k[slot, row])
        W = W.reshape(r, n, s)
        # sum_b kr[b] roll_k(b) X[b] in the frequency domain: X^ e^{-2 pi i f k / D} weighted by kr
        ph = self.dft[:, :, k]                                                   # (F, 2, NS)
        z = (ph[:, :, None, :] * krT).reshape(ph.shape[0], 2 * r, -1)               # (F, 2R, NS)
        y = torch.bmm(self.Xf, z.transpose(1, 2))                                  # (F, 2T, 2R)
        t = self.n_time
        re = y[:, :t, :r] - y[:, t:, r:]
        im = y[:, :t, r:] + y[:, t:, :r]
        re[0], im[0] = y[0, :t, :r], y[0, t:, r:]                                   # slot 0: both real
        data_c = torch.einsum("fjd,fjtr->tdr", self.inverse, torch.stack([re, im], dim=1)).reshape(length, r)
        grad = torch.cat([(A @ (gB * gC) - (W * B.T[:, None, :]).sum(2).T).reshape(-1),
                          (B @ (gA * gC) - (W * A.T[:, :, None]).sum(1).T).reshape(-1),
                          (C @ (gA * gB) - data_c).reshape(-1)])
        return f, grad.cpu().numpy().astype(np.float64)

    def evaluate(self, A: np.ndarray, B: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, float]:
        """Shifts (N, S) and the relative squared residual ||P(X) - Xhat||^2 / ||X||^2 of factor
        matrices of the scaled problem (the residual formed explicitly, for an exact fit)."""
        import torch

        n, s, length = self.shape
        kr = torch.as_tensor(np.einsum("nr,sr->nsr", A, B).reshape(n * s, -1), dtype=self.dtype, device=self.device)
        Ct = torch.as_tensor(C, dtype=self.dtype, device=self.device)
        k, _ = self.best_shifts(kr.T, self._correlations(Ct))
        d = torch.arange(self.n_dir, device=self.device)
        # rolled[d] = X[(d - k) mod D]
        index = ((d[None, :] - k[:, None]) % self.n_dir).reshape(n, s, 1, self.n_dir)
        shifted = torch.gather(self.X4, 3, index.expand(n, s, self.n_time, self.n_dir)).reshape(n * s, length)
        resid = (kr @ Ct.T).sub_(shifted)
        return k.reshape(n, s).cpu().numpy().astype(np.int64), float((resid * resid).sum())

    def factors(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Factor matrices of the scaled problem as float64 numpy arrays."""
        return tuple(M.cpu().numpy().astype(np.float64) for M in self.split(theta))


def _random_start(shape: tuple[int, int, int], rank: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform [0, 1) factors with unit-norm columns (the authors' 'rand' + matrandnorm)."""
    parts = []
    for size in shape:
        M = rng.random((size, rank))
        parts.append((M / np.linalg.norm(M, axis=0, keepdims=True)).ravel())
    return np.concatenate(parts)


def _normalise(A: np.ndarray, B: np.ndarray, C: np.ndarray):
    """Unit-norm columns, lambda = product of norms, components sorted by lambda (decreasing)."""
    norms = [np.linalg.norm(M, axis=0) for M in (A, B, C)]
    lambdas = norms[0] * norms[1] * norms[2]
    safe = [np.where(nm > 0, nm, 1.0) for nm in norms]
    A, B, C = (M / nm for M, nm in zip((A, B, C), safe))
    order = np.argsort(-lambdas, kind="stable")
    return lambdas[order], A[:, order], B[:, order], C[:, order]


#: The authors' L-BFGS-B settings (Becker's lbfgsb wrapper: factr 1e-5, pgtol 1e-4, maxIts 1000) and the
#: wrapper's defaults they kept: 5 correction pairs (m), 5000 evaluations (maxTotalIts).
FACTR, PGTOL, MAX_ITER, MEMORY, MAX_EVALUATIONS = 1e-5, 1e-4, 1000, 5, 5000


def _restart(objective: _Objective, theta0: np.ndarray, max_iter: int, factr: float, pgtol: float,
             control: JobControl):
    """One L-BFGS-B run from ``theta0`` (cancellable every iteration): factors (of X / ||X||), shifts,
    relative squared residual, iterations, evaluations.

    L-BFGS-B sees the authors' problem, 1/2 ||P(X) - Xhat||^2 of the un-normalised X in their variables
    (theta * ||X||^(1/3), so that the model scales by ||X||), and ``theta0`` is a start in those units (their
    unit-norm columns): pgtol and factr then stop where theirs do, while the kernel keeps working on X / ||X||.
    """
    scale = objective.norm ** (1.0 / 3.0)

    def authors(x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = objective(x / scale)
        return objective.norm ** 2 * f, g * (objective.norm ** 2 / scale)

    res = minimize(authors, theta0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * theta0.size,
                   options={"maxiter": max_iter, "maxfun": MAX_EVALUATIONS, "ftol": factr * np.finfo(float).eps,
                            "gtol": pgtol, "maxcor": MEMORY}, callback=lambda _: control.check())
    A, B, C = objective.factors(res.x / scale)
    shifts, resid = objective.evaluate(A, B, C)
    return A, B, C, shifts, resid, int(res.nit), int(res.nfev)


def _n_jobs(n_jobs: int | None, n_tasks: int) -> int:
    if check_int(n_jobs, name="n_jobs", low=1, optional=True, why=" (None: all available cores)") is None:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return int(min(n_jobs, n_tasks))


def _run_restarts(objective: _Objective, starts: list[np.ndarray], *, n_jobs: int, max_iter: int, factr: float,
                  pgtol: float, control: JobControl, label: str) -> list[tuple]:
    """Every restart of one objective, ``n_jobs`` at a time in threads, results in the order of ``starts``.

    torch releases the GIL in its kernels, so threads share the cores. On CPU every restart runs its torch
    operations on one thread, as BLAS (used by SciPy's L-BFGS-B on vectors, scipy/scipy#22438): the kernel's
    products are too small for intra-op threads, which made an evaluation 4-8x slower on 2 cores (one restart
    at a time with 2 torch threads against 2 restarts at a time with one each; bench_encoding.py).
    """
    import torch

    n = len(starts)
    done = 0
    before = torch.get_num_threads()
    results: list[tuple | None] = [None] * n
    with threadpool_limits(limits=1, user_api="blas"):
        torch.set_num_threads(1 if objective.device.type == "cpu" else before)
        try:
            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                futures = {pool.submit(_restart, objective, theta0, max_iter, factr, pgtol, control): i
                           for i, theta0 in enumerate(starts)}
                control.report(0.0, f"{label}: restart 1/{n}")
                try:
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        done += 1
                        control.report(done / n, f"{label}: {done}/{n} restarts done")
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            torch.set_num_threads(before)
    return results


def _check_options(n_restarts, max_iter, factr, pgtol) -> None:
    for name, value in (("n_restarts", n_restarts), ("max_iter", max_iter)):
        check_int(value, name=name, low=1)
    for name, value in (("factr", factr), ("pgtol", pgtol)):
        check_float(value, name=name, low=0, low_open=True)


def permuted_cp(X: np.ndarray, rank: int, *, n_directions: int = 8, n_restarts: int = N_RESTARTS,
                random_state: int | np.random.Generator | None = None,
                device: str | torch.device | None = None, max_iter: int = MAX_ITER, factr: float = FACTR,
                pgtol: float = PGTOL, n_jobs: int | None = None, control: JobControl | None = None
                ) -> PermutedCPResult:
    """Permuted non-negative CP decomposition with re-chosen circular shifts (METHODS.md 5.4).

    Parameters
    ----------
    X : ndarray of shape (n_units, n_stimuli, n_directions * n_time)
        Non-negative tensor; each fibre is a direction x time map in Fortran order
        (index = direction + n_directions * time), see ``compute.encoding.tensor``.
    rank : int
        Number of components R.
    n_directions : int, default=8
        Directions in each map (the shift group).
    n_restarts : int, default=50
        Random uniform starts; the one with the lowest error is returned.
    random_state : int, Generator or None, default=None
    device : {"auto", "cpu", "cuda"}, torch.device or None, default=None
        Where the objective runs; None reads TWINSCOPE_DEVICE.
    max_iter : int, default=1000
        L-BFGS-B iterations per restart (the authors' maxIts).
    factr : float, default=1e-5
        L-BFGS-B relative-decrease tolerance in units of machine epsilon (scipy ``ftol = factr * eps``).
    pgtol : float, default=1e-4
        L-BFGS-B projected-gradient tolerance, on the authors' un-normalised objective (see ``_restart``).
    n_jobs : int or None, default=None
        Restarts run at once (threads); None: one per available core. The result does not depend on it.
    control : JobControl or None
        Progress (one step per restart) and cancellation.

    Returns
    -------
    PermutedCPResult
        Unit-norm factors sorted by lambda, the shifts (n_units, n_stimuli), fit and per-restart errors.
    """
    X = _check_tensor(X, n_directions)
    rank = _check_rank(rank, X)
    _check_options(n_restarts, max_iter, factr, pgtol)
    rng = check_random_state(random_state)
    control = ensure_control(control)
    objective = _Objective(X, rank, int(n_directions), resolve_device(device))
    starts = [_random_start(objective.shape, rank, rng) for _ in range(n_restarts)]
    control.check()
    runs = _run_restarts(objective, starts, n_jobs=_n_jobs(n_jobs, n_restarts), max_iter=int(max_iter),
                         factr=float(factr), pgtol=float(pgtol), control=control,
                         label=f"permuted CP rank {rank}")
    errors = np.sqrt([run[4] for run in runs])
    i = int(np.argmin(errors))   # the first of equal errors, as in a sequential loop
    A, B, C, shifts, resid, n_iter, _ = runs[i]
    lambdas, A, B, C = _normalise(A, B, C)
    return PermutedCPResult(lambdas=lambdas * objective.norm, A=A, B=B, C=C, shifts=shifts, fit=1.0 - resid,
                            error=float(errors[i]), restart_errors=errors, n_iter=n_iter,
                            n_evaluations=np.array([run[6] for run in runs]), n_directions=int(n_directions))


# ---------------------------------------------------------------------------------------------- diagnostics
def effective_dimensionality(A: np.ndarray) -> float:
    """Effective dimensionality of a neural factor matrix (METHODS.md 5.5).

    Each column of A is scaled to unit norm first (a restart's raw factors carry the component weights);
    then A^T (components x units) is centred across components; with its singular values s_i,
    e_i = s_i^2 / (R - 1) normalised by the largest; ED = sum_i e_i / e_1, in [1, R].

    Parameters
    ----------
    A : ndarray of shape (n_units, rank)
    """
    A = check_array(A, ndim=2, name="A", axes="unit, component")
    if A.shape[1] < 2:
        raise ValueError(f"effective dimensionality needs rank >= 2; got A of shape {A.shape}")
    At = _unit_columns(A).T
    At = At - At.mean(axis=0, keepdims=True)
    s = np.linalg.svd(At, compute_uv=False)
    if s[0] <= 1e-10:      # all columns the same pattern (up to rounding): one dimension
        return 1.0
    e = s ** 2 / (A.shape[1] - 1)
    return float((e / e[0]).sum())


def rank_diagnostics(X: np.ndarray, ranks, *, n_restarts: int = N_RESTARTS, n_directions: int = 8,
                     random_state: int | np.random.Generator | None = None, device: str | None = None,
                     max_iter: int = MAX_ITER, factr: float = FACTR, pgtol: float = PGTOL,
                     n_jobs: int | None = None, baseline: bool = True,
                     control: JobControl | None = None) -> RankDiagnostics:
    """Error and effective dimensionality of every restart for every rank (METHODS.md 5.5).

    Parameters
    ----------
    X : ndarray of shape (n_units, n_stimuli, n_directions * n_time)
    ranks : sequence of int, length n_ranks
    n_restarts, random_state, device, max_iter, factr, pgtol, n_jobs :
        As ``permuted_cp``.
    baseline : bool, default=True
        Also fit tensorly's non-negative CP (HALS) without shifts at every rank (``baseline_errors``).

    Returns
    -------
    RankDiagnostics
        errors and effective_dims of shape (n_ranks, n_restarts).
    """
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0 or ranks.dtype.kind not in "iu" or np.any(ranks < 2):
        raise ValueError(f"ranks must be a non-empty 1-D sequence of ints >= 2; got {ranks.tolist()!r}")
    X = _check_tensor(X, n_directions)
    _check_options(n_restarts, max_iter, factr, pgtol)
    check_bool(baseline, name="baseline")
    for rank in ranks.tolist():
        _check_rank(rank, X)
    rng = check_random_state(random_state)
    control = ensure_control(control)
    torch_device = resolve_device(device)
    errors = np.empty((ranks.size, n_restarts))
    eds = np.empty((ranks.size, n_restarts))
    seconds = np.empty(ranks.size)
    for j, rank in enumerate(ranks.tolist()):
        objective = _Objective(X, rank, n_directions, torch_device)
        starts = [_random_start(objective.shape, rank, rng) for _ in range(n_restarts)]
        start = time.perf_counter()
        runs = _run_restarts(objective, starts, n_jobs=_n_jobs(n_jobs, n_restarts), max_iter=int(max_iter),
                             factr=float(factr), pgtol=float(pgtol),
                             control=control.sub(j / ranks.size, (j + 1) / ranks.size), label=f"rank {rank}")
        errors[j] = np.sqrt([run[4] for run in runs])
        eds[j] = [effective_dimensionality(run[0]) for run in runs]
        seconds[j] = time.perf_counter() - start
    baselines = np.array([_hals_error(X, rank) if baseline else np.nan for rank in ranks.tolist()])
    control.report(1.0, "rank scan done")
    return RankDiagnostics(ranks=ranks, errors=errors, effective_dims=eds, seconds=seconds,
                           baseline_errors=baselines)


def _hals_error(X: np.ndarray, rank: int) -> float:
    """Relative residual of tensorly's non-negative CP (HALS, SVD start) of X without shifts."""
    cp = non_negative_parafac_hals(X, rank, init="svd")
    return float(np.linalg.norm(X - cp_to_tensor(cp)) / np.linalg.norm(X))


def _factor_triplet(x):
    if isinstance(x, PermutedCPResult):
        return x.A, x.B, x.C
    if isinstance(x, (tuple, list)) and len(x) == 3:
        return tuple(check_array(M, ndim=2, name="factor matrix") for M in x)
    raise TypeError(f"expected a PermutedCPResult or a tuple (A, B, C) of factor matrices; got {type(x).__name__}")


def _unit_columns(M: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(M, axis=0, keepdims=True)
    return M / np.where(norms > 0, norms, 1.0)


def factor_match_score(a, b, *, n_directions: int | None = 8) -> float:
    """Congruence of two CP models of the same rank after optimal component matching.

    tensorly's ``congruence_coefficient`` on the three factor matrices: for every pair of components the
    congruence is the product over the modes of the absolute cosine between their columns, components are
    matched by linear sum assignment and the matched congruences averaged. A permuted decomposition is
    defined up to one global circular shift of the direction axis of every response map, so with
    ``n_directions`` set the best of the ``n_directions`` global rolls of b's third factor is used; ``None``
    disables that search.

    Parameters
    ----------
    a, b : PermutedCPResult or tuple (A, B, C)
        Factor matrices of shapes (n_units, R), (n_stimuli, R), (n_directions * n_time, R), no zero column.

    Returns
    -------
    float in [0, 1]
    """
    fa, fb = _factor_triplet(a), _factor_triplet(b)
    for ma, mb in zip(fa, fb):
        if ma.shape[0] != mb.shape[0]:
            raise ValueError(f"factor matrices must have the same number of rows; got {ma.shape} and {mb.shape}")
    if fa[0].shape[1] != fb[0].shape[1]:
        raise ValueError(f"factor_match_score compares models of the same rank; got {fa[0].shape[1]} and "
                         f"{fb[0].shape[1]}")
    rolls = [fb[2]]
    if check_int(n_directions, name="n_directions", low=1, optional=True) is not None:
        if fb[2].shape[0] % n_directions:
            raise ValueError(f"the map factor has {fb[2].shape[0]} rows, not a multiple of n_directions={n_directions}")
        maps = fb[2].reshape(-1, n_directions, fb[2].shape[1])  # (time, direction, R)
        rolls = [np.roll(maps, g, axis=1).reshape(fb[2].shape) for g in range(n_directions)]
    return max(float(congruence_coefficient(list(fa), [fb[0], fb[1], Cb])[0]) for Cb in rolls)
