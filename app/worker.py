"""Celery worker entry point: ``celery -A app.worker worker -Q cpu`` (TWINSCOPE_BROKER_URL must be set).

The worker builds the same Dash app as the web server, which registers every background callback as a
Celery task. ``python -m app.worker --gpus 0,1 --cpu 1`` starts one worker per GPU (its own
CUDA_VISIBLE_DEVICES, concurrency 1, queue ``gpu``) and ``--cpu`` CPU workers (queue ``cpu``, concurrency
``--concurrency``), and stops them all when one exits or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from typing import Any

_lock = threading.Lock()
_celery: Any = None


def _build() -> Any:
    global _celery
    with _lock:
        if _celery is None:
            from app import create_app
            from compute.config import Settings

            settings = Settings.from_env()
            if not settings.broker_url:
                raise ValueError("a worker needs TWINSCOPE_BROKER_URL (e.g. redis://host:6379/0); it is not set")
            _celery = create_app(settings).server.config["TWINSCOPE_CELERY"]
    return _celery


def __getattr__(name: str) -> Any:
    # ``celery -A app.worker`` looks for ``app`` then ``celery``: build on that first access, not at import.
    if name in ("app", "celery"):
        return _build()
    raise AttributeError(f"module 'app.worker' has no attribute {name!r}")


def worker_commands(gpus: list[str], n_cpu: int, concurrency: int) -> list[tuple[list[str], dict[str, str]]]:
    """(argv, extra environment) of each worker process ``python -m app.worker`` starts."""
    base = [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--loglevel", "INFO"]
    commands = [(base + ["-Q", "gpu", "-c", "1", "-n", f"gpu{gpu}@%h"],
                 {"CUDA_VISIBLE_DEVICES": gpu, "TWINSCOPE_DEVICE": "cuda"}) for gpu in gpus]
    commands += [(base + ["-Q", "cpu", "-c", str(concurrency), "-n", f"cpu{i}@%h"],
                  {"CUDA_VISIBLE_DEVICES": "", "TWINSCOPE_DEVICE": "cpu"}) for i in range(n_cpu)]
    return commands


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="start twinscope Celery workers (needs TWINSCOPE_BROKER_URL)")
    parser.add_argument("--gpus", default="", help="comma-separated GPU indices, one worker each (e.g. 0,1)")
    parser.add_argument("--cpu", type=int, default=1, help="number of CPU workers (default 1)")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs per CPU worker (default 1)")
    args = parser.parse_args(argv)
    gpus = [g.strip() for g in args.gpus.split(",") if g.strip()]
    if not os.environ.get("TWINSCOPE_BROKER_URL"):
        parser.error("set TWINSCOPE_BROKER_URL, e.g. redis://localhost:6379/0")
    if args.cpu < 0 or args.concurrency < 1 or not (gpus or args.cpu):
        parser.error(f"need at least one worker and --concurrency >= 1; got --gpus {args.gpus!r} --cpu {args.cpu} "
                     f"--concurrency {args.concurrency}")
    procs = [subprocess.Popen(cmd, env={**os.environ, **extra}) for cmd, extra in worker_commands(
        gpus, args.cpu, args.concurrency)]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        os.wait()  # the first worker to exit ends the group
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait()
    return max((p.returncode or 0) for p in procs) if procs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
