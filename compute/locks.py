"""Per-key locks that make two identical requests compute once (``ArtifactCache.get_or_compute``).

Two kinds, one interface (a callable ``locks(key)`` returning a context manager):

- ``FileLocks(root)``: ``flock`` on a side file next to the artefacts; holds across the threads and
  processes of one machine (the embedded default).
- ``RedisLocks(url)``: a Redis key with an expiry (a lease), renewed by a thread while the holder
  computes; holds across machines that share a cache folder. A holder that dies (``kill -9``, lost
  machine) stops renewing and its lease runs out after ``lease_s`` seconds, so a waiting or later request
  takes over. Publication stays atomic (temporary file + rename in the cache), so a dead holder never
  leaves a partial entry.

``cache_locks(settings)`` picks Redis when TWINSCOPE_BROKER_URL is set, else files.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Callable, ContextManager, Iterator

log = logging.getLogger(__name__)
LockFactory = Callable[[str], ContextManager[None]]
DEFAULT_LEASE_S = 60.0
LEASE_ENV = "TWINSCOPE_LEASE_S"


def lease_seconds(environ: dict | None = None) -> float:
    """Lease of a Redis lock and of a job's heartbeat (TWINSCOPE_LEASE_S, default 60 s)."""
    env = os.environ if environ is None else environ
    raw = env.get(LEASE_ENV) or str(DEFAULT_LEASE_S)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{LEASE_ENV} must be a number of seconds; got {raw!r}") from None
    if not value >= 1.0:
        raise ValueError(f"{LEASE_ENV} must be at least 1 second; got {raw!r}")
    return value


class FileLocks:
    """Exclusive inter-process lock per key: ``flock`` on ``root/.<key>.lock`` (one machine)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @contextlib.contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        with open(self.root / f".{key}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


class RedisLocks:
    """Lock per key in Redis with a lease of ``lease_s`` seconds, renewed every ``lease_s / 3`` s.

    Parameters
    ----------
    url : str
        Redis URL, e.g. ``redis://host:6379/0`` (the broker).
    lease_s : float, default=60.0
        How long a lock outlives a holder that stopped renewing it (died).
    prefix : str, default="twinscope:lock:"
        Namespace of the lock keys.
    """

    def __init__(self, url: str, *, lease_s: float = DEFAULT_LEASE_S, prefix: str = "twinscope:lock:") -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.lease_s = float(lease_s)
        self.prefix = prefix

    @contextlib.contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        lock = self.client.lock(self.prefix + key, timeout=self.lease_s, sleep=0.1, thread_local=False)
        lock.acquire(blocking=True)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(lock, stop), daemon=True,
                                   name=f"lease-{key[:24]}")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            with contextlib.suppress(Exception):  # lease already ran out: someone else may hold it now
                lock.release()

    def _renew(self, lock, stop: threading.Event) -> None:
        while not stop.wait(self.lease_s / 3):
            try:
                lock.reacquire()
            except Exception as error:  # noqa: BLE001 - keep computing; publication is atomic either way
                log.warning("lost the lease of %s (%s); another request may compute it too", lock.name, error)
                return


def cache_locks(root: str | os.PathLike, broker_url: str | None) -> LockFactory:
    """Redis locks when a broker is configured (several machines), else file locks under ``root``."""
    if broker_url:
        return RedisLocks(broker_url, lease_s=lease_seconds())
    return FileLocks(root)
