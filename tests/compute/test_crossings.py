"""Crossing events: the KD-tree search returns exactly the brute-force event set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compute.analysis.crossings import CrossingEvents, crossing_events


def brute_force_crossings(trajectories: np.ndarray, epsilon: float, delta: int) -> list[tuple[int, int, int, int]]:
    """The definition (METHODS.md section 4), O(pairs x T^2): every (i < j, ti, tj) with |ti - tj| <= delta
    and Euclidean distance over the first 3 coordinates < epsilon."""
    points = np.asarray(trajectories)[:, :, :3].tolist()
    events = []
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            for ti, p in enumerate(points[i]):
                for tj, q in enumerate(points[j]):
                    if abs(ti - tj) <= delta:
                        d0, d1, d2 = p[0] - q[0], p[1] - q[1], p[2] - q[2]
                        if math.sqrt(d0 * d0 + d1 * d1 + d2 * d2) < epsilon:
                            events.append((i, j, ti, tj))
    return events


def random_walks(seed: int, n_traj: int = 6, n_time: int = 20, n_dims: int = 4) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(size=(n_traj, n_time, n_dims)), axis=1)


def as_tuples(events: CrossingEvents) -> list[tuple[int, int, int, int]]:
    return list(zip(events.i.tolist(), events.j.tolist(), events.ti.tolist(), events.tj.tolist()))


# ------------------------------------------------------------------ same set as the definition
class TestAgainstBruteForce:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    @pytest.mark.parametrize("epsilon, delta", [(0.5, 0), (1.0, 2), (2.5, 5), (4.0, 19), (1e-3, 3)])
    def test_identical_event_set(self, seed, epsilon, delta):
        traj = random_walks(seed)
        events = crossing_events(traj, epsilon, delta)
        expected = brute_force_crossings(traj, epsilon, delta)
        assert as_tuples(events) == expected                 # same events, same (i, j, ti, tj) order
        assert events.count == len(expected)

    def test_has_events_and_empty_cases(self):
        traj = random_walks(0)
        assert crossing_events(traj, 4.0, 19).count > 50
        empty = crossing_events(traj, 1e-6, 19)
        assert empty.count == 0 and empty.midpoint.shape == (0, 3) and empty.distance.shape == (0,)
        assert crossing_events(traj[:1], 10.0, 5).count == 0          # a single trajectory never crosses

    def test_distance_and_midpoint(self):
        traj = random_walks(1)
        events = crossing_events(traj, 2.0, 3)
        p, q = traj[events.i, events.ti, :3], traj[events.j, events.tj, :3]
        np.testing.assert_allclose(events.distance, np.linalg.norm(p - q, axis=1))
        np.testing.assert_allclose(events.midpoint, (p + q) / 2)
        assert np.all(events.i < events.j) and np.all(np.abs(events.ti - events.tj) <= 3)


# ------------------------------------------------------------------ planted geometry
class TestPlanted:
    def test_two_lines_cross_at_the_planted_time(self):
        t = np.arange(11.0)
        a = np.stack([t - 5, np.zeros(11), np.zeros(11)], axis=1)     # along x, at the origin at t = 5
        b = np.stack([np.zeros(11), t - 5, np.full(11, 0.1)], axis=1)  # along y, 0.1 above, at t = 5
        events = crossing_events(np.stack([a, b]), 0.5, 0)
        assert as_tuples(events) == [(0, 1, 5, 5)]
        np.testing.assert_allclose(events.midpoint, [[0.0, 0.0, 0.05]])

    def test_epsilon_is_strict_and_delta_inclusive(self):
        a = np.zeros((3, 3))
        b = np.zeros((3, 3))
        b[:, 0] = 1.0                                                 # exactly 1 apart at every time
        traj = np.stack([a, b])
        assert crossing_events(traj, 1.0, 2).count == 0
        assert crossing_events(traj, 1.0 + 1e-12, 0).count == 3
        assert crossing_events(traj, 1.0 + 1e-12, 1).count == 7       # 3 same-time + 4 one-apart pairs
        assert crossing_events(traj, 1.0 + 1e-12, 2).count == 9

    def test_only_the_first_three_coordinates_count(self):
        traj = random_walks(2)
        far = traj.copy()
        far[..., 3] = np.arange(6)[:, None] * 1e6
        assert as_tuples(crossing_events(far, 2.0, 4)) == as_tuples(crossing_events(traj, 2.0, 4))


# ------------------------------------------------------------------ validation
class TestErrors:
    def test_bad_trajectories(self):
        with pytest.raises(ValueError, match=r"trajectories must be 3-D \(trajectory, time, coordinate\); got shape \(5, 3\)"):
            crossing_events(np.zeros((5, 3)), 1.0, 1)
        with pytest.raises(ValueError, match=r"trajectories need at least 3 coordinates; got shape \(2, 5, 2\)"):
            crossing_events(np.zeros((2, 5, 2)), 1.0, 1)
        with pytest.raises(ValueError, match="trajectories contains NaN or infinite values"):
            crossing_events(np.full((2, 5, 3), np.nan), 1.0, 1)

    @pytest.mark.parametrize("epsilon, delta, error, message", [
        (0.0, 1, ValueError, r"epsilon must be a finite number > 0 \(a distance\); got 0.0"),
        (np.inf, 1, ValueError, r"epsilon must be a finite number > 0 \(a distance\); got inf"),
        ("1", 1, TypeError, r"epsilon must be a finite number > 0 \(a distance\); got '1'"),
        (1.0, -1, ValueError, r"delta must be an integer >= 0 \(time bins\); got -1"),
        (1.0, 1.5, TypeError, r"delta must be an integer >= 0 \(time bins\); got 1.5"),
        (1.0, True, TypeError, r"delta must be an integer >= 0 \(time bins\); got True"),
    ])
    def test_bad_options(self, epsilon, delta, error, message):
        with pytest.raises(error, match=message):
            crossing_events(np.zeros((2, 5, 3)), epsilon, delta)
