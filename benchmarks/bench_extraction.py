"""Wall time and peak RSS of a full extraction (all modules of a model) and of the quick look.

    python benchmarks/bench_extraction.py [--quick] [--model fnn-random] [--modules Rec ...] [--threads 2]
                                          [--batch-size 24] [--workers 2]
    python benchmarks/bench_extraction.py --compare-workers 3 --quick --quick-classes 4 \
        --modules 'Enc L2' Rec Readout Output

--compare-workers R runs the quick look R times in each of two configurations, alternating (A B A B ...):
A = one process with 2 torch threads (TWINSCOPE_EXTRACT_WORKERS=1), B = 2 worker processes with 1 thread each;
it prints each run and the ratio of the median wall times (paired, so that load on a shared machine hits both).

Each configuration runs in a fresh subprocess with an empty cache (so nothing is reused and the peak RSS is
that run's own), made under TWINSCOPE_CACHE_DIR (the disk that holds the spill files; /tmp may be in
memory). "full" = 3 instances per condition (the study; gratings run once: 216 sequences), "quick look" =
1 instance (88 sequences). With --quick only one dot-flow class and the first 8 frames are extracted (8 x
instances sequences, 8/37 of the frames) and the time of the passes is extrapolated to the whole suite by
sequences x frames, the spill size (per condition) by conditions x frames; setup (model build, stimulus
rendering, shape probe) is reported apart. The peak RSS of a --quick run is a lower bound. CPU = user +
system seconds of the run (all threads), a number less sensitive than wall time to other processes on a
shared machine. "passes" = passes over the suite; "spill" = bytes written to the spill files and the time
spent reading the sampled units back (part of the passes' time).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from compute.config import Settings  # noqa: E402
N_CLASSES, N_GRATINGS, N_FRAMES, QUICK_FRAMES, QUICK_CLASS = 11, 3, 37, 8, 3


def _child(args: argparse.Namespace) -> None:
    import torch

    from compute import extraction
    from compute.extraction import passes as extraction_passes
    from compute.cache import ArtifactCache
    from compute.config import Settings
    from compute.jobs import JobControl
    from compute.stimuli import SuiteSpec

    if args.threads:
        torch.set_num_threads(args.threads)
    marks: dict[str, float] = {}
    passes: set[str] = set()
    spill = {"bytes": 0, "read_s": 0.0}
    read_back = extraction_passes._ScorePass.responses

    def timed_read_back(step, name, unit, control):
        start = time.perf_counter()
        try:
            return read_back(step, name, unit, control)
        finally:
            spill["read_s"] += time.perf_counter() - start
            spill["bytes"] += os.fstat(step.spill[name].fileno()).st_size

    extraction_passes._ScorePass.responses = timed_read_back

    def progress(fraction: float, text: str) -> None:
        if text.startswith("pass"):
            marks.setdefault("passes", time.perf_counter())
            passes.add(text.split(" (")[0])

    classes = tuple(range(QUICK_CLASS, QUICK_CLASS + args.quick_classes)) if args.quick else tuple(range(N_CLASSES))
    n_frames = QUICK_FRAMES if args.quick else N_FRAMES
    suite = SuiteSpec(n_instances=args.instances, n_frames=n_frames, classes=classes)
    settings = Settings.from_env()
    start = time.perf_counter()
    keys = extraction.extract(args.model, args.modules, suite=suite,
                              cache=ArtifactCache(settings.cache_dir / "artifacts"), settings=settings,
                              control=JobControl(progress=progress), batch_size=args.batch_size)
    end = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes
    setup = marks.get("passes", end) - start
    print(json.dumps({"modules": len(keys), "classes": len(classes), "frames": n_frames,
                      "wall_s": end - start, "setup_s": setup,
                      "passes_s": end - start - setup, "threads": torch.get_num_threads(),
                      "cpu_s": sum(u.ru_utime + u.ru_stime for u in (usage, children)), "peak_rss_mib": usage.ru_maxrss / 1024,
                      "passes": sorted(passes), "spill_bytes": spill["bytes"], "read_back_s": spill["read_s"]}))


def _run_child(args: argparse.Namespace, label: str, instances: int, work: Path, *, threads: int | None,
               workers: int | None) -> dict:
    """One extraction in a fresh subprocess with an empty cache; its JSON line."""
    with tempfile.TemporaryDirectory(prefix="bench-extraction-", dir=work) as tmp:
        command = [sys.executable, __file__, "--instances", str(instances), "--model", args.model]
        command += ["--quick", "--quick-classes", str(args.quick_classes)] if args.quick else []
        command += ["--modules", *args.modules] if args.modules else []
        command += ["--threads", str(threads)] if threads else []
        command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
        env = {**os.environ, "TWINSCOPE_CACHE_DIR": tmp, "PYTHONPATH": str(REPO)}
        if workers is not None:
            env["TWINSCOPE_EXTRACT_WORKERS"] = str(workers)
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{label} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compare_workers(args: argparse.Namespace) -> None:
    work = Settings.from_env().cache_dir
    work.mkdir(parents=True, exist_ok=True)
    configs = {"A: 1 process x 2 threads": (2, 1), "B: 2 workers x 1 thread": (1, 2)}
    print(f"bench_extraction --compare-workers: model {args.model}, modules {args.modules or 'all'}, quick look "
          f"(1 instance){f', {args.quick_classes} classes x 8 frames' if args.quick else ''}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; {args.compare_workers} rounds, alternating")
    walls: dict[str, list[float]] = {label: [] for label in configs}
    for round_ in range(args.compare_workers):
        for label, (threads, workers) in configs.items():
            result = _run_child(args, label, 1, work, threads=threads, workers=workers)
            walls[label].append(result["wall_s"])
            print(f"round {round_ + 1}  {label:<26} wall {result['wall_s']:6.1f} s (setup {result['setup_s']:.1f} s, "
                  f"passes {result['passes_s']:.1f} s)  CPU {result['cpu_s']:6.1f} s  "
                  f"peak RSS {result['peak_rss_mib']:5.0f} MiB (parent)", flush=True)
    a, b = (statistics.median(values) for values in walls.values())
    print(f"median wall: A {a:.1f} s, B {b:.1f} s; A / B = {a / b:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 class x 8 frames, extrapolated to 11 x 37")
    parser.add_argument("--model", default="fnn-random")
    parser.add_argument("--modules", nargs="+", default=None, help="module names (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--quick-classes", type=int, default=1,
                        help="with --quick, how many dot-flow classes (default: 1)")
    parser.add_argument("--workers", type=int, default=None,
                        help="extraction worker processes (default: TWINSCOPE_EXTRACT_WORKERS or automatic)")
    parser.add_argument("--compare-workers", type=int, default=0, metavar="ROUNDS",
                        help="paired, alternating: 1 process x 2 threads against 2 workers x 1 thread (quick look)")
    parser.add_argument("--instances", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instances is not None:
        _child(args)
        return
    if args.compare_workers:
        _compare_workers(args)
        return
    what = "--quick (1 class x 8 frames, extrapolated)" if args.quick else "whole suite"
    work = Settings.from_env().cache_dir
    work.mkdir(parents=True, exist_ok=True)
    print(f"bench_extraction: model {args.model}, modules {args.modules or 'all'}, {what}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for label, instances in (("full (3 instances)", 3), ("quick look (1 instance)", 1)):
        result = _run_child(args, label, instances, work, threads=args.threads, workers=args.workers)
        runs = 8 * (N_GRATINGS + (N_CLASSES - N_GRATINGS) * instances)  # gratings run once per direction
        quick_runs = 8 * instances * result["classes"] if args.quick else runs
        scale = runs / quick_runs * N_FRAMES / result["frames"]
        spill_scale = N_CLASSES / result["classes"] * N_FRAMES / result["frames"]
        estimate = result["setup_s"] + result["passes_s"] * scale
        print(f"{label:<24} modules {result['modules']:>2}  threads {result['threads']}  "
              f"wall {result['wall_s']:7.1f} s (setup {result['setup_s']:.1f} s, passes {result['passes_s']:.1f} s)  "
              f"CPU {result['cpu_s']:7.1f} s  whole suite ~{estimate / 60:6.1f} min  "
              f"peak RSS {result['peak_rss_mib']:6.0f} MiB  passes {', '.join(result['passes'])}  "
              f"spill {result['spill_bytes'] / 1e9:.2f} GB "
              f"(whole suite ~{result['spill_bytes'] * spill_scale / 1e9:.1f} GB)"
              f", read back in {result['read_back_s']:.1f} s")


if __name__ == "__main__":
    main()
