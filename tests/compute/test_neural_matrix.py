"""Neural matrix: NNLS refit with planted coefficients (against the full-size brute force), the factor-only
formula by hand, PCA reduction and duplicate removal."""

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from compute.encoding.neural_matrix import (deduplicate, factor_coordinates, neural_matrix, reduce_pca)
from compute.encoding.permuted_cp import PermutedCPResult
from compute.encoding.tensor import flatten_maps, unflatten_maps


def model(rng, n=25, s=4, n_time=6, rank=3):
    """A PermutedCPResult with direction-tuned unit-norm maps."""
    d = np.arange(8)
    C = np.stack([flatten_maps(np.outer(np.exp(2 * np.cos(2 * np.pi * (d - p) / 8)), rng.random(n_time) + 0.2))
                  for p in (0, 3, 5)[:rank]], axis=1)
    A, B = rng.random((n, rank)), rng.random((s, rank)) + 0.1
    unit = [M / np.linalg.norm(M, axis=0) for M in (A, B, C)]
    lambdas = np.array([3.0, 2.0, 1.0])[:rank]
    return PermutedCPResult(lambdas=lambdas, A=unit[0], B=unit[1], C=unit[2], shifts=np.zeros((n, s), int),
                            fit=1.0, error=0.0, restart_errors=np.zeros(1), n_iter=1)


def rolled(flat, shifts):
    maps = unflatten_maps(flat)
    return flatten_maps(np.stack([[np.roll(maps[n, s], shifts[n, s], axis=0) for s in range(maps.shape[1])]
                                  for n in range(maps.shape[0])]))


class TestFactorCoordinates:
    def test_by_hand(self):
        lambdas = np.array([4.0, 1.0])
        A = np.array([[1.0, 0.0], [0.25, 1.0]])
        B = np.array([[0.5, 0.2], [0.25, 0.8]])
        expected = np.sqrt([[4 * 0.5 * 1.0, 0.0], [4 * 0.5 * 0.25, 1 * 0.8 * 1.0]])
        np.testing.assert_allclose(factor_coordinates(lambdas, A, B), expected)

    def test_rank_mismatch(self):
        with pytest.raises(ValueError, match="must share the rank"):
            factor_coordinates(np.ones(2), np.ones((3, 2)), np.ones((2, 3)))

    def test_negative_factors(self):
        with pytest.raises(ValueError, match="non-negative lambdas and factors"):
            factor_coordinates(np.ones(1), -np.ones((3, 1)), np.ones((2, 1)))


class TestNNLS:
    def test_planted_coefficients_and_shifts_are_recovered(self, rng):
        result = model(rng)
        aligned = result.to_tensor()
        true_shifts = rng.integers(0, 8, aligned.shape[:2])
        data = rolled(aligned, -true_shifts)         # np.roll(data, true_shift) is the model
        nm = neural_matrix(data, result)
        planted = result.lambdas * result.B.max(0) * result.A
        np.testing.assert_allclose(nm.coefficients, planted, atol=1e-8)
        np.testing.assert_allclose(nm.coords, factor_coordinates(result.lambdas, result.A, result.B), atol=1e-4)
        np.testing.assert_array_equal(nm.shifts, true_shifts)
        assert np.nanmax(nm.relative_residual) < 1e-4   # normal equations: ~sqrt(eps) floor

    def test_nonsignificant_maps_share_the_best_rotation(self, rng):
        result = model(rng)
        aligned = result.to_tensor()
        significant = np.ones(aligned.shape[:2], bool)
        significant[:, 1] = significant[:, 3] = False
        common = rng.integers(0, 8, aligned.shape[0])
        shifts = np.zeros(aligned.shape[:2], int)
        shifts[:, 1] = shifts[:, 3] = common
        nm = neural_matrix(rolled(aligned, -shifts), result, significant=significant)
        np.testing.assert_array_equal(nm.shifts[:, 1], common)
        np.testing.assert_array_equal(nm.shifts[:, 3], common)
        np.testing.assert_allclose(nm.coefficients, result.lambdas * result.B.max(0) * result.A, atol=1e-8)

    def test_matches_full_size_nnls(self, rng):
        """Brute force: the authors' lsq_linear on the (6 * 8T) x R basis, per unit."""
        result = model(rng, n=6)
        data = rng.random(result.to_tensor().shape)
        nm = neural_matrix(data, result)
        B_tilde = result.B / result.B.max(0)
        basis = np.stack([np.kron(B_tilde[:, r], result.C[:, r]) for r in range(result.rank)], axis=1)
        for unit in range(6):
            y = rolled(data[unit:unit + 1], nm.shifts[unit:unit + 1])[0].ravel()
            expected = lsq_linear(basis, y, bounds=(0, np.inf), tol=1e-12).x
            np.testing.assert_allclose(nm.coefficients[unit], expected, atol=1e-7)

    def test_shape_mismatch(self, rng):
        result = model(rng)
        with pytest.raises(ValueError, match=r"data must have shape \(25, 4, 48\)"):
            neural_matrix(np.ones((25, 4, 40)), result)

    def test_needs_a_result(self):
        with pytest.raises(TypeError, match="result must be a PermutedCPResult; got tuple"):
            neural_matrix(np.ones((2, 1, 8)), (np.ones((2, 1)),) * 3)

    def test_significant_shape(self, rng):
        result = model(rng)
        with pytest.raises(ValueError, match=r"significant must have shape \(25, 4\)"):
            neural_matrix(result.to_tensor(), result, significant=np.ones((25, 3), bool))


class TestReduction:
    def test_deduplicate_keeps_first_occurrences_and_maps_back(self):
        pts = np.array([[1.0, 2.0], [0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [0.0, 0.0]])
        unique, rep, inv = deduplicate(pts)
        np.testing.assert_array_equal(rep, [0, 1, 3])
        np.testing.assert_array_equal(inv, [0, 1, 0, 2, 1])
        np.testing.assert_array_equal(unique[inv], pts)

    def test_deduplicate_merges_rows_equal_to_numerical_precision(self, rng):
        pts = rng.standard_normal((50, 4))
        pts[7] = pts[2] + 1e-12  # the same unit up to float rounding
        pts[9] = pts[8] + 1e-3  # a close but distinct unit
        unique, rep, inv = deduplicate(pts)
        assert unique.shape[0] == 49 and inv[7] == inv[2] and inv[9] != inv[8] and 7 not in rep
        assert deduplicate(pts, tol=0.0)[0].shape[0] == 50
        with pytest.raises(ValueError, match="tol must be a finite number >= 0; got -1"):
            deduplicate(pts, tol=-1)

    def test_ian_runs_on_near_duplicate_units(self, rng):
        # float rounding made two copies of a unit differ in the last bits: the Gram-formula distance between
        # them is 0 and a Gabriel graph gave one of them no neighbour (the IAN kernel failed on FNN Rec)
        from compute.encoding.ian import ian_kernel

        X = rng.standard_normal((120, 3))
        X[40] = X[12] * (1 + 1e-15)
        red = reduce_pca(X, variance_threshold=0.99)
        assert red.points.shape[0] == 119 and red.inverse[40] == red.inverse[12]
        assert ian_kernel(red.points).connected.any()

    def test_pca_keeps_fewest_components_above_80_percent(self, rng):
        # planted variances 6, 3, 1 (60 %, 30 %, 10 %): two components explain 90 % > 80 %
        X = rng.standard_normal((4000, 3)) * np.sqrt([6.0, 3.0, 1.0])
        red = reduce_pca(X)
        assert red.n_pcs == 2 and red.points.shape == (4000, 2)
        np.testing.assert_allclose(red.explained_variance_ratio, [0.6, 0.3, 0.1], atol=0.03)

    def test_pca_drops_duplicates(self, rng):
        X = rng.random((30, 4))
        X[10] = X[3]
        X[20] = X[3]
        red = reduce_pca(X)
        assert red.points.shape[0] == 28 and red.inverse[10] == red.inverse[20] == red.inverse[3]
        assert set(red.representative.tolist()).isdisjoint({10, 20})

    def test_bad_threshold(self):
        with pytest.raises(ValueError, match=r"variance_threshold must be a finite number in \(0, 1\); got 1.5"):
            reduce_pca(np.ones((3, 2)), variance_threshold=1.5)
