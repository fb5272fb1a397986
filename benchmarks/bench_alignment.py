"""Alignment timing (METHODS.md section 7). Goal: the interactive preset (10 bootstraps, 10 DSA nulls) for
one 2000-unit module-like set (2000, 11, 8, 37) against reconstructed V1 < 30 s. Prints wall and process
CPU time (the CPU time is the better guide on a shared, busy machine). DSA "angular" (the v2 default) runs
an optimisation of seconds per comparison (bootstraps + 1 + nulls comparisons); ``--dsa-method wasserstein``
times v1's default.

V1 comes from TWINSCOPE_DATA_DIR (or --data-dir) with bio/. Run:
``python benchmarks/bench_alignment.py [--data-dir ../shared/data] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _module_like import module_like  # noqa: E402
from compute.analysis.alignment import METHODS, alignment_scores  # noqa: E402
from compute.bio.datasets import load_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None, help="folder with bio/ (default: TWINSCOPE_DATA_DIR)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    parser.add_argument("--preset", default="interactive")
    parser.add_argument("--dsa-method", default="angular", choices=("angular", "wasserstein", "euclidean"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        v1 = load_dataset("V1", data_dir=args.data_dir)
        module = module_like()
        alignment_scores(module, v1, methods=("rsa", "dsa"), n_boot=1, n_nulls=2,
                         dsa_method="wasserstein")  # warm-up: imports (torch, DSA)
        start, start_cpu = time.perf_counter(), time.process_time()
        result = alignment_scores(module, v1, preset=args.preset, dsa_method=args.dsa_method)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"alignment_scores({module.shape} vs {v1.label} {v1.shape}, preset {args.preset!r}, "
          f"{result.values.shape[1]} bootstraps, {result.dsa_null.size} DSA nulls ({args.dsa_method}), "
          f"{args.threads} thread(s)): "
          f"wall {elapsed:.1f} s, CPU {cpu:.1f} s (goal < 30 s)")
    for method in METHODS:
        mean, low, high = result.score(method)
        print(f"  {method:4s} {mean:.3f} [{low:.3f}, {high:.3f}]")
    print(f"  DSA z {result.dsa_z:.2f}; mean alignment {result.mean_alignment:.3f}")


if __name__ == "__main__":
    main()
