"""Celery scale-out: wall time of N small-model jobs on 1 vs 2 CPU workers, and the queue overhead per job.

    TWINSCOPE_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_workers.py [--jobs 4] [--rounds 2]

Starts a redis-server on a free loopback port and two Celery workers (``celery -A app.worker``, test
profile: small 3-D CNN, one instance of 12 frames). Worker ``w1`` also listens on a ``solo`` queue, so
"1 worker" sends the N jobs there and "2 workers" to ``cpu``; the two alternate within each round, on
the same N modules with their artefacts removed in between (the stimulus suite stays cached). Queue
overhead: round trip of an already-cached job through Redis and a worker (submit -> result read, as
Dash polls it) minus the same job run in-process. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import alternating, call_times  # noqa: E402

MODULES = ("Conv1", "Conv2", "Conv3", "Pool", "Output")


def _run(manager, job_fn, requests: list[dict], queue: str) -> float:
    """Wall seconds from submitting every request to ``queue`` until all results are in."""
    from tests.scale.conftest import job_key, wait_for

    start = time.perf_counter()
    keys = []
    for request in requests:
        key = job_key("bench")
        job_fn.apply_async((key, key + "-progress", [1, request, key], {}), queue=queue)
        keys.append(key)
    wait_for(lambda: all(manager.result_ready(k) for k in keys), 1800, "the benchmark jobs", interval=0.05)
    return time.perf_counter() - start


def _forget_models(cache_root: Path) -> None:
    for path in cache_root.glob("*.npz"):
        if not path.name.startswith("stimuli-"):
            path.unlink()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4, help=f"jobs per run (1-{len(MODULES)})")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--overhead-repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= len(MODULES):
        parser.error(f"--jobs must be 1..{len(MODULES)}; got {args.jobs}")
    from tests.scale.conftest import WorkerPool, explore_job, explore_request, start_redis, wait_for

    tmp = Path(tempfile.mkdtemp(prefix="twinscope-bench-workers-"))
    redis_proc, url = start_redis(tmp)
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "TWINSCOPE_BROKER_URL": url, "TWINSCOPE_CACHE_DIR": str(tmp / "cache"),
           "TWINSCOPE_PROFILE": "test", "TWINSCOPE_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    env.setdefault("TWINSCOPE_DATA_DIR", str(repo.parent / "shared" / "data"))
    os.environ.update({k: env[k] for k in ("TWINSCOPE_BROKER_URL", "TWINSCOPE_CACHE_DIR", "TWINSCOPE_PROFILE",
                                          "TWINSCOPE_DATA_DIR")})
    (tmp / "logs").mkdir()
    pool = WorkerPool(env, tmp / "logs")
    try:
        pool.start("w1", queues="cpu,solo")
        pool.start("w2")
        from app import create_app
        from callbacks.celery_app import workers
        from compute.config import Settings

        web = create_app(Settings.from_env())
        celery = web.server.config["TWINSCOPE_CELERY"]
        wait_for(lambda: len(workers(celery, timeout=0.5)) == 2, 180, "two workers", interval=0.5)
        _, job_fn = explore_job(web)
        requests = [explore_request(m) for m in MODULES[:args.jobs]]
        _run(web._background_manager, job_fn, [explore_request(MODULES[-1], "tubularity")], "cpu")  # warm: stimuli, imports
        cache_root = tmp / "cache" / "artifacts"
        times: dict[str, list[float]] = {"solo": [], "cpu": []}
        for r, order in enumerate(alternating(args.rounds, ("solo", "cpu"))):
            for queue in order:
                _forget_models(cache_root)
                times[queue].append(_run(web._background_manager, job_fn, requests, queue))
                print(f"round {r + 1}: {args.jobs} jobs on {'1 worker ' if queue == 'solo' else '2 workers'}: "
                      f"{times[queue][-1]:.1f} s", flush=True)
        one, two = np.median(times["solo"]), np.median(times["cpu"])
        print(f"median: 1 worker {one:.1f} s, 2 workers {two:.1f} s, ratio 1/2 = {one / two:.2f}")

        from app.catalog import get_catalog
        from callbacks.context import AppContext
        from callbacks.jobs import run_views
        from compute.cache import default_cache

        cached = requests[0]
        _run(web._background_manager, job_fn, [cached], "solo")
        trips = [_run(web._background_manager, job_fn, [cached], "solo") for _ in range(args.overhead_repeats)]
        ctx = AppContext(settings=Settings.from_env(), cache=default_cache(), catalog=get_catalog(Settings.from_env()))
        local = call_times(lambda: run_views(lambda update: None, cached, ctx=ctx), args.overhead_repeats)
        trip, here = np.median(trips) * 1e3, np.median(local) * 1e3
        print(f"cached job: round trip through Redis + worker {trip:.0f} ms (p50), in-process {here:.0f} ms; "
              f"queue overhead {trip - here:.0f} ms per job")
    finally:
        pool.stop()
        redis_proc.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
