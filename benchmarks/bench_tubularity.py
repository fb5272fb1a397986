"""Tubularity timings (METHODS.md section 6). Goals: ``tubularity`` on 48 curves x 135 steps x 10 dims
< 0.5 s; the full 30-bootstrap pipeline on a 2000-unit (2000, 11, 8, 37) module-like set < 20 s.
Prints wall time and process CPU time (the CPU time is the better guide on a shared, busy machine).

Run: ``python benchmarks/bench_tubularity.py [--threads 1] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _module_like import module_like  # noqa: E402
from compute.analysis.tubularity import response_curves, tubularity, tubularity_of_responses  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=30)
    args = parser.parse_args()
    with threadpool_limits(args.threads):
        bio_like = module_like(n_units=600, n_time=135, stimuli=module_like().stimuli[:6], seed=1)
        curves, labels = response_curves(bio_like)
        print(f"curves {curves.shape} (48 curves x 135 steps x 10 dims), {args.threads} BLAS thread(s)")
        wall, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            tubularity(curves, labels)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"tubularity: wall median {np.median(wall):.3f} s (min {np.min(wall):.3f}), CPU median "
              f"{np.median(cpu):.3f} s over {args.repeats} (goal < 0.5 s)")

        module = module_like()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = tubularity_of_responses(module, n_boot=args.n_boot)
        print(f"tubularity_of_responses {module.shape}, {args.n_boot} bootstraps: wall "
              f"{time.perf_counter() - start:.1f} s, CPU {time.process_time() - start_cpu:.1f} s (goal < 20 s); "
              f"S_tight {result.s_tight_mean:.4f} +- {result.s_tight_se:.4f}, "
              f"S_cross {result.s_cross_mean:.3e} +- {result.s_cross_se:.1e}")


if __name__ == "__main__":
    main()
