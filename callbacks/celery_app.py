"""Jobs on Celery workers (TWINSCOPE_BROKER_URL set): the Celery app, the Dash manager, worker status.

The web server and every worker build the same Dash app (``app.worker``), so each background callback is
registered as the same Celery task on both sides. ``TwinscopeCeleryManager`` is Dash's ``CeleryManager``
plus three things:

- routing: a job that must extract a model module whose responses are not cached goes to the ``gpu``
  queue when a GPU worker is connected, every other job to ``cpu``;
- lost jobs: a running job writes a heartbeat key (lease ``TWINSCOPE_LEASE_S``); when its worker dies
  (``kill -9``: heartbeat gone, or Celery's WorkerLostError) the job ends with a readable error instead
  of waiting forever. Lost jobs are not retried (``task_acks_late`` off): the user reruns, and the rerun
  computes what the dead job did not publish;
- ``workers(celery)``: connected workers, their queues, GPU and active job count (``/health``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Callable

from celery import Celery, signals
from celery.worker import state as worker_state
from celery.worker.control import inspect_command
from dash import CeleryManager

from callbacks.jobs import parse_request
from compute.locks import lease_seconds
from compute.sources import source_key

HEARTBEAT_PREFIX = "twinscope:alive:"
WORKERS_TTL_S = 10.0
INSPECT_TIMEOUT_S = 1.0


def make_celery(broker_url: str) -> Celery:
    """Celery app on ``broker_url`` (Redis; also the result backend Dash reads progress and results from)."""
    if not isinstance(broker_url, str) or not broker_url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"TWINSCOPE_BROKER_URL must be a Redis URL like redis://host:6379/0; got {broker_url!r}")
    celery = Celery("twinscope", broker=broker_url, backend=broker_url)
    celery.conf.update(
        task_default_queue="cpu", task_track_started=True, task_acks_late=False,
        # A busy worker must not hold a second job that another worker could run. With early acks the
        # prefetch limit alone does not ensure this (the running job's message is already acked).
        worker_prefetch_multiplier=1, worker_disable_prefetch=True,
        broker_connection_retry_on_startup=True, result_expires=86400, result_extended=True,
    )
    return celery


# ------------------------------------------------------------------------------------------ worker side
_beats: dict[str, threading.Event] = {}


@signals.task_prerun.connect(weak=False, dispatch_uid="twinscope-heartbeat-start")
def _start_heartbeat(task_id=None, task=None, **_):
    """Set the job's heartbeat before it runs (so STARTED implies a heartbeat), then renew it."""
    client = task.backend.client
    lease = lease_seconds()
    name = HEARTBEAT_PREFIX + task_id
    client.set(name, os.getpid(), ex=max(1, round(lease)))
    stop = _beats[task_id] = threading.Event()

    def beat():
        while not stop.wait(lease / 3):
            client.set(name, os.getpid(), ex=max(1, round(lease)))
        client.delete(name)

    threading.Thread(target=beat, daemon=True, name=f"heartbeat-{task_id[:8]}").start()


@signals.task_postrun.connect(weak=False, dispatch_uid="twinscope-heartbeat-stop")
def _stop_heartbeat(task_id=None, **_):
    stop = _beats.pop(task_id, None)
    if stop is not None:
        stop.set()


@inspect_command()
def twinscope_worker(state) -> dict:
    """What ``/health`` shows of a worker: queues, visible GPU and number of running jobs."""
    queues = sorted(q.name for q in state.consumer.task_consumer.queues)
    return {"queues": queues, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES") or None,
            "active": len(worker_state.active_requests)}


def workers(celery: Celery, *, timeout: float = INSPECT_TIMEOUT_S) -> list[dict]:
    """Connected workers: ``[{"name", "queues", "gpu", "active"}]`` sorted by name (empty when none)."""
    replies = celery.control.broadcast("twinscope_worker", reply=True, timeout=timeout) or []
    found = [{"name": name, **info} for reply in replies for name, info in reply.items() if isinstance(info, dict)]
    return sorted(found, key=lambda w: w["name"])


# ------------------------------------------------------------------------------------------ web side
class TwinscopeCeleryManager(CeleryManager):
    """Dash's CeleryManager with GPU routing and readable failures of jobs whose worker died.

    Parameters
    ----------
    celery_app : celery.Celery
        From ``make_celery``.
    needs_gpu : callable(args) -> bool, optional
        True when a job with these callback arguments extracts a model module (prefers a GPU worker).
    """

    def __init__(self, celery_app: Celery, *, needs_gpu: Callable[[Any], bool] | None = None) -> None:
        super().__init__(celery_app)
        self.needs_gpu = needs_gpu or (lambda args: False)
        self._gpu_seen = (0.0, False)

    def gpu_worker_up(self) -> bool:
        """Whether any connected worker consumes the ``gpu`` queue (asked at most every 10 s)."""
        checked, up = self._gpu_seen
        if time.monotonic() - checked > WORKERS_TTL_S:
            up = any("gpu" in w["queues"] for w in workers(self.handle, timeout=0.5))
            self._gpu_seen = (time.monotonic(), up)
        return up

    def queue_for(self, args) -> str:
        return "gpu" if self.needs_gpu(args) and self.gpu_worker_up() else "cpu"

    def call_job_fn(self, key, job_fn, args, context):
        task = job_fn.apply_async((key, self._make_progress_key(key), args, context), queue=self.queue_for(args))
        return task.task_id

    def lost_reason(self, job) -> str | None:
        """Why a job without a result will never deliver one (its worker died), or None."""
        if job is None:
            return None
        task = self.get_task(job)
        if task.state == "FAILURE":
            return (f"the worker running this job stopped ({task.result!r}); nothing partial was saved. "
                    "Press Run to compute it again.")
        if task.state == "STARTED" and not self.handle.backend.client.exists(HEARTBEAT_PREFIX + job):
            return ("the worker running this job stopped responding (killed or its machine went away); "
                    "nothing partial was saved. Press Run to compute it again.")
        return None

    def job_running(self, job):
        return super().job_running(job) and self.lost_reason(job) is None

    def get_result(self, key, job):
        result = super().get_result(key, job)
        if result is self.UNDEFINED:
            reason = self.lost_reason(job)
            if reason is not None:
                with contextlib.suppress(Exception):
                    self.terminate_job(job)
                return {"background_callback_error": {"msg": reason, "tb": ""}}
        return result


def needs_extraction(args, *, ctx) -> bool:
    """Whether a job's callback arguments ``[n_clicks, request]`` ask for an uncached model module."""
    request = args[-1] if isinstance(args, (list, tuple)) and args else None
    try:
        items = parse_request(request)
    except (ValueError, TypeError):
        return False
    return any(source.kind == "model" and source_key(source, run=ctx.run, settings=ctx.settings) not in ctx.cache
               for _, source, _ in items)
