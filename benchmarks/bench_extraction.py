"""Wall time and peak RSS of a full extraction (all modules of a model) and of the quick look.

    python benchmarks/bench_extraction.py [--quick] [--model fnn-random] [--modules Rec ...] [--threads 2]
                                          [--batch-size 24]

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
    from compute.extraction import passes
    from compute.cache import ArtifactCache
    from compute.config import Settings
    from compute.jobs import JobControl
    from compute.stimuli import SuiteSpec

    if args.threads:
        torch.set_num_threads(args.threads)
    marks: dict[str, float] = {}
    passes: set[str] = set()
    spill = {"bytes": 0, "read_s": 0.0}
    read_back = passes._ScorePass.responses

    def timed_read_back(step, name, unit, control):
        start = time.perf_counter()
        try:
            return read_back(step, name, unit, control)
        finally:
            spill["read_s"] += time.perf_counter() - start
            spill["bytes"] += os.fstat(step.spill[name].fileno()).st_size

    passes._ScorePass.responses = timed_read_back

    def progress(fraction: float, text: str) -> None:
        if text.startswith("pass"):
            marks.setdefault("passes", time.perf_counter())
            passes.add(text.split(" (")[0])

    classes = (QUICK_CLASS,) if args.quick else tuple(range(N_CLASSES))
    n_frames = QUICK_FRAMES if args.quick else N_FRAMES
    suite = SuiteSpec(n_instances=args.instances, n_frames=n_frames, classes=classes)
    settings = Settings.from_env()
    start = time.perf_counter()
    keys = extraction.extract(args.model, args.modules, suite=suite,
                              cache=ArtifactCache(settings.cache_dir / "artifacts"), settings=settings,
                              control=JobControl(progress=progress), batch_size=args.batch_size)
    end = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    setup = marks.get("passes", end) - start
    print(json.dumps({"modules": len(keys), "classes": len(classes), "frames": n_frames,
                      "wall_s": end - start, "setup_s": setup,
                      "passes_s": end - start - setup, "threads": torch.get_num_threads(),
                      "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024,
                      "passes": sorted(passes), "spill_bytes": spill["bytes"], "read_back_s": spill["read_s"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 class x 8 frames, extrapolated to 11 x 37")
    parser.add_argument("--model", default="fnn-random")
    parser.add_argument("--modules", nargs="+", default=None, help="module names (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--instances", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instances is not None:
        _child(args)
        return
    what = "--quick (1 class x 8 frames, extrapolated)" if args.quick else "whole suite"
    work = Settings.from_env().cache_dir
    work.mkdir(parents=True, exist_ok=True)
    print(f"bench_extraction: model {args.model}, modules {args.modules or 'all'}, {what}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for label, instances in (("full (3 instances)", 3), ("quick look (1 instance)", 1)):
        with tempfile.TemporaryDirectory(prefix="bench-extraction-", dir=work) as tmp:
            command = [sys.executable, __file__, "--instances", str(instances), "--model", args.model]
            command += ["--quick"] if args.quick else []
            command += ["--modules", *args.modules] if args.modules else []
            command += ["--threads", str(args.threads)] if args.threads else []
            command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
            env = {**os.environ, "TWINSCOPE_CACHE_DIR": tmp, "PYTHONPATH": str(REPO)}
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{label} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        runs = 8 * (N_GRATINGS + (N_CLASSES - N_GRATINGS) * instances)  # gratings run once per direction
        quick_runs = 8 * instances if args.quick else runs
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
