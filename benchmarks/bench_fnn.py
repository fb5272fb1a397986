"""Throughput of the FNN (U = 9941 by default): frame-samples per second and peak RSS.

    python benchmarks/bench_fnn.py [--units 9941] [--batches 1 8 24 48] [--threads 1 2] [--frames 6]
                                   [--device cpu]

Each configuration runs a fresh sequence (reset, 2 warm-up frames that also build the cached weights,
then ``--frames`` timed frames) under ``torch.inference_mode``. Frame-samples per second = batch * frames
/ seconds; the extraction of METHODS 2.3 needs 7,992 of them per model (216 sequences x 37 frames). Peak
RSS is the process maximum so far (ru_maxrss), so read it per row as "at most". On a shared machine the
wall-clock numbers swing with the load of other processes (the 1-minute load average is printed with every
row); the CPU time this process used per frame-sample (all threads summed) is the steadier figure, and with
1 thread it is close to the wall time the same work takes on an idle core.

``--workers N`` compares, paired and alternating over N rounds, one process with 2 threads against two
concurrent processes with 1 thread each (each a fresh interpreter timing ``--frames`` frames of batch
``--batches[0]``); the two-process throughput is the sum of both processes' frame-samples over the span
from the first start to the last end of their timed frames.

``--compile N`` compares, paired and alternating over N rounds in one process, the eager forward with one
whose CvT-LSTM step (``core.recurrent``) runs under ``torch.compile`` (inductor, CPU; effective weights
frozen first, their version check being Python the compiler would break the graph on), batch
``--batches[0]``, ``--threads[0]`` threads; it prints the compile time and the largest relative difference
of the rates. An experiment: extraction does not compile anything.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compute.models.fnn import build_fnn  # noqa: E402

SUITE_FRAMES = (3 * 8 + 8 * 8 * 3) * 37  # 216 sequences: gratings run once per direction (METHODS v2)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(units: int, batch: int, threads: int, frames: int, device: str) -> dict:
    torch.set_num_threads(threads)
    model = build_fnn(n_units=units, seed=0).to(device)
    stimulus = torch.rand(frames + 2, batch, 1, 144, 256, generator=torch.Generator().manual_seed(0)).to(device)
    model.reset()
    with torch.inference_mode():
        for frame in stimulus[:2]:
            model(frame)
        if device == "cuda":
            torch.cuda.synchronize()
        start, cpu_start, epoch = time.perf_counter(), time.process_time(), time.time()
        for frame in stimulus[2:]:
            model(frame)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    rate = batch * frames / seconds
    return {"batch": batch, "threads": threads, "ms_per_frame_sample": 1e3 / rate, "frame_samples_per_s": rate,
            "cpu_ms_per_frame_sample": 1e3 * cpu_seconds / (batch * frames),
            "suite_minutes": SUITE_FRAMES / rate / 60, "peak_rss_mib": _peak_rss_mib(),
            "load": os.getloadavg()[0], "start": epoch, "end": epoch + seconds}


def _children(args: argparse.Namespace, n_processes: int, threads: int) -> float:
    """ms per frame-sample of ``n_processes`` concurrent fresh processes with ``threads`` threads each."""
    command = [sys.executable, __file__, "--child", "--units", str(args.units), "--batches", str(args.batches[0]),
               "--threads", str(threads), "--frames", str(args.frames), "--device", args.device]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(n_processes)]
    rows = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    span = max(r["end"] for r in rows) - min(r["start"] for r in rows)
    overlap = min(r["end"] for r in rows) - max(r["start"] for r in rows)
    samples = sum(r["batch"] for r in rows) * args.frames
    print(f"  {n_processes} process(es) x {threads} thread(s): {1e3 * span / samples:6.1f} ms per frame-sample "
          f"(timed spans overlap {max(overlap, 0) / span:.0%}, load {os.getloadavg()[0]:.1f})", flush=True)
    return 1e3 * span / samples


def compare_workers(args: argparse.Namespace) -> None:
    times: dict[tuple[int, int], list[float]] = {(1, 2): [], (2, 1): []}
    for round_ in range(args.workers):
        for config in ((1, 2), (2, 1)) if round_ % 2 == 0 else ((2, 1), (1, 2)):
            times[config].append(_children(args, *config))
    one, two = np.mean(times[(1, 2)]), np.mean(times[(2, 1)])
    print(f"mean: 1 x 2 threads {one:.1f} ms, 2 x 1 thread {two:.1f} ms per frame-sample; ratio {one / two:.2f}")


def compare_compiled(args: argparse.Namespace) -> None:
    from compute.models.fnn import _Leaf

    torch.set_num_threads(args.threads[0])
    model = build_fnn(n_units=args.units, seed=0)
    frames = torch.rand(args.frames + 2, args.batches[0], 1, 144, 256, generator=torch.Generator().manual_seed(0))

    def forward() -> tuple[list[torch.Tensor], float]:
        model.reset()
        with torch.inference_mode():
            outputs = [model(frame) for frame in frames[:2]]
            start = time.perf_counter()
            outputs += [model(frame) for frame in frames[2:]]
        return outputs, 1e3 * (time.perf_counter() - start) / (args.batches[0] * args.frames)

    for leaf in (m for m in model.modules() if isinstance(m, _Leaf)):
        with torch.inference_mode():
            frozen = leaf.effective()
        leaf.effective = lambda frozen=frozen: frozen
    recurrent = model.core.recurrent
    eager = {"eager": recurrent.forward, "compiled": torch.compile(recurrent.forward, dynamic=False)}
    reference, _ = forward()
    start = time.perf_counter()
    recurrent.forward = eager["compiled"]
    outputs, _ = forward()
    diff = max(float(((a - b).abs() / b.abs()).max()) for a, b in zip(outputs, reference))
    print(f"compile + first run {time.perf_counter() - start:.0f} s; largest relative difference of the rates "
          f"{diff:.1e}")
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for round_ in range(args.compile):
        for which in ("eager", "compiled") if round_ % 2 == 0 else ("compiled", "eager"):
            recurrent.forward = eager[which]
            times[which].append(forward()[1])
            print(f"  {which:<8} {times[which][-1]:6.1f} ms per frame-sample (load {os.getloadavg()[0]:.1f})",
                  flush=True)
    print(f"mean: eager {np.mean(times['eager']):.1f}, compiled recurrent step {np.mean(times['compiled']):.1f} ms "
          f"per frame-sample; ratio {np.mean(times['eager']) / np.mean(times['compiled']):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=9941)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 24, 48])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="only compare 1 process x 2 threads with 2 processes x 1 thread, N rounds")
    parser.add_argument("--compile", type=int, default=0, metavar="N",
                        help="only compare eager with a compiled recurrent step, N rounds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.units, args.batches[0], args.threads[0], args.frames, args.device)))
        return 0
    if args.workers:
        compare_workers(args)
        return 0
    if args.compile:
        compare_compiled(args)
        return 0
    print(f"torch {torch.__version__}, device {args.device}, units {args.units}, cores {os.cpu_count()}, "
          f"after import RSS {_peak_rss_mib():.0f} MiB")
    print(f"{'batch':>5} {'threads':>7} {'ms/frame-sample':>15} {'frame-samples/s':>15} {'CPU ms/f-s':>10} "
          f"{'suite (min)':>11} {'peak RSS MiB':>12} {'load':>5}")
    for threads in args.threads:
        for batch in args.batches:
            row = run(args.units, batch, threads, args.frames, args.device)
            print(f"{row['batch']:>5} {row['threads']:>7} {row['ms_per_frame_sample']:>15.1f} "
                  f"{row['frame_samples_per_s']:>15.2f} {row['cpu_ms_per_frame_sample']:>10.1f} "
                  f"{row['suite_minutes']:>11.1f} {row['peak_rss_mib']:>12.0f} "
                  f"{row['load']:>5.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
