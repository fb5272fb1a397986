"""Encoding-manifold benchmarks (prints numbers; no assertions).

1. Recovery at full V1 size: a tensor from the published rank-17 V1 factors (641 x 6 x 1080), a random
   circular shift per (unit, stimulus), Gaussian noise with 10 % of the tensor's norm (then clipped at 0);
   permuted_cp(rank 17) -> factor-match vs the published factors (goal >= 0.95) and the fraction of shifts
   recovered on informative blocks, up to one global roll (goal >= 90 %).
2. Time of one rank-17 restart at V1 size (goal <= 10 s on 2 cores).
3. IAN (greedy, the quick option) + diffusion map on 2000 model-like units (goal <= 5 s), after a rank-10
   decomposition.
4. --rank-scan: ranks 2..30 x 20 restarts at V1 size (goal <= 1 h); without it the scan time is
   extrapolated from one timed restart at ranks 5, 17 and 30.
5. speed (issue 16 item 3), on a 2000-unit model-like module (optSF tensor 2000 x 6 x 296, rank 9 = Rec),
   the code before this round (``BEFORE_COMMIT``, read with ``git show``) against the current one, paired and
   alternating: time per objective evaluation; time per restart, evaluations per restart and time per
   evaluation (restarts in parallel); time per IAN scale LP on the same LPs; then the whole encoding manifold
   with the v2 defaults (50 restarts, IAN by linear program; goal <= 120 s on 2 cores) and its time per stage.
   The load average is printed beside each number: on a shared machine compare the ratios.

Usage: python benchmarks/bench_encoding.py [--restarts 20] [--rank-scan] [--threads 2] [--only speed]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def planted_v1(seed: int = 0):
    from compute.bio.datasets import load_factors
    from compute.encoding.tensor import flatten_maps, unflatten_maps

    f = load_factors("V1")
    aligned = np.einsum("r,nr,sr,lr->nsl", f.lambdas, f.neurons, f.stimuli, f.maps)
    rng = np.random.default_rng(seed)
    shifts = rng.integers(0, 8, aligned.shape[:2])
    maps = unflatten_maps(aligned)                                           # (N, S, D, T)
    idx = (np.arange(8)[None, None, :] + shifts[:, :, None]) % 8              # np.roll(X, k) == aligned
    X = flatten_maps(np.take_along_axis(maps, idx[..., None], axis=2))
    noise = rng.standard_normal(X.shape)
    X = np.maximum(X + noise * (0.1 * np.linalg.norm(X) / np.linalg.norm(noise)), 0.0)
    norm = (maps ** 2).sum((2, 3))
    informative = norm > 1e-3 * norm.max()
    for k in range(1, 8):
        informative &= ((np.roll(maps, k, axis=2) - maps) ** 2).sum((2, 3)) > 0.01 * norm
    return f, X, shifts, informative


def recovery(restarts: int) -> None:
    import torch

    from compute.encoding.permuted_cp import _Objective, factor_match_score, permuted_cp

    f, X, shifts, informative = planted_v1()
    truth = _Objective(X, 17, 8, torch.device("cpu"), dtype=torch.float64)
    _, resid = truth.evaluate(f.neurons * f.lambdas / truth.norm, f.stimuli, f.maps)
    result, wall, cpu = timed(permuted_cp, X, 17, n_restarts=restarts, random_state=0)
    diff = (result.shifts - shifts)[informative] % 8
    g = np.bincount(diff).argmax()
    print(f"[recovery] V1 rank 17, {X.shape}, 10 % noise, {restarts} restarts: {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"  fit {result.fit:.5f} (published factors with true shifts: {1 - resid:.5f})")
    print(f"  restart errors {np.round(result.restart_errors, 4).tolist()}")
    print(f"  factor match vs published {factor_match_score(result, (f.neurons, f.stimuli, f.maps)):.4f} (goal >= 0.95)")
    print(f"  shifts recovered on informative blocks ({informative.mean():.0%} of blocks): "
          f"{np.mean(diff == g):.3f} (global roll {g}; goal >= 0.90); on all blocks "
          f"{np.mean((result.shifts - shifts) % 8 == g):.3f}")


def one_restart(rank: int, X: np.ndarray, seed: int = 1) -> tuple[float, float, int]:
    from compute.encoding.permuted_cp import permuted_cp

    result, wall, cpu = timed(permuted_cp, X, rank, n_restarts=1, random_state=seed)
    return wall, cpu, result.n_iter


def restart_timing() -> None:
    _, X, _, _ = planted_v1()
    wall, cpu, n_iter = one_restart(17, X)
    print(f"[restart] one rank-17 restart at V1 size {X.shape}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
          f"{n_iter} L-BFGS-B iterations ({1000 * wall / max(n_iter, 1):.0f} ms wall / iteration; goal <= 10 s)")


def embedding_2000() -> None:
    from _module_like import module_like

    from compute.encoding.diffusion import diffusion_map
    from compute.encoding.ian import ian_kernel
    from compute.encoding.neural_matrix import neural_matrix, reduce_pca
    from compute.encoding.permuted_cp import permuted_cp
    from compute.encoding.tensor import encoding_tensor

    rs = module_like(2000, seed=3)
    tensor = encoding_tensor(rs)
    cp, wall, cpu = timed(permuted_cp, tensor.tensor, 10, n_restarts=1, random_state=0)
    print(f"[module] 2000 model-like units {tensor.tensor.shape}, rank 10, one restart: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU, fit {cp.fit:.3f}")
    nm, wall, cpu = timed(neural_matrix, tensor.full, cp)
    print(f"[module] NNLS neural matrix: {wall:.2f} s wall, {cpu:.2f} s CPU")
    red = reduce_pca(nm.coords)
    kernel, w_ian, c_ian = timed(ian_kernel, red.points, objective="greedy")
    keep = kernel.connected
    dmap, w_dm, c_dm = timed(diffusion_map, kernel.kernel[keep][:, keep])
    print(f"[embed] {red.points.shape[0]} distinct points in {red.n_pcs} PCs: IAN greedy {w_ian:.2f} s wall / "
          f"{c_ian:.2f} s CPU ({kernel.n_iter} iterations, {kernel.edges.shape[0]} edges, "
          f"{kernel.disconnected.size} set aside), diffusion {w_dm:.2f} s wall / {c_dm:.2f} s CPU; "
          f"total {w_ian + w_dm:.2f} s wall (goal <= 5 s)")


def rank_scan(run: bool) -> None:
    _, X, _, _ = planted_v1()
    ranks = list(range(2, 31))
    if run:
        from compute.encoding.permuted_cp import rank_diagnostics

        diag, wall, cpu = timed(rank_diagnostics, X, ranks, n_restarts=20, random_state=0)
        print(f"[rank scan] ranks 2..30 x 20 restarts: {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU")
        s = diag.summary()
        for r, e, ed, sd in zip(s["ranks"], s["error_mean"], s["ed_mean"], s["ed_sd"]):
            print(f"  rank {r:2d}: error {e:.4f}  ED {ed:.2f} +- {sd:.2f}")
        return
    measured = {rank: one_restart(rank, X) for rank in (5, 17, 30)}
    wall = np.interp(ranks, list(measured), [m[0] for m in measured.values()])
    cpu = np.interp(ranks, list(measured), [m[1] for m in measured.values()])
    print("[rank scan, extrapolated] one restart: " + ", ".join(
        f"rank {r} {w:.1f} s wall / {c:.1f} s CPU ({n} iterations)" for r, (w, c, n) in measured.items())
        + f"; ranks 2..30 x 20 restarts ~ {20 * wall.sum() / 60:.0f} min wall, {20 * cpu.sum() / 60:.0f} min CPU "
          "(goal <= 60 min)")


BEFORE_COMMIT = "4cc6290"   # the code before the issue-16 encoding round (float32 Gram kernel, dual-simplex LP)


def module_at(commit: str, path: str, name: str):
    """A module of the package as of ``commit`` (read with ``git show``), for a paired comparison."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=root, capture_output=True, text=True,
                            check=True).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def per_evaluation(modules: dict, X: np.ndarray, rank: int, threads: int) -> None:
    """Time of one objective + gradient evaluation, paired and alternating (median of 7 rounds of 5); with
    more than one torch thread too, to show why a restart runs on one (``permuted_cp._run_restarts``)."""
    import torch

    kernels = {name: m._Objective(X, rank, 8, torch.device("cpu")) for name, m in modules.items()}
    # the same precision: the kernel before, run in float64 as the kernel after is
    kernels["before64"] = modules["before"]._Objective(X, rank, 8, torch.device("cpu"), dtype=torch.float64)
    theta = modules["after"]._random_start(kernels["after"].shape, rank, np.random.default_rng(0))
    f = {name: k(theta)[0] for name, k in kernels.items()}
    print(f"[speed] tensor {X.shape}, rank {rank}: f before {f['before']:.9f} (float32), before in float64 "
          f"{f['before64']:.9f}, after {f['after']:.9f} (float64)")
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        times = {name: [] for name in kernels}
        for _ in range(7):
            for name, kernel in kernels.items():
                start = time.perf_counter()
                for _ in range(5):
                    kernel(theta)
                times[name].append((time.perf_counter() - start) / 5 * 1000)
        med = {name: float(np.median(v)) for name, v in times.items()}
        print(f"  per evaluation, {n_threads} torch thread(s): before {med['before']:.1f} ms (float32), "
              f"{med['before64']:.1f} ms (float64), after {med['after']:.1f} ms (before / after = "
              f"{med['before'] / med['after']:.2f}, in float64 {med['before64'] / med['after']:.2f}; {load()})")
    torch.set_num_threads(threads)


def per_restart(modules: dict, X: np.ndarray, rank: int, threads: int, n: int) -> None:
    """n restarts of each version, twice, alternating: s per restart, evaluations, s per evaluation."""
    walls = {"before": 0.0, "after": 0.0}
    for name in ("before", "after", "before", "after"):
        result, wall, cpu = timed(modules[name].permuted_cp, X, rank, n_restarts=n, random_state=0, n_jobs=threads)
        walls[name] += wall
        evals = result.n_evaluations
        print(f"  {name}: {n} restarts ({threads} at once) in {wall:.1f} s wall, {cpu:.1f} s CPU = {wall / n:.2f} s "
              f"per restart, {evals.mean():.0f} evaluations per restart, {1000 * wall / evals.sum() * threads:.1f} ms "
              f"wall per evaluation per worker; best error {result.error:.5f} ({load()})")
    print(f"  per restart before / after = {walls['before'] / walls['after']:.2f} (before: normalised objective, "
          "float32, m = 10; after: the authors' objective and criteria, float64, m = 5)")


def per_lp(modules: dict, points: np.ndarray) -> None:
    """The IAN scale LPs of the first iteration, solved by both versions' lp_scales, alternating."""
    ian = modules["after"]
    captured = []
    real = ian.lp_scales
    ian.lp_scales = lambda *args, **kwargs: captured.append((args, kwargs)) or real(*args, **kwargs)
    try:
        ian.ian_kernel(points, objective="lp", max_iter=1)
    finally:
        ian.lp_scales = real
    times = {"before": [], "after": []}
    same = True
    for args, kwargs in captured:
        out = {}
        for name in ("before", "after"):
            start = time.process_time()
            out[name] = modules[name].lp_scales(*args, **kwargs)
            times[name].append(time.process_time() - start)
        same &= bool(np.allclose(out["before"], out["after"], rtol=0, atol=1e-9))
    b, a = np.median(times["before"]), np.median(times["after"])
    print(f"  IAN LP ({points.shape[0]} points, {len(captured)} LPs): before {b:.2f} s CPU, after {a:.2f} s CPU per LP "
          f"(before / after = {b / a:.2f}; same scales: {same}; {load()})")


class StageTimer:
    """Wall and CPU time of each pipeline stage, by wrapping the functions ``compute.encoding.manifold`` calls."""

    STAGES = ("encoding_tensor", "permuted_cp", "neural_matrix", "reduce_pca", "nearest_neighbour_outliers",
              "ian_kernel", "diffusion_map", "hdbscan_clusters", "clusteredness")

    def __init__(self, module) -> None:
        self.module, self.times, self.saved = module, {}, {}

    def __enter__(self):
        for name in self.STAGES:
            self.saved[name] = fn = getattr(self.module, name)
            setattr(self.module, name, self._wrap(name, fn))
        return self

    def _wrap(self, name, fn):
        def wrapper(*args, **kwargs):
            out, wall, cpu = timed(fn, *args, **kwargs)
            self.times[name] = (wall, cpu)
            return out
        return wrapper

    def __exit__(self, *exc) -> None:
        for name, fn in self.saved.items():
            setattr(self.module, name, fn)

    def table(self) -> str:
        total = sum(w for w, _ in self.times.values())
        return "\n".join(f"    {name:28s} {w:7.1f} s wall {c:7.1f} s CPU {100 * w / total:5.1f} %"
                         for name, (w, c) in self.times.items())


def speed(threads: int, restarts: int) -> None:
    from _module_like import module_like

    from compute.encoding import manifold
    from compute.encoding.neural_matrix import neural_matrix, reduce_pca
    from compute.encoding.tensor import encoding_tensor

    modules = {"before": module_at(BEFORE_COMMIT, "compute/encoding/permuted_cp.py", "permuted_cp_before"),
               "after": importlib.import_module("compute.encoding.permuted_cp")}
    rs = module_like(2000, seed=3)
    tensor = encoding_tensor(rs)
    rank = 9
    per_evaluation(modules, tensor.tensor, rank, threads)
    per_restart(modules, tensor.tensor, rank, threads, restarts)
    cp = modules["after"].permuted_cp(tensor.tensor, rank, n_restarts=1, random_state=0)
    red = reduce_pca(neural_matrix(tensor.full, cp, significant=tensor.significant).coords)
    _, removed = manifold.nearest_neighbour_outliers(red.points, k_far=3, k_near=10)
    per_lp({"before": module_at(BEFORE_COMMIT, "compute/encoding/ian.py", "ian_before"),
            "after": importlib.import_module("compute.encoding.ian")}, red.points[~removed])
    with StageTimer(manifold) as stages:
        result, wall, cpu = timed(manifold.encoding_manifold, rs, rank=rank)
    d = result.diagnostics
    print(f"[speed] encoding manifold of 2000 units with the v2 defaults ({d['n_restarts']} restarts, IAN "
          f"{d['ian_objective']}, outliers {d['k_far']} + {d['k_near']}): {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(goal <= 120 s on 2 cores; {load()}); fit {d['fit']:.4f}, {d['ian_iterations']} IAN iterations")
    print(stages.table())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=20, help="restarts of the recovery run (20)")
    parser.add_argument("--rank-scan", action="store_true", help="run the full rank scan (long)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--only", choices=("recovery", "restart", "embedding", "scan", "speed"), default=None)
    parser.add_argument("--speed-restarts", type=int, default=4, help="restarts per version in the speed section (4)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    steps = {"recovery": lambda: recovery(args.restarts), "restart": restart_timing, "embedding": embedding_2000,
             "scan": lambda: rank_scan(args.rank_scan), "speed": lambda: speed(args.threads, args.speed_restarts)}
    for name, step in steps.items():
        if args.only in (None, name):
            step()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
