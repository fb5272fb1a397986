"""Crossing events on 48 trajectories x 135 bins: KD-tree search vs the brute-force loop of the tests.

Trajectories: the decoding trajectories of reconstructed V1 (needs TWINSCOPE_DATA_DIR with bio/), else
random walks of the same size. Run: ``python benchmarks/bench_crossings.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks._timing import call_times, timed  # noqa: E402
from compute.analysis.crossings import crossing_events  # noqa: E402
from tests.compute.test_crossings import brute_force_crossings  # noqa: E402


def trajectories() -> tuple[np.ndarray, str]:
    try:
        from compute.analysis.decoding import decoding_trajectories
        from compute.bio.datasets import load_dataset

        return decoding_trajectories(load_dataset("V1")).curves, "reconstructed V1 decoding trajectories"
    except (OSError, ValueError) as err:
        print(f"(no biological data: {err}; using random walks)")
        walks = np.cumsum(np.random.default_rng(0).normal(size=(48, 135, 3)), axis=1)
        return walks, "random walks"


def best_of(fn, repeats: int = 7) -> float:
    return float(call_times(fn, repeats).min())


def main() -> None:
    traj, what = trajectories()
    extent = float(np.linalg.norm(traj.reshape(-1, 3).max(axis=0) - traj.reshape(-1, 3).min(axis=0)))
    print(f"{what}: shape {traj.shape}, extent (bounding-box diagonal) {extent:.3g}")
    for fraction in (0.01, 0.02, 0.05):
        for delta in (0, 5, 134):
            eps = fraction * extent
            seconds = best_of(lambda: crossing_events(traj, eps, delta))
            print(f"  epsilon {fraction:.0%} of extent, delta {delta:>3}: {crossing_events(traj, eps, delta).count:>7} "
                  f"events in {1e3 * seconds:7.2f} ms")
    for fraction, delta in ((0.01, 0), (0.02, 5)):
        eps = fraction * extent
        expected, brute, _ = timed(lambda: brute_force_crossings(traj, eps, delta))
        fast = best_of(lambda: crossing_events(traj, eps, delta))
        assert crossing_events(traj, eps, delta).count == len(expected)
        print(f"epsilon {fraction:.0%}, delta {delta}: brute force {brute:.2f} s, KD-tree {1e3 * fast:.2f} ms, "
              f"speed-up {brute / fast:.0f}x ({len(expected)} events)")


if __name__ == "__main__":
    main()
