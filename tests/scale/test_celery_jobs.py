"""Jobs through Celery (TWINSCOPE_BROKER_URL set) on a real redis-server and two real worker processes.

The web side is a real twinscope app: its manager submits the Explore page's job exactly as Dash does
(``call_job_fn`` / ``get_result`` / ``job_running`` / ``terminate_job``, the last being what Cancel calls).
Each test starts from an empty shared cache, so every job extracts its module and runs for seconds.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from callbacks.celery_app import workers as connected_workers
from compute.cache import default_cache
from tests.scale.conftest import LEASE_S, explore_job, explore_request, job_key, wait_for

pytestmark = pytest.mark.slow
JOB_TIMEOUT_S = 150


@pytest.fixture(autouse=True)
def nothing_cached(web, workers):
    """Empty the shared cache (the workers are idle between tests): no job is served by another test's
    entries, e.g. the browser test's module, which would end a job before its worker could be observed."""
    root = default_cache().root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)


def _submit(web, request: dict) -> tuple[str, str]:
    manager, job_fn = explore_job(web)
    key = job_key()
    return key, manager.call_job_fn(key, job_fn, [1, request, "test-session"], {})


def _outcome(web, key: str, job: str, timeout: float = JOB_TIMEOUT_S):
    """The job's outputs as Dash's dispatcher reads them: [result, error, progress, stage]."""
    manager = web._background_manager
    return wait_for(lambda: (lambda r: None if r is manager.UNDEFINED else r)(manager.get_result(key, job)),
                    timeout, f"job {job}")


def _view_key(web, module: str, view: str = "decoding") -> str:
    from compute.profiles import run_profile
    from compute.config import Settings
    from compute.sources import Source
    from compute.workflows import view_key

    profile = run_profile()
    return view_key(view, Source.parse(f"model:conv3d-random:{module}"), run=profile.run,
                    settings=Settings.from_env(), **profile.options_for(view))


def _started_on(web, job: str) -> str:
    """Hostname of the worker running ``job`` (waits for the STARTED state)."""
    task = web._background_manager.get_task(job)
    info = wait_for(lambda: task.state == "STARTED" and task.info, JOB_TIMEOUT_S, f"job {job} to start")
    return info["hostname"]


def _ran_on(web, job: str) -> str:
    """Hostname of the worker that took ``job``: recorded from STARTED on (``result_extended``), so a job
    that has already finished still answers."""
    task = web._background_manager.get_task(job)
    return wait_for(lambda: task.worker, JOB_TIMEOUT_S, f"job {job} to start")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _published(workers, key: str) -> int:
    """How often the workers' logs say they computed ``key`` (so far, over all tests)."""
    return workers.log_text().count(f"computed and published {key}")


# ------------------------------------------------------------------------------------------ (a) parallel
def test_two_different_jobs_run_in_parallel_on_the_two_workers(web, workers):
    (k1, j1), (k2, j2) = _submit(web, explore_request("Conv1")), _submit(web, explore_request("Conv2"))
    hosts = {_ran_on(web, j1), _ran_on(web, j2)}
    assert hosts == {workers.hostname("w1"), workers.hostname("w2")}
    busy = wait_for(lambda: [w for w in connected_workers(web.server.config["TWINSCOPE_CELERY"]) if w["active"]],
                    10, "workers to report their running jobs")
    assert len(busy) == 2 and all(w["queues"] == ["cpu"] and w["gpu"] is None for w in busy)
    health = web.server.test_client().get("/health").get_json()
    assert health["jobs"] == "celery" and {w["name"] for w in health["workers"]} == hosts
    for key, job, module in ((k1, j1, "Conv1"), (k2, j2, "Conv2")):
        result, error, progress, stage = _outcome(web, key, job)
        assert error == "" and progress == "1" and stage.startswith("done: 1 of 1")
        assert result["views"][0]["key"] == _view_key(web, module)


def test_a_third_job_waits_in_the_queue_not_on_a_busy_worker(web, workers):
    """A busy worker reserves nothing more (``worker_disable_prefetch``), so the first worker to free up
    takes the next job instead of it waiting behind a job on a worker that took it early."""
    jobs = [_submit(web, explore_request(module)) for module in ("Conv1", "Conv2", "Conv3")]
    first_two = {_ran_on(web, j) for _, j in jobs[:2]}
    assert first_two == {workers.hostname("w1"), workers.hostname("w2")}
    inspect = web.server.config["TWINSCOPE_CELERY"].control.inspect(timeout=1.0)
    assert sum(len(tasks) for tasks in (inspect.reserved() or {}).values()) == 0
    for key, job in jobs:
        assert _outcome(web, key, job)[1] == ""


# ------------------------------------------------------------------------------------------ (b) compute once
def test_two_identical_jobs_compute_once(web, workers):
    view = _view_key(web, "Conv3")
    before = _published(workers, view)
    (k1, j1), (k2, j2) = _submit(web, explore_request("Conv3")), _submit(web, explore_request("Conv3"))
    assert _ran_on(web, j1) != _ran_on(web, j2)  # both ran at once, one waited on the Redis lock
    outcomes = [_outcome(web, k1, j1), _outcome(web, k2, j2)]
    assert [o[0]["views"][0]["key"] for o in outcomes] == [view, view]
    assert _published(workers, view) == before + 1


# ------------------------------------------------------------------------------------------ (c) cancel
def test_cancel_stops_the_job_on_its_worker(web, workers):
    manager = web._background_manager
    key, job = _submit(web, explore_request("Pool"))
    host = _started_on(web, job)
    pid = manager.get_task(job).info["pid"]
    manager.terminate_job(job)  # what the shell's Cancel button triggers
    wait_for(lambda: manager.get_task(job).state == "REVOKED", 20, "the job to be revoked")
    celery = web.server.config["TWINSCOPE_CELERY"]
    wait_for(lambda: all(w["active"] == 0 for w in connected_workers(celery) if w["name"] == host), 20,
             "the worker to stop the job")
    wait_for(lambda: not _alive(pid), 20, f"the job's process {pid} to end")
    assert not manager.job_running(job)
    assert manager.get_result(key, job) is manager.UNDEFINED
    assert _view_key(web, "Pool") not in default_cache()


# ------------------------------------------------------------------------------------------ (d) kill -9
def test_killed_worker_fails_readably_and_a_rerun_computes(web, workers):
    from callbacks.jobs import job_failed
    from dash.exceptions import BackgroundCallbackError

    view = _view_key(web, "Output")
    before = _published(workers, view)
    key, job = _submit(web, explore_request("Output"))
    host = _started_on(web, job)
    workers.kill(host)
    try:
        lost = _outcome(web, key, job, timeout=LEASE_S + 20)
        message = lost["background_callback_error"]["msg"]
        assert "stopped" in message and "nothing partial was saved" in message
        shown = job_failed(BackgroundCallbackError(f"An error occurred inside a background callback: {message}\n"))
        assert shown[1].startswith("Job failed: the worker running this job stopped") and shown[3] == "failed"
        assert not web._background_manager.job_running(job)
        assert view not in default_cache()  # nothing partial is served
        started = time.monotonic()
        rerun_key, rerun = _submit(web, explore_request("Output"))
        result, error, _, _ = _outcome(web, rerun_key, rerun)
        assert error == "" and result["views"][0]["key"] == view
        assert view in default_cache() and _published(workers, view) == 1
        assert time.monotonic() - started < JOB_TIMEOUT_S
    finally:
        workers.ensure()
