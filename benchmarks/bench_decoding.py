"""Decoding analyses on the reconstructed biology and on a model-sized synthetic set; prints accuracies
and wall-clock times. Needs TWINSCOPE_DATA_DIR with bio/. ``--quick`` skips the time-window sweeps.

Run: ``python benchmarks/bench_decoding.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compute.analysis.decoding import decoding_accuracy, decoding_manifold, decoding_trajectories  # noqa: E402
from compute.bio.datasets import load_dataset  # noqa: E402
from compute.responses import ResponseSet  # noqa: E402
from compute.stimuli import CLASS_NAMES  # noqa: E402


def timed(label: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"  {label:<42} {time.perf_counter() - start:8.2f} s")
    return result


def model_sized(seed: int = 0) -> ResponseSet:
    """2000 units x 11 classes x 8 directions x 37 frames: class signal in a few dimensions plus noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(2000, 11, 1, 1)) * (rng.random((2000, 1, 1, 1)) < 0.05)
    responses = np.abs(signal + rng.normal(0, 1.0, (2000, 11, 8, 37)))
    return ResponseSet(responses=responses, stimuli=CLASS_NAMES, time=np.arange(37) / 30.0,
                       provenance={"label": "synthetic model-sized set"})


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the time-window sweeps")
    windows = not parser.parse_args(argv).quick
    sets = [timed(f"load {name} (reconstructed)", lambda name=name: load_dataset(name)) for name in ("retina", "V1")]
    sets.append(model_sized())
    for rs in sets:
        print(f"{rs.label}: {rs.shape}")
        timed("decoding manifold", lambda: decoding_manifold(rs))
        timed("decoding trajectories", lambda: decoding_trajectories(rs))
        acc = timed("accuracy, whole trial (25 LR fits + LOO 3-NN)", lambda: decoding_accuracy(rs, windows=False))
        print(f"    {acc.n_classes}-way: logistic {acc.logistic:.3f} +/- {acc.logistic_sd:.3f}, 3-NN {acc.knn:.3f}, "
              f"chance {acc.chance:.3f}, not converged {acc.not_converged}")
        if windows:
            acc = timed(f"accuracy with {2 * rs.n_time} windows", lambda: decoding_accuracy(rs))
            peak = acc.window_logistic.max(axis=1)
            print(f"    best logistic: increasing {peak[0]:.3f}, decreasing {peak[1]:.3f}; "
                  f"not converged {acc.not_converged}")


if __name__ == "__main__":
    main(sys.argv[1:])
