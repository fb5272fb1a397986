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
5. speed (issue 16 item 3), on a 2000-unit model-like module (optSF tensor 2000 x 6 x 296, rank 9 = Rec):
   time per objective evaluation, v1 kernel (commit 1862493, read with ``git show``) against the current
   one, paired and alternating; time per restart and evaluations per restart, v1 code (sequential, its
   ftol 1e-7) against the current code (authors' tolerances, restarts in parallel); then the whole encoding
   manifold with the v2 defaults (50 restarts, IAN by linear program; goal <= 120 s on 2 cores).

Usage: python benchmarks/bench_encoding.py [--restarts 20] [--rank-scan] [--threads 2] [--only speed]
"""

from __future__ import annotations

import argparse
import importlib.util
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


V1_COMMIT = "1862493"


def v1_permuted_cp():
    """The permuted-CP module as of ``V1_COMMIT`` (before issue 16), loaded from git for the comparison."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{V1_COMMIT}:compute/encoding/permuted_cp.py"], cwd=root,
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "permuted_cp_v1.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("permuted_cp_v1", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def speed(threads: int) -> None:
    import torch
    from _module_like import module_like

    from compute.encoding.manifold import encoding_manifold
    from compute.encoding.tensor import encoding_tensor

    current = importlib.import_module("compute.encoding.permuted_cp")  # the package re-exports a function
    old = v1_permuted_cp()
    rs = module_like(2000, seed=3)
    X = encoding_tensor(rs).tensor
    rank = 9
    objectives = {"v1": old._Objective(X, rank, 8, torch.device("cpu")),
                  "v2": current._Objective(X, rank, 8, torch.device("cpu"))}
    theta = current._random_start(objectives["v2"].shape, rank, np.random.default_rng(0))
    f = {name: obj(theta)[0] for name, obj in objectives.items()}
    print(f"[speed] tensor {X.shape}, rank {rank}; f v1 {f['v1']:.7f} vs v2 {f['v2']:.7f}")
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        times = {name: [] for name in objectives}
        for _ in range(7):                                  # paired, alternating
            for name, obj in objectives.items():
                start = time.perf_counter()
                for _ in range(5):
                    obj(theta)
                times[name].append((time.perf_counter() - start) / 5 * 1000)
        med = {name: float(np.median(v)) for name, v in times.items()}
        print(f"  per evaluation, {n_threads} torch thread(s): v1 {med['v1']:.1f} ms, v2 {med['v2']:.1f} ms "
              f"(median of 7 alternating rounds; v1 / v2 = {med['v1'] / med['v2']:.2f})")
    torch.set_num_threads(threads)
    n = 2 * threads
    runs = {}
    for name in ("v1", "v2", "v1 again", "v2 again"):      # alternating
        if name.startswith("v1"):
            result, wall, _ = timed(old.permuted_cp, X, rank, n_restarts=n, random_state=0)
            evals = None
        else:
            result, wall, _ = timed(current.permuted_cp, X, rank, n_restarts=n, random_state=0, n_jobs=threads)
            evals = result.n_evaluations
        runs[name] = (wall, result, evals)
        extra = "" if evals is None else f", {evals.mean():.0f} evaluations per restart"
        print(f"  {name}: {n} restarts in {wall:.1f} s wall = {wall / n:.2f} s per restart{extra}; "
              f"best error {result.error:.4f} (errors {np.round(result.restart_errors, 4).tolist()})")
    ratio = (runs["v1"][0] + runs["v1 again"][0]) / (runs["v2"][0] + runs["v2 again"][0])
    print(f"  per restart v1 / v2 = {ratio:.2f} (v1: sequential, ftol 1e-7; v2: {threads} restarts at once, "
          "factr 1e-5, pgtol 1e-4)")
    manifold, wall, cpu = timed(encoding_manifold, rs, rank=rank)
    d = manifold.diagnostics
    print(f"[speed] encoding manifold of 2000 units with the v2 defaults ({d['n_restarts']} restarts, IAN "
          f"{d['ian_objective']}, outliers {d['k_far']} + {d['k_near']}): {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(goal <= 120 s on 2 cores); fit {d['fit']:.4f}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=20, help="restarts of the recovery run (20)")
    parser.add_argument("--rank-scan", action="store_true", help="run the full rank scan (long)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--only", choices=("recovery", "restart", "embedding", "scan", "speed"), default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    steps = {"recovery": lambda: recovery(args.restarts), "restart": restart_timing, "embedding": embedding_2000,
             "scan": lambda: rank_scan(args.rank_scan), "speed": lambda: speed(args.threads)}
    for name, step in steps.items():
        if args.only in (None, name):
            step()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
