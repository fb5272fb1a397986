"""Alignment timing (METHODS.md section 7). Goal: the interactive preset (10 bootstraps, 10 DSA nulls) for
one 2000-unit module-like set (2000, 11, 8, 37) against reconstructed V1 < 30 s. DSA "angular" (the v2
default) runs an optimisation of seconds per comparison (bootstraps + 1 + nulls comparisons), which
``alignment_scores`` spreads over worker processes (``n_jobs``).

Prints before (``n_jobs=1``: every comparison in this process, as v1) and after (``n_jobs=None``: one
forked worker process per available core), paired and alternating over ``--pairs`` pairs, with wall and process
CPU time (the workers' CPU is not in the process figure), and checks that both give identical scores.
``--dsa-method wasserstein`` times v1's default (milliseconds per comparison, always in this process).

V1 comes from TWINSCOPE_DATA_DIR (or --data-dir) with bio/. Run:
``python benchmarks/bench_alignment.py [--data-dir ../shared/data] [--pairs 1] [--preset interactive]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _module_like import module_like  # noqa: E402
from benchmarks._timing import alternating, timed  # noqa: E402
from compute.analysis.alignment import METHODS, alignment_scores  # noqa: E402
from compute.bio.datasets import load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None, help="folder with bio/ (default: TWINSCOPE_DATA_DIR)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    parser.add_argument("--preset", default="interactive")
    parser.add_argument("--pairs", type=int, default=1, help="before/after pairs, alternating order")
    parser.add_argument("--dsa-method", default="angular", choices=("angular", "wasserstein", "euclidean"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        v1 = load_dataset("V1", data_dir=args.data_dir)
        module = module_like()
        alignment_scores(module, v1, methods=("rsa", "dsa"), n_boot=1, n_nulls=2,
                         dsa_method="wasserstein")  # warm-up: imports (torch, DSA)
        print(f"alignment_scores({module.shape} vs {v1.label} {v1.shape}, preset {args.preset!r}, "
              f"DSA {args.dsa_method}, {args.threads} thread(s), {len(os.sched_getaffinity(0))} cores, "
              f"load {os.getloadavg()[0]:.1f})")
        results, times = {}, {"before": [], "after": []}
        for order in alternating(args.pairs):
            for which in order:
                results[which], elapsed, cpu = timed(lambda: alignment_scores(
                    module, v1, preset=args.preset, dsa_method=args.dsa_method,
                    n_jobs=1 if which == "before" else None))
                times[which].append(elapsed)
                print(f"  {which:<6} (n_jobs={'1' if which == 'before' else 'None'}): wall {elapsed:6.1f} s, "
                      f"CPU of this process {cpu:6.1f} s", flush=True)
    before, after = np.mean(times["before"]), np.mean(times["after"])
    same = all(np.array_equal(getattr(results["before"], f), getattr(results["after"], f), equal_nan=True)
               for f in ("values", "per_time", "dsa_null", "dsa_z"))
    print(f"  mean wall: before {before:.1f} s, after {after:.1f} s, ratio {before / after:.2f}x (goal < 30 s); "
          f"identical results: {same}")
    result = results["after"]
    for method in METHODS:
        mean, low, high = result.score(method)
        print(f"  {method:4s} {mean:.3f} [{low:.3f}, {high:.3f}]")
    print(f"  DSA z {result.dsa_z:.2f}; mean alignment {result.mean_alignment:.3f}")


if __name__ == "__main__":
    main()
