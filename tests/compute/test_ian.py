"""IAN kernel: Gabriel graph against its brute-force definition, valid scales (greedy and LP), pruning that
sets points aside without failing, and the diffusion map of a circle."""

import numpy as np
import pytest
from scipy import sparse

from compute.encoding.diffusion import diffusion_map, hdbscan_clusters
from compute.encoding.ian import gabriel_graph, greedy_scales, ian_kernel, lp_scales, volume_ratios


def gabriel_brute_force(points):
    """(i, j) is an edge when no third point k has d_ik^2 + d_jk^2 <= d_ij^2."""
    n = len(points)
    D2 = ((points[:, None] - points[None]) ** 2).sum(-1)
    edges = []
    for i in range(n):
        for j in range(i + 1, n):
            if not any(D2[i, k] + D2[j, k] <= D2[i, j] for k in range(n) if k not in (i, j)):
                edges.append((i, j))
    return np.array(edges)


def circle(n=200, jitter=0.2, seed=42):
    rng = np.random.default_rng(seed)
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(-jitter, jitter, n) * 2 * np.pi / n
    return theta, np.c_[np.cos(theta), np.sin(theta)]


def graph_data(points):
    edges = gabriel_graph(points)
    lengths = np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1)
    farthest = np.zeros(len(points))
    np.maximum.at(farthest, edges[:, 0], lengths)
    np.maximum.at(farthest, edges[:, 1], lengths)
    return edges, lengths, farthest


# ------------------------------------------------------------------ Gabriel graph
class TestGabriel:
    @pytest.mark.parametrize("dims, method", [(2, "delaunay"), (2, "exact"), (3, "delaunay"), (5, "exact")],
                             ids=["2d-delaunay", "2d-exact", "3d-delaunay", "5d-exact"])
    def test_matches_brute_force(self, rng, dims, method):
        points = rng.standard_normal((60, dims))
        np.testing.assert_array_equal(gabriel_graph(points, method=method), gabriel_brute_force(points))

    def test_clustered_points(self, rng):
        points = np.r_[rng.standard_normal((30, 4)) * 0.1, rng.standard_normal((30, 4)) + 3]
        np.testing.assert_array_equal(gabriel_graph(points), gabriel_brute_force(points))

    @pytest.mark.parametrize("offset", [0.0, 1e-12], ids=["exact", "near"])
    def test_rejects_duplicates(self, offset):
        with pytest.raises(ValueError, match=r"points contain duplicates \(1 rows within 1e-06 .*deduplicate"):
            gabriel_graph(np.array([[0.0, 0.0], [1.0, 0.0], [offset, 0.0], [2.0, 1.0]]))

    def test_rejects_too_few_points(self):
        with pytest.raises(ValueError, match="need at least 3 points; got 2"):
            gabriel_graph(np.zeros((2, 2)) + [[0], [1]])

    def test_bad_method(self, rng):
        with pytest.raises(ValueError, match=r"method must be one of \['auto', 'delaunay', 'exact'\]; got 'kd'"):
            gabriel_graph(rng.random((5, 2)), method="kd")

    def test_delaunay_needs_two_dimensions(self, rng):
        with pytest.raises(ValueError, match="needs points of at least 2 dimensions"):
            gabriel_graph(rng.random((5, 1)), method="delaunay")


# ------------------------------------------------------------------ scales
class TestScales:
    @pytest.mark.parametrize("solver", [greedy_scales, lp_scales], ids=["greedy", "lp"])
    def test_every_edge_constraint_holds(self, rng, solver):
        points = np.r_[rng.standard_normal((80, 2)) * 0.3, rng.standard_normal((80, 2)) + [4, 0]]
        edges, lengths, farthest = graph_data(points)
        sig = solver(edges, lengths, farthest, C=0.7)
        assert np.all(sig[edges[:, 0]] * sig[edges[:, 1]] >= (0.7 * lengths) ** 2 * (1 - 1e-7))
        assert np.all(sig <= farthest * (1 + 1e-7))

    @pytest.mark.parametrize("solver", [greedy_scales, lp_scales], ids=["greedy", "lp"])
    def test_path_by_hand(self, solver):
        # a path with edge lengths 1, 1, 2, 1, 1: each scale is capped by its longest edge, and every edge
        # needs sigma_i sigma_j >= d^2, so the only feasible (hence optimal) scales are the caps
        edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
        lengths = np.array([1.0, 1.0, 2.0, 1.0, 1.0])
        farthest = np.array([1.0, 1.0, 2.0, 2.0, 1.0, 1.0])
        np.testing.assert_allclose(solver(edges, lengths, farthest), farthest, rtol=1e-7)

    def test_lp_is_the_simplex_vertex(self, rng, monkeypatch):
        """The scale LP runs HiGHS' interior point with crossover (5x faster than the dual simplex on
        2000 points); its answer is the same vertex the dual simplex finds, not just the same optimum."""
        from scipy.optimize import linprog

        import compute.encoding.ian as ian

        points = rng.standard_normal((300, 4))
        edges, lengths, farthest = graph_data(points)
        captured = []
        monkeypatch.setattr(ian, "linprog", lambda *args, **kwargs: captured.append((args, kwargs)) or
                            linprog(*args, **kwargs))
        sig = lp_scales(edges, lengths, farthest, C=0.8)
        args, kwargs = captured[0]
        simplex = linprog(*args, **{**kwargs, "method": "highs-ds"})
        assert kwargs["method"] == "highs-ipm"
        np.testing.assert_allclose(sig, simplex.x, rtol=0, atol=1e-9 * farthest.max())

    def test_collinear_points_fall_back_to_the_exact_test(self):
        points = np.c_[np.cumsum([0, 1.0, 1.0, 2.0, 1.0]), np.zeros(5)]
        np.testing.assert_array_equal(gabriel_graph(points), [[0, 1], [1, 2], [2, 3], [3, 4]])
        with pytest.raises(ValueError, match="qhull cannot triangulate these points"):
            gabriel_graph(points, method="delaunay")

    def test_volume_ratio_of_a_lone_edge_by_hand(self):
        D2 = np.array([[0.0, 1.0], [1.0, 0.0]])
        ratios = volume_ratios(D2, np.array([1.0, 1.0]), np.array([1, 1]))
        # mass 1 + e^-1 over max(2, 1) = 2 neighbours, corrected by (sqrt(pi) / 2)^log2(2)
        np.testing.assert_allclose(ratios, (1 + np.exp(-1)) / 2 / (np.sqrt(np.pi) / 2))


# ------------------------------------------------------------------ the iteration
class TestIAN:
    def test_default_is_the_linear_program(self, rng, monkeypatch):
        """v1 defaulted to the greedy pass; v2 (METHODS 5.8) runs the authors' linear program by default."""
        from compute.encoding import ian

        calls = []
        real = ian.lp_scales
        monkeypatch.setattr(ian, "lp_scales", lambda *a, **k: calls.append(1) or real(*a, **k))
        ian_kernel(rng.standard_normal((40, 2)))
        assert calls

    def test_greedy_and_lp_share_most_edges(self, rng):
        points = np.r_[rng.standard_normal((150, 2)) * 0.3, rng.standard_normal((150, 2)) + [4, 0],
                       rng.uniform(-2, 6, (50, 2))]
        greedy, lp = ian_kernel(points, objective="greedy"), ian_kernel(points)
        a, b = set(map(tuple, greedy.edges.tolist())), set(map(tuple, lp.edges.tolist()))
        assert len(a & b) / len(a | b) >= 0.9
        for result in (greedy, lp):
            assert result.converged and 0.5 <= result.C <= 1.0
            e = result.edges
            d2 = ((points[e[:, 0]] - points[e[:, 1]]) ** 2).sum(1)
            assert np.all(result.scales[e[:, 0]] * result.scales[e[:, 1]] >= result.C ** 2 * d2 * (1 - 1e-6))

    def test_median_volume_ratio_is_tuned_to_one(self, rng):
        result = ian_kernel(rng.standard_normal((200, 3)))
        assert abs(np.median(result.volume_ratios) - 1) <= 0.1 or result.C in (0.5, 1.0)

    def test_far_outlier_is_set_aside_without_failing(self, rng):
        points = np.r_[rng.standard_normal((100, 2)) * 0.1, [[5.0, 5.0], [5.2, 5.1], [-6.0, 4.0]]]
        result = ian_kernel(points)
        assert 102 in result.disconnected.tolist()
        assert result.scales[102] == 0 and result.kernel[102].nnz == 0
        kept = result.connected
        K = result.kernel[kept][:, kept]
        assert np.all(np.asarray(K.sum(axis=1)).ravel() > 0)
        assert diffusion_map(K).coords.shape == (kept.sum(), 3)

    def test_kernel_is_symmetric_with_unit_diagonal(self, rng):
        result = ian_kernel(rng.standard_normal((80, 2)))
        K = result.kernel
        assert abs(K - K.T).max() < 1e-12
        np.testing.assert_allclose(K.diagonal(), result.connected.astype(float))

    def test_bad_objective(self, rng):
        with pytest.raises(ValueError, match=r"objective must be one of \['greedy', 'lp'\]; got 'l1'"):
            ian_kernel(rng.random((5, 2)), objective="l1")

    def test_bad_max_prune(self, rng):
        with pytest.raises(ValueError, match=r"max_prune must be a finite number in \(0, 1\]; got 0"):
            ian_kernel(rng.random((5, 2)), max_prune=0)


# ------------------------------------------------------------------ diffusion map
class TestDiffusion:
    def test_circle_maps_to_a_circle(self):
        theta, points = circle()
        dmap = diffusion_map(ian_kernel(points).kernel)
        xy = dmap.coords[:, :2]
        radius = np.linalg.norm(xy, axis=1)
        assert radius.std() / radius.mean() < 0.05
        target = np.c_[np.cos(theta), np.sin(theta)]
        coef, *_ = np.linalg.lstsq(xy, target, rcond=None)
        assert 1 - ((target - xy @ coef) ** 2).sum() / ((target - target.mean(0)) ** 2).sum() > 0.99
        assert dmap.eigenvalues.shape == (10,) and np.all(np.diff(dmap.eigenvalues) <= 1e-12)
        assert dmap.eigenvalues[0] == pytest.approx(dmap.eigenvalues[1], abs=1e-3)   # cos / sin pair

    def test_dense_and_sparse_eigensolvers_agree(self):
        _, points = circle(620, seed=1)   # above the dense-solver size
        K = ian_kernel(points).kernel
        sparse_map = diffusion_map(K, n_eigenvalues=4)
        dense = np.linalg.eigvalsh(_symmetric_operator(K))[::-1][1:5]
        np.testing.assert_allclose(sparse_map.eigenvalues, dense, atol=1e-8)

    def test_two_blobs_are_two_hdbscan_clusters(self, rng):
        points = np.r_[rng.standard_normal((60, 3)) * 0.2, rng.standard_normal((60, 3)) * 0.2 + 5]
        labels = hdbscan_clusters(points)
        assert len(set(labels[:60]) - {-1}) == 1 and len(set(labels[60:]) - {-1}) == 1
        assert labels[0] != labels[60]

    def test_rejects_asymmetric_kernel(self):
        with pytest.raises(ValueError, match="kernel must be symmetric"):
            diffusion_map(np.array([[1.0, 0.5], [0.0, 1.0]]))

    def test_rejects_empty_rows(self):
        K = sparse.eye(6, format="csr")
        K[0, 0] = 0
        with pytest.raises(ValueError, match="drop set-aside points first"):
            diffusion_map(K)

    def test_too_few_points(self):
        with pytest.raises(ValueError, match="need more than 11 points; got 5"):
            diffusion_map(np.eye(5))

    def test_bad_min_cluster_size(self, rng):
        with pytest.raises(ValueError, match="min_cluster_size must be an integer >= 2; got 1"):
            hdbscan_clusters(rng.random((5, 2)), min_cluster_size=1)


def _symmetric_operator(K):
    """Brute force of the alpha = 1 normalisation, dense."""
    K = K.toarray()
    q = K.sum(1)
    Ka = K / np.outer(q, q)
    d = Ka.sum(1)
    return Ka / np.sqrt(np.outer(d, d))
