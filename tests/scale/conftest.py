"""A real redis-server on a free loopback port and two real Celery worker processes (``celery -A app.worker``)
sharing one cache folder with the test process, in the "test" profile (small 3-D CNN, jobs of seconds).

The Debian package redis-server must be installed (scripts/test.sh installs it); a missing binary fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LEASE_S = 3  # short leases: a dead worker's job and lock are given up after 3 s
START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll ``condition()`` until truthy; returns its value or fails with ``what``."""
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server on a free loopback port (no persistence); returns (process, URL) once it answers."""
    binary = "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else "redis-server"
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    client = redis.Redis(port=port)

    def up():
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    wait_for(up, 20, "redis-server to answer")
    return proc, f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    try:
        proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    except FileNotFoundError:
        pytest.fail("redis-server is not installed: apt-get install -y redis-server (scripts/test.sh does it)",
                    pytrace=False)
    yield url
    proc.terminate()
    proc.wait(10)


class WorkerPool:
    """Celery worker processes (one job at a time each, queue ``cpu`` unless told); ``kill`` SIGKILLs one."""

    def __init__(self, env: dict, logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, {}

    def start(self, name: str, queues: str = "cpu") -> None:
        log = open(self.logs / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "-Q", queues, "-c", "1",
             "-n", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def hostname(self, name: str) -> str:
        return f"{name}@{socket.gethostname()}"

    def kill(self, hostname: str) -> None:
        """SIGKILL the whole worker (main process and its pool child), like a machine going away."""
        name = hostname.split("@")[0]
        os.killpg(self.procs.pop(name).pid, signal.SIGKILL)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def scale_env(redis_url, data_dir, tmp_path_factory) -> dict:
    """Environment shared by the workers and the test's web app: one broker, one shared cache folder."""
    cache = tmp_path_factory.mktemp("shared-cache")
    return {**os.environ, "TWINSCOPE_BROKER_URL": redis_url, "TWINSCOPE_CACHE_DIR": str(cache),
            "TWINSCOPE_DATA_DIR": str(data_dir), "TWINSCOPE_PROFILE": "test", "TWINSCOPE_DEVICE": "cpu",
            "TWINSCOPE_LEASE_S": str(LEASE_S), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="session")
def workers(scale_env, tmp_path_factory):
    """Two connected workers, ``w1`` and ``w2``; a test that kills one gets it back with ``ensure``."""
    pool = WorkerPool(scale_env, tmp_path_factory.mktemp("worker-logs"))
    pool.ensure = lambda: _ensure(pool)
    pool.ensure()
    yield pool
    pool.stop()


def _ensure(pool: WorkerPool) -> None:
    from callbacks.celery_app import make_celery, workers

    for name in ("w1", "w2"):
        if name not in pool.procs or pool.procs[name].poll() is not None:
            pool.start(name)
    celery = make_celery(pool.env["TWINSCOPE_BROKER_URL"])
    wanted = {pool.hostname("w1"), pool.hostname("w2")}
    wait_for(lambda: wanted <= {w["name"] for w in workers(celery, timeout=0.5)}, START_TIMEOUT_S,
             f"workers {sorted(wanted)} to connect (logs: {pool.logs})", interval=0.5)


@pytest.fixture
def web(scale_env, monkeypatch):
    """The web side: a twinscope app on the broker (its manager submits jobs) and its AppContext pieces."""
    from app import create_app
    from compute.config import Settings

    for name in ("TWINSCOPE_BROKER_URL", "TWINSCOPE_CACHE_DIR", "TWINSCOPE_DATA_DIR", "TWINSCOPE_PROFILE",
                 "TWINSCOPE_LEASE_S"):
        monkeypatch.setenv(name, scale_env[name])
    return create_app(Settings.from_env())


def explore_job(web):
    """(manager, Celery task) of the Explore page's background job in ``web``."""
    from dash.background_callback.managers import BaseBackgroundCallbackManager as Base

    callback_id = next(c for c in web.callback_map if c.startswith('..{"page":"explore","type":"job-result"}'))
    fn = next(f for _, f, _ in reversed(Base.functions) if f.__name__ == "run_job")
    manager = web._background_manager
    return manager, manager.func_registry[Base.hash_function(fn, callback_id)]


def explore_request(module: str, view: str = "decoding") -> dict:
    """A one-view Explore request on a module of the small test model."""
    return {"page": "explore", "views": [{"view": view, "source": f"model:conv3d-random:{module}", "options": {}}]}


def job_key(prefix: str = "job") -> str:
    """A fresh Dash result key (the dispatcher hashes the callback; any unique string works here)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def pytest_setup_options():
    """Headless Chromium for the browser test of this folder (the same flags as tests/browser)."""
    from tests._browser import chromium_options

    return chromium_options()
