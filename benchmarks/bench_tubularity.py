"""Tubularity timings (METHODS.md section 6), before/after in one run, paired and alternating.

The pipeline timed is what the "tubularity" view computes for a 2000-unit (2000, 11, 8, 37) module-like set:
30 unit bootstraps of the bio-matched six, the sensitivity grid (6 quantiles x 5 smoothings) and the tube
plot's one fit on all units. "before" is ``compute/analysis/tubularity.py`` of a git revision (``--baseline``,
default ``main``) with that revision's view logic; "after" is the working tree's view builder. Runs alternate
(before, after, before, ...) so that a busy machine slows both alike; the ratio is the number to read.
Also prints the largest relative difference of the bootstrap values between "before" and "after" with
``eps_rule="exact"`` (v1's rule: the numbers must agree to float rounding) and the authors' rule's values.

Run: ``python benchmarks/bench_tubularity.py [--baseline main] [--threads 1] [--repeats 2] [--n-boot 30]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _module_like import module_like  # noqa: E402
from benchmarks._timing import timed  # noqa: E402
from compute.jobs import ensure_control  # noqa: E402
from compute.views import BUILDERS  # noqa: E402

OPTIONS = {"stimuli": None, "drop_flagged": False, "q": 0.9, "smoothing": 2.0, "sensitivity": True, "random_state": 0}


def _baseline_module(rev: str) -> types.ModuleType:
    """``compute/analysis/tubularity.py`` as of git revision ``rev``, imported under another name."""
    source = subprocess.run(["git", "show", f"{rev}:compute/analysis/tubularity.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("tubularity_baseline")
    module.__file__ = f"{rev}:compute/analysis/tubularity.py"
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def _before(tub: types.ModuleType, rs, n_boot: int) -> np.ndarray:
    """The baseline's view: headline bootstrap, one fit, then the grid (a second bootstrap run)."""
    boot = tub.tubularity_of_responses(rs, n_boot=n_boot, q=OPTIONS["q"], smoothing=OPTIONS["smoothing"])
    curves, labels = tub.response_curves(rs)
    tub.tubularity(curves, labels, q=OPTIONS["q"], smoothing=OPTIONS["smoothing"])
    tub.sensitivity_grid(rs, n_boot=n_boot)
    return np.stack([boot.s_tight, boot.s_cross])


def _after(rs, n_boot: int, eps_rule: str) -> np.ndarray:
    view = BUILDERS["tubularity"](rs, None, control=ensure_control(None), n_boot=n_boot, eps_rule=eps_rule, **OPTIONS)
    return np.stack([view.s_tight_boot, view.s_cross_boot])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="main", help="git revision of the 'before' code (default: main)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-boot", type=int, default=30)
    args = parser.parse_args()
    baseline = _baseline_module(args.baseline)
    module = module_like()
    print(f"tubularity view pipeline on {module.shape}, {args.n_boot} bootstraps, sensitivity grid 6 x 5, "
          f"{args.threads} BLAS thread(s); before = {args.baseline}, after = working tree")
    times = {"before": [], "after": []}
    with threadpool_limits(args.threads):
        for r in range(args.repeats):
            old, wall, cpu = timed(lambda: _before(baseline, module, args.n_boot))
            times["before"].append((wall, cpu))
            new, wall_new, cpu_new = timed(lambda: _after(module, args.n_boot, "exact"))
            times["after"].append((wall_new, cpu_new))
            print(f"  run {r + 1}: before wall {wall:.1f} s (CPU {cpu:.1f} s), after (exact eps) wall "
                  f"{wall_new:.1f} s (CPU {cpu_new:.1f} s), ratio {wall / wall_new:.2f}x")
        authors, wall_a, cpu_a = timed(lambda: _after(module, args.n_boot, "authors"))
    for name, pairs in times.items():
        walls, cpus = np.array(pairs).T
        print(f"{name:6s}: wall median {np.median(walls):.1f} s, CPU median {np.median(cpus):.1f} s")
    print(f"after (authors eps, the default): wall {wall_a:.1f} s (CPU {cpu_a:.1f} s)")
    rel = np.max(np.abs(new - old) / np.abs(old), axis=1)
    print(f"max relative difference before vs after (exact eps): S_tight {rel[0]:.1e}, S_cross {rel[1]:.1e}")
    for label, values in (("before (v1 exact eps)", old), ("after, authors eps", authors)):
        print(f"  {label}: S_tight {values[0].mean():.4f} +- {values[0].std(ddof=1) / np.sqrt(args.n_boot):.4f}, "
              f"S_cross {values[1].mean():.3e} +- {values[1].std(ddof=1) / np.sqrt(args.n_boot):.1e}")


if __name__ == "__main__":
    main()
