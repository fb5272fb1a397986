"""Permuted CP: planted recovery, the objective against brute force and finite differences, diagnostics."""

import importlib

import numpy as np
import pytest

from compute.encoding.permuted_cp import (effective_dimensionality, factor_match_score, permuted_cp, rank_diagnostics,
                                          resolve_device)
from compute.encoding.tensor import flatten_maps, unflatten_maps


# the module itself (the package re-exports a function of the same name)
pcp = importlib.import_module("compute.encoding.permuted_cp")


def roll_blocks(X, shifts):
    """Brute force: np.roll every (unit, stimulus) map by its own shift along directions."""
    maps = unflatten_maps(X)
    out = np.empty_like(maps)
    for n in range(maps.shape[0]):
        for s in range(maps.shape[1]):
            out[n, s] = np.roll(maps[n, s], shifts[n, s], axis=0)
    return flatten_maps(out)


def planted(rng, n=40, s=4, n_time=10, rank=3, density=0.6):
    """Tensor from known non-negative factors (direction-tuned maps) with a known shift per block:
    np.roll(X[n, s], shifts[n, s]) is the aligned model."""
    A = rng.random((n, rank)) * (rng.random((n, rank)) < density)
    B = rng.random((s, rank)) + 0.2
    d = np.arange(8)
    C = np.stack([flatten_maps(np.outer(np.exp(2.0 * np.cos(2 * np.pi * (d - rng.integers(8)) / 8)),
                                        np.exp(-0.5 * ((np.arange(n_time) - rng.uniform(2, n_time - 2)) / 1.5) ** 2)))
                  for _ in range(rank)], axis=1)
    shifts = rng.integers(0, 8, (n, s))
    X = roll_blocks(np.einsum("nr,sr,lr->nsl", A, B, C), -shifts)
    return X, (A, B, C), shifts


def authors_objective(X, theta, rank):
    """Brute force of the authors' perm_tt_cp_fg: 1/2 ||P(X) - Xhat||^2 of the raw X and its gradient, the
    shift of every block the best of its 8 rolls; theta = [vec(A); vec(B); vec(C)] row-major."""
    n, s, length = X.shape
    A = theta[:n * rank].reshape(n, rank)
    B = theta[n * rank:(n + s) * rank].reshape(s, rank)
    C = theta[(n + s) * rank:].reshape(length, rank)
    xhat = np.einsum("nr,sr,lr->nsl", A, B, C)
    rolls = np.stack([roll_blocks(X, np.full((n, s), k)) for k in range(8)])        # (8, N, S, L)
    best = np.einsum("knsl,nsl->kns", rolls, xhat).argmax(axis=0)
    resid = np.take_along_axis(rolls, best[None, :, :, None], axis=0)[0] - xhat
    grad = [-np.einsum("nsl,sr,lr->nr", resid, B, C), -np.einsum("nsl,nr,lr->sr", resid, A, C),
            -np.einsum("nsl,nr,sr->lr", resid, A, B)]
    return 0.5 * float((resid ** 2).sum()), np.concatenate([g.ravel() for g in grad])


def informative(X_aligned):
    """Blocks whose map changes by > 10 % under every non-trivial roll (so their shift is defined)."""
    maps = unflatten_maps(X_aligned)
    norm = (maps ** 2).sum((2, 3))
    ok = norm > 1e-6 * norm.max()
    for k in range(1, 8):
        ok &= ((np.roll(maps, k, axis=2) - maps) ** 2).sum((2, 3)) > 0.01 * norm
    return ok


# ------------------------------------------------------------------ the objective
class TestObjective:
    def make(self, rng, dtype=None):
        import torch

        X, _, _ = planted(rng, n=7, s=3, n_time=5, rank=2)
        obj = pcp._Objective(X, 2, 8, torch.device("cpu"), dtype=torch.float64 if dtype is None else dtype)
        theta = rng.random(obj.shape[0] * 2 + obj.shape[1] * 2 + obj.shape[2] * 2) * 0.5
        return X, obj, theta

    def test_shifts_and_value_match_brute_force(self, rng):
        X, obj, theta = self.make(rng)
        A, B, C = obj.factors(theta)
        xhat = np.einsum("nr,sr,lr->nsl", A, B, C)
        Xs = X / np.linalg.norm(X)
        # brute force: every block tries its 8 rolls
        best = np.array([[max(range(8), key=lambda k: np.dot(xhat[n, s], roll_blocks(Xs[n:n + 1, s:s + 1],
                                                                                      np.full((1, 1), k))[0, 0]))
                          for s in range(X.shape[1])] for n in range(X.shape[0])])
        shifts, resid = obj.evaluate(A, B, C)
        np.testing.assert_array_equal(shifts, best)
        expected = ((roll_blocks(Xs, best) - xhat) ** 2).sum()
        assert resid == pytest.approx(expected, rel=1e-10)
        f, _ = obj(theta)
        assert f == pytest.approx(0.5 * expected, rel=1e-10)

    def test_gradient_matches_finite_differences(self, rng):
        _, obj, theta = self.make(rng)
        f0, grad = obj(theta)
        idx = rng.choice(theta.size, 40, replace=False)
        h = 1e-6
        numeric = []
        for i in idx:
            step = np.zeros_like(theta)
            step[i] = h
            numeric.append((obj(theta + step)[0] - obj(theta - step)[0]) / (2 * h))
        np.testing.assert_allclose(grad[idx], numeric, rtol=1e-5, atol=1e-9 * abs(f0))

    def test_float32_kernel_agrees_with_float64(self, rng):
        import torch

        _, obj64, theta = self.make(rng)
        obj32 = pcp._Objective(obj64.X4.numpy().reshape(obj64.shape), 2, 8, torch.device("cpu"), dtype=torch.float32)
        f64, g64 = obj64(theta)
        f32, g32 = obj32(theta)
        assert f32 == pytest.approx(f64, rel=1e-5)
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5 * np.abs(g64).max())


# ------------------------------------------------------------------ recovery
class TestRecovery:
    @pytest.mark.slow
    def test_recovers_planted_factors_and_shifts(self):
        rng = np.random.default_rng(1)
        X, true, shifts = planted(rng)
        result = permuted_cp(X, 3, n_restarts=4, random_state=1)
        assert result.fit > 0.999
        assert factor_match_score(result, true) >= 0.95
        ok = informative(roll_blocks(X, shifts))
        diff = (result.shifts - shifts)[ok] % 8          # one global roll is not identifiable
        assert ok.mean() > 0.8 and np.mean(diff == np.bincount(diff).argmax()) >= 0.95

    @pytest.mark.slow
    def test_stops_where_the_authors_criterion_does(self, monkeypatch):
        """v1 handed L-BFGS-B the objective divided by ||X||^2 in normalised variables (float32), so pgtol
        1e-4 stopped ||X||^(5/3) times earlier than the authors' (their objective is 1/2 ||P(X) - Xhat||^2
        of the raw tensor, their start unit-norm columns in raw units, MATLAB doubles). Now L-BFGS-B sees
        exactly the authors' function (value, gradient, start), so their pgtol / factr tests apply to it;
        a planted tensor at a large scale is still recovered (known factors and shifts)."""
        rng = np.random.default_rng(1)
        X, true, shifts = planted(rng)
        clean = X * 40.0                                # ||X|| ~ 300: the two criteria differ ~1e4-fold
        # a little noise, so the optimum has f > 0 (at an exact fit f stalls at rounding and factr stops)
        X = np.maximum(clean + 0.01 * clean.std() * rng.standard_normal(X.shape), 0.0)
        runs = []
        real = pcp.minimize

        def spy(fun, x0, **kwargs):
            res = real(fun, x0, **kwargs)
            runs.append((fun, x0, res))
            return res

        monkeypatch.setattr(pcp, "minimize", spy)
        result = permuted_cp(X, 3, n_restarts=4, random_state=1)
        assert result.fit > 0.99 and factor_match_score(result, true) >= 0.95
        ok = informative(roll_blocks(clean, shifts))
        diff = (result.shifts - shifts)[ok] % 8
        assert np.mean(diff == np.bincount(diff).argmax()) >= 0.95
        scale = (X ** 2).sum()
        for fun, x0, res in runs:
            for x in (x0, res.x):    # the start, and the optimum (f ~ 0 there: compare on the data's scale)
                f, g = authors_objective(X, x, 3)
                f_seen, g_seen = fun(x)
                assert f_seen == pytest.approx(f, rel=1e-9, abs=1e-12 * scale)
                np.testing.assert_allclose(g_seen, g, rtol=1e-6, atol=1e-12 * scale)
            # the start is the authors' (unit-norm columns of the raw problem's factors)
            np.testing.assert_allclose(np.linalg.norm(x0[:X.shape[0] * 3].reshape(-1, 3), axis=0), 1.0)
            # their tests ran on this function: a pgtol stop means the raw projected gradient <= 1e-4, and
            # every run went far past the point where the normalised criterion (v1) stops
            projected = np.abs(np.maximum(res.x - g, 0.0) - res.x).max()    # lower bound 0, as L-BFGS-B
            assert projected <= 1e-4 or "PROJECTED GRADIENT" not in res.message
            assert projected / np.sqrt(scale) ** (5 / 3) < 1e-5

    def test_result_layout(self, rng):
        X, _, _ = planted(rng, n=12, s=3, rank=2)
        result = permuted_cp(X, 2, n_restarts=2, random_state=0, max_iter=30)
        assert result.A.shape == (12, 2) and result.B.shape == (3, 2) and result.C.shape == (80, 2)
        assert np.all(np.diff(result.lambdas) <= 0) and result.shifts.shape == (12, 3)
        for M in (result.A, result.B, result.C):
            np.testing.assert_allclose(np.linalg.norm(M, axis=0), 1.0)
            assert M.min() >= 0
        assert result.restart_errors.shape == (2,) and result.error == result.restart_errors.min()
        assert result.fit == pytest.approx(1 - result.error ** 2)
        # the reconstruction of the result is the model of the un-normalised data
        resid = ((roll_blocks(X, result.shifts) - result.to_tensor()) ** 2).sum() / (X ** 2).sum()
        assert resid == pytest.approx(1 - result.fit, rel=1e-4)

    def test_result_is_a_tensorly_cp_tensor_plus_shifts(self, rng):
        from tensorly.cp_tensor import CPTensor, cp_to_tensor

        X, _, _ = planted(rng, n=12, s=3, rank=2)
        result = permuted_cp(X, 2, n_restarts=1, random_state=0, max_iter=30)
        weights, factors = result.cp_tensor
        assert isinstance(result.cp_tensor, CPTensor) and result.shifts.shape == (12, 3)
        np.testing.assert_array_equal(weights, result.lambdas)
        np.testing.assert_array_equal(factors[2], result.C)
        np.testing.assert_allclose(cp_to_tensor(result.cp_tensor),
                                   np.einsum("r,nr,sr,lr->nsl", result.lambdas, result.A, result.B, result.C))

    def test_same_seed_same_result(self, rng):
        X, _, _ = planted(rng, n=10, s=2, rank=2)
        a = permuted_cp(X, 2, n_restarts=2, random_state=3, max_iter=20)
        b = permuted_cp(X, 2, n_restarts=2, random_state=3, max_iter=20)
        np.testing.assert_array_equal(a.A, b.A)
        np.testing.assert_array_equal(a.shifts, b.shifts)


    def test_result_does_not_depend_on_n_jobs(self, rng):
        X, _, _ = planted(rng, n=12, s=3, rank=2)
        one = permuted_cp(X, 2, n_restarts=4, random_state=5, max_iter=40, n_jobs=1)
        two = permuted_cp(X, 2, n_restarts=4, random_state=5, max_iter=40, n_jobs=2)
        np.testing.assert_array_equal(one.restart_errors, two.restart_errors)
        np.testing.assert_array_equal(one.A, two.A)
        assert one.n_evaluations.shape == (4,) and np.all(one.n_evaluations >= 1)

    def test_authors_lbfgsb_settings_and_50_restarts(self, rng, monkeypatch):
        """v1 ran 20 restarts with ftol 1e-7 and no gradient test (gtol 0); v2 uses the authors' 50
        restarts and L-BFGS-B settings: factr 1e-5 (scipy ftol = factr * eps), pgtol 1e-4, 1000 iterations,
        and the defaults of their lbfgsb wrapper: m = 5 correction pairs (v2 before: scipy's 10), 5000
        evaluations."""
        import inspect

        seen = []
        real = pcp.minimize

        def spy(*args, options, **kwargs):
            seen.append(options)
            return real(*args, options={**options, "maxiter": 2}, **kwargs)

        monkeypatch.setattr(pcp, "minimize", spy)
        X, _, _ = planted(rng, n=8, s=2, rank=2)
        result = permuted_cp(X, 2, random_state=0)
        assert len(seen) == 50 and result.restart_errors.shape == (50,)
        assert seen[0]["ftol"] == 1e-5 * np.finfo(float).eps and seen[0]["gtol"] == 1e-4
        assert seen[0]["maxiter"] == 1000 and seen[0]["maxcor"] == 5 and seen[0]["maxfun"] == 5000
        assert inspect.signature(rank_diagnostics).parameters["n_restarts"].default == 50

    def test_cancel_stops_inside_a_restart(self, rng):
        from compute.jobs import Cancelled, JobControl

        X, _, _ = planted(rng, n=10, s=2, rank=2)
        polls = []
        control = JobControl(cancelled=lambda: polls.append(1) or len(polls) > 3)
        with pytest.raises(Cancelled):
            permuted_cp(X, 2, n_restarts=1, control=control)
        assert len(polls) == 4       # once before the restart, then once per L-BFGS-B iteration


# ------------------------------------------------------------------ diagnostics
class TestDiagnostics:
    def test_effective_dimensionality_of_disjoint_blocks_is_r_minus_1(self):
        A = np.kron(np.eye(5), np.ones((4, 1)))       # 20 units, 5 components, disjoint support
        assert effective_dimensionality(A) == pytest.approx(4.0)

    def test_effective_dimensionality_normalises_columns_first(self):
        """v1 took A as given, so a restart's unnormalised factors (column norms = component weights)
        changed the answer; v2 scales each column to unit norm: disjoint blocks give R - 1 at any scale."""
        A = np.kron(np.eye(5), np.ones((4, 1))) * np.array([1.0, 10.0, 100.0, 3.0, 0.5])
        assert effective_dimensionality(A) == pytest.approx(4.0)

    def test_effective_dimensionality_of_one_pattern_is_one(self, rng):
        A = np.outer(rng.random(30), [1.0, 2.0, 3.0])
        assert effective_dimensionality(A) == pytest.approx(1.0)

    def test_factor_match_is_blind_to_order_and_global_roll(self, rng):
        A, B, C = rng.random((20, 3)), rng.random((4, 3)), rng.random((40, 3))
        perm = [2, 0, 1]
        rolled = flatten_maps(np.roll(unflatten_maps(C.T), 3, axis=1)).T
        assert factor_match_score((A, B, C), (A[:, perm] * 2, B[:, perm], rolled[:, perm])) == pytest.approx(1.0)
        assert factor_match_score((A, B, C), (A, B, rolled), n_directions=None) < 0.99
        assert factor_match_score((A, B, C), (rng.random((20, 3)), rng.random((4, 3)), rng.random((40, 3)))) < 0.9

    def test_factor_match_is_tensorlys_congruence(self, rng):
        from tensorly.metrics.factors import congruence_coefficient

        a = [rng.random((20, 3)), rng.random((4, 3)), rng.random((40, 3))]
        b = [rng.random((20, 3)), rng.random((4, 3)), rng.random((40, 3))]
        assert factor_match_score(a, b, n_directions=None) == pytest.approx(congruence_coefficient(a, b)[0])
        with pytest.raises(ValueError, match="compares models of the same rank; got 3 and 2"):
            factor_match_score(a, [m[:, :2] for m in b])

    @pytest.mark.slow
    def test_rank_diagnostics(self, rng):
        X, _, _ = planted(rng, n=20, s=3, rank=3)
        diag = rank_diagnostics(X, [2, 3], n_restarts=2, random_state=0, max_iter=200)
        assert diag.errors.shape == diag.effective_dims.shape == (2, 2)
        assert diag.errors[1].min() < diag.errors[0].min()
        summary = diag.summary()
        assert summary["ed_mean"].shape == (2,) and np.all(summary["ed_mean"] >= 1)
        # tensorly's non-negative CP without shifts: a worse fit of a tensor whose blocks are shifted
        assert diag.baseline_errors.shape == (2,) and np.all(diag.baseline_errors > diag.errors.min(axis=1))

    def test_hals_baseline_is_tensorlys_fit(self, rng):
        from tensorly.cp_tensor import cp_to_tensor
        from tensorly.decomposition import non_negative_parafac_hals

        X, _, _ = planted(rng, n=10, s=2, rank=2)
        expected = np.linalg.norm(X - cp_to_tensor(non_negative_parafac_hals(X, 2, init="svd"))) / np.linalg.norm(X)
        assert pcp._hals_error(X, 2) == pytest.approx(expected, rel=1e-12)
        diag = rank_diagnostics(X, [2], n_restarts=1, max_iter=5, random_state=0, baseline=False)
        assert np.isnan(diag.baseline_errors).all()


# ------------------------------------------------------------------ errors
class TestErrors:
    def test_rank_too_large(self):
        with pytest.raises(ValueError, match="rank=5 exceeds n_units=3; reduce rank"):
            permuted_cp(np.ones((3, 2, 16)), 5)

    def test_bad_rank(self):
        with pytest.raises(ValueError, match="rank must be an integer >= 1; got 0"):
            permuted_cp(np.ones((3, 2, 16)), 0)

    def test_negative_tensor(self):
        with pytest.raises(ValueError, match="X must be non-negative"):
            permuted_cp(-np.ones((3, 2, 16)), 1)

    def test_zero_tensor(self):
        with pytest.raises(ValueError, match="X is all zeros"):
            permuted_cp(np.zeros((3, 2, 16)), 1)

    def test_last_axis_not_multiple(self):
        with pytest.raises(ValueError, match=r"last axis of X \(15\) must be n_directions \* n_time"):
            permuted_cp(np.ones((3, 2, 15)), 1)

    def test_wrong_ndim(self):
        with pytest.raises(ValueError, match="X must be 3-D"):
            permuted_cp(np.ones((3, 16)), 1)

    def test_bad_restarts(self):
        with pytest.raises(ValueError, match="n_restarts must be an integer >= 1; got 0"):
            permuted_cp(np.ones((3, 2, 16)), 1, n_restarts=0)

    def test_bad_tolerances(self):
        with pytest.raises(ValueError, match="pgtol must be a finite number > 0; got 0"):
            permuted_cp(np.ones((3, 2, 16)), 1, pgtol=0)
        with pytest.raises(ValueError, match="factr must be a finite number > 0; got -1"):
            permuted_cp(np.ones((3, 2, 16)), 1, factr=-1)

    def test_bad_n_jobs(self):
        with pytest.raises(ValueError, match="n_jobs must be an integer >= 1 or None"):
            permuted_cp(np.ones((3, 2, 16)), 1, n_jobs=0)

    def test_bad_device(self):
        with pytest.raises(ValueError, match=r"device must be one of \['auto', 'cpu', 'cuda'\]; got 'tpu'"):
            resolve_device("tpu")

    def test_missing_cuda(self):
        import torch

        if torch.cuda.is_available():
            assert resolve_device("cuda").type == "cuda"
        else:
            with pytest.raises(ValueError, match="no CUDA device is available"):
                resolve_device("cuda")

    def test_effective_dimensionality_needs_rank_2(self):
        with pytest.raises(ValueError, match="needs rank >= 2"):
            effective_dimensionality(np.ones((4, 1)))

    def test_bad_ranks(self):
        with pytest.raises(ValueError, match="ranks must be a non-empty 1-D sequence of ints >= 2"):
            rank_diagnostics(np.ones((3, 2, 16)), [1, 2])

    def test_factor_match_types_and_shapes(self):
        with pytest.raises(TypeError, match="expected a PermutedCPResult or a tuple"):
            factor_match_score(np.ones(3), (np.ones((2, 1)),) * 3)
        with pytest.raises(ValueError, match="same number of rows"):
            factor_match_score((np.ones((2, 1)), np.ones((2, 1)), np.ones((8, 1))),
                               (np.ones((3, 1)), np.ones((2, 1)), np.ones((8, 1))))
        with pytest.raises(ValueError, match="not a multiple of n_directions=8"):
            factor_match_score((np.ones((2, 1)), np.ones((2, 1)), np.ones((12, 1))),
                               (np.ones((2, 1)), np.ones((2, 1)), np.ones((12, 1))))
