"""Tubularity (METHODS.md section 6): planted geometry, invariances, brute-force references, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from compute.analysis.tubularity import (_group_quantiles, compare_groups, response_curves, sensitivity_grid,
                                         tubularity, tubularity_of_responses)
from compute.bio.datasets import BIO_STIMULI
from compute.jobs import Cancelled, JobControl
from compute.responses import ResponseSet
from compute.stimuli import resolve

ALL_CLASSES = ("grat_W12", "grat_W1", "grat_W2", "neg1dotflow_D1_bg", "neg3dotflow_D1_bg", "neg1dotflow_D2_bg",
               "neg3dotflow_D2_bg", "pos1dotflow_D1_bg", "pos3dotflow_D1_bg", "pos1dotflow_D2_bg",
               "pos3dotflow_D2_bg")
FAST = {"M": 40, "n_bins": 30}  # coarser resampling keeps the bootstrap tests quick


def _smooth_bundle(rng, radius: float, *, n_curves: int = 8, n_time: int = 60, dims: int = 5) -> np.ndarray:
    """Noisy copies of one smooth curve: base(t) + radius * smooth offset; shape (n_curves, n_time, dims)."""
    t = np.linspace(0, 1, n_time)[:, None]
    base = np.concatenate([np.cos(2 * np.pi * t * (k + 1) / 2) * (3 + k) for k in range(dims)], axis=1)
    phases = rng.uniform(0, 2 * np.pi, (n_curves, 1, dims))
    offsets = np.sin(2 * np.pi * t[None] + phases) + 0.5 * np.cos(6 * np.pi * t[None] + 2 * phases)
    return base[None] + radius * offsets


def _two_bundles(rng) -> tuple[np.ndarray, np.ndarray]:
    curves = np.concatenate([_smooth_bundle(rng, 0.2), _smooth_bundle(rng, 0.5)[..., ::-1]])
    return curves, np.repeat([0, 1], 8)


def _unit_tangents(points: np.ndarray) -> np.ndarray:
    """Central differences over u = linspace(0, 1, M), normalised: (n, M, D) -> (n, M, D)."""
    tan = np.gradient(points, np.linspace(0, 1, points.shape[1]), axis=1)
    return tan / np.linalg.norm(tan, axis=2, keepdims=True)


def _eps_by_definition(points: np.ndarray, rule: str) -> float:
    """eps of one bundle (m, M, D) by a direct loop over METHODS 6.4.

    "authors": sort every point's distances to all points of the bundle, skip rank 0 (the point itself),
    take the first of ranks 1..9 on another curve; drop points without one; median (1.0 if none).
    "exact": median over all points of the distance to the nearest point of another curve."""
    m, M, _ = points.shape
    flat, owner = points.reshape(m * M, -1), np.repeat(np.arange(m), M)
    found = []
    for i in range(m * M):
        d = np.linalg.norm(flat - flat[i], axis=1)
        if rule == "exact":
            found.append(d[owner != owner[i]].min())
            continue
        for j in np.argsort(d, kind="stable")[1:10]:
            if owner[j] != owner[i]:
                found.append(d[j])
                break
    return float(np.median(found)) if found else 1.0


def _crossing_by_definition(points: np.ndarray, tan: np.ndarray, eps: float, *, strict: bool = False) -> float:
    """X of METHODS 6.6 by a loop over pairs of points on different curves with d <= 3 eps (d < 3 eps if
    ``strict``, v1's rule): 2 / (m (m - 1)) * sum exp(-d^2 / (2 eps^2)) (1 - (t_i . t_j)^2) / M^2."""
    m, M, _ = points.shape
    total = 0.0
    for c in range(m):
        for o in range(c + 1, m):
            for i in range(M):
                for j in range(M):
                    d = np.linalg.norm(points[c, i] - points[o, j])
                    if d < 3 * eps or (not strict and d == 3 * eps):
                        total += np.exp(-d ** 2 / (2 * eps ** 2)) * (1 - (tan[c, i] @ tan[o, j]) ** 2) / M ** 2
    return 2 / (m * (m - 1)) * total


# --------------------------------------------------------------------------------------- eps rule (v2)
class TestEpsRule:
    """METHODS 6.4 v2. v1 used the exact rule only: eps = median over ALL points of the distance to the
    nearest point of another curve. v2's default ("authors") looks for that point only among each point's 9
    nearest neighbours in the bundle and drops points without one; "exact" keeps v1's rule."""

    def test_points_without_other_curve_neighbours_are_dropped(self):
        # A dense straight curve and a V that touches it in the middle: near the ends every one of a point's
        # 9 nearest neighbours lies on its own curve, so those points are dropped.
        rng = np.random.default_rng(7)
        x = np.linspace(-1, 1, 50)
        line = np.stack([x, np.zeros(50), np.zeros(50)], axis=1)
        vee = np.stack([x, 0.05 + np.abs(x), np.zeros(50)], axis=1)
        curves = np.stack([line, vee]) + 1e-3 * rng.normal(size=(2, 50, 3))  # no ties in the distances
        M = 60
        authors = tubularity(curves, [0, 0], M=M, n_bins=30)
        exact = tubularity(curves, [0, 0], M=M, n_bins=30, eps_rule="exact")
        pts = authors.points
        assert authors.eps_rule == "authors" and exact.eps_rule == "exact"
        assert authors.eps[0] == pytest.approx(_eps_by_definition(pts, "authors"), rel=1e-12)
        assert exact.eps[0] == pytest.approx(_eps_by_definition(pts, "exact"), rel=1e-12)
        assert authors.eps[0] < 0.5 * exact.eps[0]
        tan = _unit_tangents(pts)
        assert authors.s_cross[0] * authors.length[0] == pytest.approx(
            _crossing_by_definition(pts, tan, authors.eps[0]), rel=1e-10)
        assert authors.s_cross[0] != pytest.approx(exact.s_cross[0], rel=0.1)
        np.testing.assert_array_equal(authors.s_tight, exact.s_tight)  # S_tight does not use eps

    def test_all_points_dropped_gives_one(self):
        s = np.linspace(-1, 1, 40)
        far = np.stack([np.stack([s, np.full(40, 5.0 * k), np.zeros(40)], axis=1) for k in range(2)])
        assert tubularity(far, [0, 0], M=60, n_bins=50).eps[0] == 1.0
        assert tubularity(far, [0, 0], M=60, n_bins=50, eps_rule="exact").eps[0] == pytest.approx(5.0)

    def test_bootstrap_rule_is_passed_on(self, rng):
        rs = _response_set(rng, spread=0.3)
        kwargs = dict(n_boot=2, n_components=4, **FAST)
        authors = tubularity_of_responses(rs, **kwargs)
        exact = tubularity_of_responses(rs, eps_rule="exact", **kwargs)
        assert authors.eps_rule == "authors" and exact.eps_rule == "exact"
        np.testing.assert_array_equal(authors.s_tight, exact.s_tight)
        assert not np.allclose(authors.s_cross, exact.s_cross)
        grid = sensitivity_grid(rs, qs=(0.9,), smoothings=(2.0,), eps_rule="exact", **kwargs)
        np.testing.assert_allclose(grid.s_cross[:, 0], exact.s_cross, rtol=1e-12)

    def test_unknown_rule(self, rng):
        curves, labels = _two_bundles(rng)
        with pytest.raises(ValueError, match=r"eps_rule must be one of \['authors', 'exact'\]; got 'median'"):
            tubularity(curves, labels, eps_rule="median")


# --------------------------------------------------------------------------------------- planted geometry
class TestPlantedGeometry:
    def test_s_tight_of_straight_tube_is_radius_over_length(self):
        length, r, M, n_bins = 10.0, 2.0, 150, 100
        angles = np.arange(8) * np.pi / 4
        x = np.linspace(0, length, 30)
        curves = np.stack([np.stack([x, np.full(30, r * np.cos(a)), np.full(30, r * np.sin(a))], axis=1)
                           for a in angles])
        res = tubularity(curves, np.zeros(8), M=M, n_bins=n_bins)
        # By hand: every point lies at radius r from the axis (the centerline, of length L); a point at u_i
        # in bin b is also (u_i - u_b) * L along the axis from c(u_b). The 8 or 16 distances of a bin take at
        # most two values, each 8 times, so the 0.9-quantile is the larger one.
        u = np.linspace(0, 1, M)
        bins = np.minimum((u * n_bins).astype(int), n_bins - 1)
        centres = (np.arange(n_bins) + 0.5) / n_bins
        radius = [np.sqrt(r ** 2 + (length * np.max(np.abs(u[bins == b] - centres[b]))) ** 2) for b in range(n_bins)]
        assert res.length[0] == pytest.approx(length, rel=1e-12)
        assert res.s_tight[0] == pytest.approx(np.mean(radius) / length, rel=1e-9)
        assert res.s_tight[0] == pytest.approx(r / length, rel=1e-3)

    @pytest.mark.parametrize("seed", [0, 1])
    def test_s_tight_increases_with_tube_radius(self, seed):
        values = [tubularity(_smooth_bundle(np.random.default_rng(seed), r), np.zeros(8)).s_tight[0]
                  for r in (0.05, 0.1, 0.2, 0.4, 0.8)]
        assert np.all(np.diff(values) > 0)

    def test_parallel_tangents_contribute_nothing(self):
        s = np.linspace(-1, 1, 40)
        parallel = np.stack([np.stack([s, np.full(40, 0.3 * k), np.zeros(40)], axis=1) for k in range(3)])
        res = tubularity(parallel, np.zeros(3), M=60, n_bins=50)
        assert res.eps[0] == pytest.approx(0.3)
        assert res.s_cross[0] == pytest.approx(0.0, abs=1e-15)

    def test_transverse_crossing_beats_parallel_and_grows_with_angle(self):
        s = np.linspace(-1, 1, 40)

        def crossing(deg):
            half = np.deg2rad(deg) / 2
            lines = [np.stack([s * np.cos(half), sign * s * np.sin(half), np.zeros(40)], axis=1) for sign in (1, -1)]
            return tubularity(np.stack(lines), [0, 0], M=60, n_bins=50).s_cross[0]

        spacing = 0.3
        parallel = np.stack([np.stack([s, np.full(40, spacing * k), np.zeros(40)], axis=1) for k in range(2)])
        values = [crossing(deg) for deg in (10, 20, 45, 90)]
        assert tubularity(parallel, [0, 0], M=60, n_bins=50).s_cross[0] < 1e-15 < values[0]
        assert np.all(np.diff(values) > 0)

    @pytest.mark.parametrize("eps_rule", ["authors", "exact"])
    def test_eps_and_s_cross_match_brute_force(self, rng, eps_rule):
        curves = np.cumsum(rng.normal(size=(3, 12, 2)), axis=1)
        M = 25
        res = tubularity(curves, [0, 0, 0], M=M, n_bins=10, eps_rule=eps_rule)
        pts = res.points
        tan = _unit_tangents(pts)
        eps = _eps_by_definition(pts, eps_rule)
        assert res.eps[0] == pytest.approx(eps, rel=1e-12)
        assert res.s_cross[0] * res.length[0] == pytest.approx(_crossing_by_definition(pts, tan, eps), rel=1e-10)

    def test_pairs_at_exactly_three_eps_count(self):
        """v1 counted pairs closer than 3 eps (d < 3 eps); v2 (METHODS 6.6) counts d <= 3 eps.

        Two perpendicular lines on the integer grid: every point's nearest other-curve point is 1 away for
        half of them, so eps = 1 under both rules, and e.g. (4, 0) and (1, 0) are exactly 3 = 3 eps apart."""
        horizontal = np.stack([np.arange(5.0), np.zeros(5)], axis=1)
        vertical = np.stack([np.ones(5), np.arange(5.0) - 2], axis=1)
        for eps_rule in ("authors", "exact"):
            res = tubularity(np.stack([horizontal, vertical]), [0, 0], M=5, n_bins=5, eps_rule=eps_rule)
            assert res.eps[0] == 1.0
            tan = _unit_tangents(res.points)
            closed = _crossing_by_definition(res.points, tan, 1.0)
            open_ = _crossing_by_definition(res.points, tan, 1.0, strict=True)
            assert res.s_cross[0] * res.length[0] == pytest.approx(closed, rel=1e-12)
            assert closed - open_ > 1e-4

    def test_resampling_is_equal_in_arclength(self):
        t = np.sort(np.random.default_rng(3).uniform(0, 1, 20))
        t[0], t[-1] = 0.0, 1.0
        line = np.stack([3 * t, 4 * t], axis=1)          # straight, length 5, uneven time steps
        res = tubularity(np.stack([line, line + [0.0, 1.0]]), [0, 0], M=11, n_bins=10)
        steps = np.linalg.norm(np.diff(res.points, axis=1), axis=2)
        np.testing.assert_allclose(steps, 0.5, rtol=1e-12)

    def test_bundles_and_weighted_aggregate(self, rng):
        curves, labels = _two_bundles(rng)
        curves = np.concatenate([curves, _smooth_bundle(rng, 0.3, n_curves=4)])
        labels = np.concatenate([labels, np.full(4, 2)])
        res = tubularity(curves, labels)
        assert res.s_tight.shape == res.s_cross.shape == (3,)
        assert res.points.shape == (20, 150, 5) and res.centerlines.shape == (3, 150, 5)
        np.testing.assert_array_equal(res.n_curves, [8, 8, 4])
        assert res.mean_s_tight == pytest.approx(np.sum(res.s_tight * [8, 8, 4]) / 20)
        assert res.s_tight[0] < res.s_tight[1]  # planted radius 0.2 vs 0.5, the second also longer


# --------------------------------------------------------------------------------------- invariances
class TestInvariance:
    def test_scaling(self, rng):
        # Scaling curves by a scales every distance, eps, L and the centerline residuals by a; the smoothing
        # factor s bounds squared residuals, so with s -> a^2 s the fitted centerline scales exactly. Then
        # S_tight = R_q / L is unchanged; S_cross: exp(-d^2 / 2 eps^2), the 3 eps cut-off, unit tangents and
        # w = 1/M are unchanged, so X is unchanged and S_cross = X / L is divided by a.
        curves, labels = _two_bundles(rng)
        base = tubularity(curves, labels, smoothing=2.0)
        for a in (0.1, 7.0):
            scaled = tubularity(a * curves, labels, smoothing=2.0 * a ** 2)
            np.testing.assert_allclose(scaled.s_tight, base.s_tight, rtol=1e-8)
            np.testing.assert_allclose(scaled.s_cross, base.s_cross / a, rtol=1e-8)
            np.testing.assert_allclose(scaled.eps, a * base.eps, rtol=1e-8)
        interpolating = tubularity(curves, labels, smoothing=0.0)
        np.testing.assert_allclose(tubularity(5 * curves, labels, smoothing=0.0).s_tight, interpolating.s_tight,
                                   rtol=1e-8)

    def test_translation(self, rng):
        curves, labels = _two_bundles(rng)
        base = tubularity(curves, labels)
        moved = tubularity(curves + rng.normal(size=5) * 10, labels)
        np.testing.assert_allclose(moved.s_tight, base.s_tight, rtol=1e-7)
        np.testing.assert_allclose(moved.s_cross, base.s_cross, rtol=1e-7)

    def test_rotation(self, rng):
        curves, labels = _two_bundles(rng)
        # Any rotation with an interpolating centerline (s = 0: a linear smoother commutes with rotations).
        q = special_ortho_group.rvs(5, random_state=1)
        base = tubularity(curves, labels, smoothing=0.0)
        turned = tubularity(curves @ q, labels, smoothing=0.0)
        np.testing.assert_allclose(turned.s_tight, base.s_tight, rtol=1e-8)
        np.testing.assert_allclose(turned.s_cross, base.s_cross, rtol=1e-8)
        # Signed axis permutations (the freedom of a PCA basis) with the default per-dimension smoothing.
        signed = np.eye(5)[[3, 0, 4, 1, 2]] * [1, -1, 1, -1, -1]
        base = tubularity(curves, labels)
        turned = tubularity(curves @ signed, labels)
        np.testing.assert_allclose(turned.s_tight, base.s_tight, rtol=1e-10)
        np.testing.assert_allclose(turned.s_cross, base.s_cross, rtol=1e-10)

    def test_deterministic_and_label_order_free(self, rng):
        curves, labels = _two_bundles(rng)
        a = tubularity(curves, labels)
        order = rng.permutation(len(labels))
        b = tubularity(curves[order], np.where(labels[order] == 0, "x", "y"))
        np.testing.assert_allclose(a.s_tight, b.s_tight, rtol=1e-12)
        np.testing.assert_allclose(a.s_cross, b.s_cross, rtol=1e-12)
        assert list(b.bundles) == ["x", "y"]


class TestTubularityErrors:
    @pytest.mark.parametrize("kwargs, match", [
        ({"M": 3}, "M must be an integer >= 4"),
        ({"n_bins": 200}, r"n_bins must be an integer in 1..150 \(at most M"),
        ({"q": 1.5}, r"q must be a finite number in \[0, 1\]; got 1.5"),
        ({"smoothing": -1.0}, "smoothing must be a finite number >= 0"),
    ])
    def test_bad_settings(self, rng, kwargs, match):
        curves, labels = _two_bundles(rng)
        with pytest.raises(ValueError, match=match):
            tubularity(curves, labels, **kwargs)

    def test_bad_curves(self, rng):
        curves, labels = _two_bundles(rng)
        with pytest.raises(ValueError, match=r"curves must be 3-D \(curve, time, dimension\); got shape \(16, 60\)"):
            tubularity(curves[..., 0], labels)
        with pytest.raises(ValueError, match=r"labels must have shape \(16,\)"):
            tubularity(curves, labels[:5])
        with pytest.raises(ValueError, match=r"bundles \['9'\] have 1"):
            tubularity(curves, np.concatenate([labels[:-1], [9]]))
        with pytest.raises(ValueError, match="at least 2 time points"):
            tubularity(curves[:, :1], labels)
        bad = curves.copy()
        bad[0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="curves contains NaN or infinite values"):
            tubularity(bad, labels)
        with pytest.raises(ValueError, match="bundle 0 has a centerline of zero length"):
            tubularity(np.ones((2, 5, 3)), [0, 0])


def test_group_quantiles_match_numpy(rng):
    values, groups = rng.normal(size=200), rng.integers(0, 7, 200)
    qs = np.array([0.0, 0.3, 0.9, 1.0])
    expected = [[np.quantile(values[groups == g], q) for g in range(7)] for q in qs]
    np.testing.assert_allclose(_group_quantiles(values, groups, 7, qs), expected, rtol=1e-12)


# --------------------------------------------------------------------------------------- response sets
def _response_set(rng, *, spread: float, stimuli=ALL_CLASSES, n_units: int = 40, n_time: int = 12,
                  label: str = "synthetic") -> ResponseSet:
    """Units respond to a stimulus with one temporal profile; directions modulate the gain by ``spread``."""
    t = np.linspace(0, 1, n_time)
    profile = np.sin(np.pi * t[None] * rng.uniform(0.5, 2.0, (n_units, 1)) + rng.uniform(0, 1, (n_units, 1))) + 1.2
    gain = rng.gamma(2.0, 1.0, (n_units, len(stimuli), 1, 1))
    tuning = 1 + spread * rng.normal(size=(n_units, 1, 8, 1))
    resp = gain * tuning * profile[:, None, None, :] + 0.01 * rng.normal(size=(n_units, len(stimuli), 8, n_time))
    return ResponseSet(resp.astype(np.float32), stimuli, provenance={"label": label})


class TestTubularityOfResponses:
    def test_default_stimuli_pick_bio_six_by_name(self, rng):
        rs = _response_set(rng, spread=0.1)
        assert resolve(None, rs.stimuli) == BIO_STIMULI      # tubularity's default: the one resolver's (issue 12)
        assert resolve(None, rs.select(stimuli=[0, 1, 3]).stimuli) == ("grat_W12", "grat_W1", "neg1dotflow_D1_bg")
        result = tubularity_of_responses(rs, n_boot=2, n_components=4, **FAST)
        assert result.stimuli == BIO_STIMULI
        assert result.s_tight.shape == (2,) and result.bundle_s_tight.shape == (2, 6)

    def test_response_curves_layout(self, rng):
        rs = _response_set(rng, spread=0.1)
        curves, labels = response_curves(rs, stimuli=["grat_W2", "grat_W12"], n_components=3)
        assert curves.shape == (16, 12, 3)
        np.testing.assert_array_equal(labels, np.repeat([0, 1], 8))

    def test_tight_bundles_score_lower_and_test_says_so(self, rng):
        tight = tubularity_of_responses(_response_set(rng, spread=0.05), n_boot=5, n_components=4, random_state=1,
                                        **FAST)
        loose = tubularity_of_responses(_response_set(rng, spread=0.6), n_boot=5, n_components=4, random_state=1,
                                        **FAST)
        assert tight.s_tight_mean < loose.s_tight_mean
        assert tight.s_tight_se > 0
        U, p = compare_groups(tight.s_tight, loose.s_tight)
        assert U == 0.0 and p < 0.01

    def test_same_seed_same_values_and_grid_shares_draws(self, rng):
        rs = _response_set(rng, spread=0.3)
        a = tubularity_of_responses(rs, n_boot=3, n_components=4, random_state=5, **FAST)
        b = tubularity_of_responses(rs, n_boot=3, n_components=4, random_state=5, **FAST)
        np.testing.assert_array_equal(a.s_tight, b.s_tight)
        grid = sensitivity_grid(rs, qs=(0.8, 0.9), smoothings=(1.0, 2.0), n_boot=3, n_components=4,
                                random_state=5, **FAST)
        assert grid.s_tight.shape == (3, 2, 2) and grid.s_cross.shape == (3, 2)
        np.testing.assert_allclose(grid.s_tight[:, 1, 1], a.s_tight, rtol=1e-12)
        np.testing.assert_allclose(grid.s_cross[:, 1], a.s_cross, rtol=1e-12)
        assert np.all(grid.s_tight_mean[1] > grid.s_tight_mean[0])  # a higher quantile, a wider radius
        assert grid.s_tight_se.shape == (2, 2) and grid.s_cross_mean.shape == (2,)

    def test_progress_and_cancel(self, rng):
        rs = _response_set(rng, spread=0.3)
        seen = []
        tubularity_of_responses(rs, n_boot=2, n_components=3, **FAST,
                                control=JobControl(progress=lambda f, t: seen.append(f)))
        assert seen[-1] == 1.0
        with pytest.raises(Cancelled):
            tubularity_of_responses(rs, n_boot=2, control=JobControl(cancelled=lambda: True))

    def test_errors(self, rng):
        rs = _response_set(rng, spread=0.3)
        with pytest.raises(TypeError, match="rs must be a ResponseSet; got ndarray"):
            tubularity_of_responses(rs.responses)
        with pytest.raises(ValueError, match="n_boot must be an integer >= 1; got 0"):
            tubularity_of_responses(rs, n_boot=0)
        with pytest.raises(ValueError, match=r"n_components must be an integer in 1..40"):
            tubularity_of_responses(rs, n_components=41)
        with pytest.raises(ValueError, match="unknown stimulus 'nope'"):
            tubularity_of_responses(rs, stimuli=["nope"])


@pytest.mark.slow
def test_reconstructed_retina_is_tighter_than_v1(data_dir):
    # METHODS 3: the reconstruction from published factors keeps retina tighter than V1.
    from compute.bio.datasets import load_dataset

    values = {name: tubularity_of_responses(load_dataset(name, data_dir=data_dir), n_boot=3, **FAST)
              for name in ("retina", "V1")}
    assert values["retina"].reconstructed and values["V1"].reconstructed
    assert values["retina"].s_tight_mean < values["V1"].s_tight_mean
    assert compare_groups(values["retina"].s_tight, values["V1"].s_tight).p < 0.1


class TestCompareGroups:
    def test_known_u_and_p(self):
        U, p = compare_groups([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
        assert U == 0.0 and p == pytest.approx(0.05)          # exact: 1 of C(6, 3) = 20 orderings
        assert compare_groups([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], alternative="greater").p == pytest.approx(1.0)

    def test_errors(self):
        with pytest.raises(ValueError, match=r"alternative must be one of \['less', 'greater', 'two-sided'\]; got 'lower'"):
            compare_groups([1.0], [2.0], alternative="lower")
        with pytest.raises(ValueError, match="both groups need at least one value; got 0 and 1"):
            compare_groups([], [2.0])
        with pytest.raises(ValueError, match=r"a_values must be 1-D"):
            compare_groups([[1.0]], [2.0])


# --------------------------------------------------------------------------------------- view builder
class TestView:
    """The "tubularity" view: one bootstrap run serves the sensitivity grid and the headline."""

    @pytest.mark.parametrize("q, smoothing", [(0.9, 2.0), (0.88, 0.5)], ids=["on-grid", "off-grid"])
    def test_headline_equals_a_direct_run(self, rng, q, smoothing):
        from compute.jobs import ensure_control
        from compute.views import BUILDERS

        rs = _response_set(rng, spread=0.3, n_units=30)
        options = dict(stimuli=["grat_W12", "grat_W2"], n_boot=2, q=q, smoothing=smoothing, random_state=3)
        arrays, meta = BUILDERS["tubularity"](rs, None, control=ensure_control(None), drop_flagged=False,
                                              sensitivity=True, eps_rule="exact", **options).to_arrays()
        direct = tubularity_of_responses(rs, eps_rule="exact", **options)
        np.testing.assert_allclose(arrays["s_tight_boot"], direct.s_tight, rtol=1e-12)
        np.testing.assert_allclose(arrays["s_cross_boot"], direct.s_cross, rtol=1e-12)
        assert meta["s_cross"] == pytest.approx(direct.s_cross_mean, rel=1e-12)
        assert q in arrays["sensitivity_qs"] and smoothing in arrays["sensitivity_smoothings"]
        assert arrays["sensitivity_s_tight"].shape == (arrays["sensitivity_qs"].size,
                                                       arrays["sensitivity_smoothings"].size)
        authors, _ = BUILDERS["tubularity"](rs, None, control=ensure_control(None), drop_flagged=False,
                                           sensitivity=False, eps_rule="authors", **options).to_arrays()
        assert not np.allclose(authors["s_cross_boot"], direct.s_cross)

    def test_grid_at_needs_a_grid_point(self, rng):
        grid = sensitivity_grid(_response_set(rng, spread=0.3), qs=(0.8, 0.9), smoothings=(2.0,), n_boot=2,
                                n_components=3, **FAST)
        with pytest.raises(ValueError, match=r"\(q, smoothing\) = \(0.85, 2.0\) is not on the grid"):
            grid.at(0.85, 2.0)
