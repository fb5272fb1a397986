"""Cache locks in Redis (lease, renewal, a dead holder's expiry) and the GPU routing of jobs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from compute.cache import ArtifactCache
from compute.locks import FileLocks, RedisLocks, cache_locks, lease_seconds


# ------------------------------------------------------------------------------------------ RedisLocks
class TestRedisLocks:
    def test_excludes_and_renews_past_the_lease(self, redis_url):
        """A holder computing for 2.5 leases keeps its lock (renewed); the second waits for the release."""
        locks = RedisLocks(redis_url, lease_s=1.0)
        spans = []

        def hold(seconds):
            with locks("k-renew"):
                start = time.monotonic()
                time.sleep(seconds)
                spans.append((start, time.monotonic()))

        first = threading.Thread(target=hold, args=(2.5,))
        first.start()
        time.sleep(0.3)
        hold(0.0)
        first.join()
        (a0, a1), (b0, _) = sorted(spans)
        assert b0 >= a1  # no overlap although the holder outlived its 1 s lease

    def test_a_killed_holder_frees_the_lock_after_its_lease(self, redis_url):
        code = (f"import time; from compute.locks import RedisLocks\n"
                f"with RedisLocks({redis_url!r}, lease_s=2.0)('k-dead'):\n"
                f"    print('held', flush=True); time.sleep(60)\n")
        holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        holder.kill()
        holder.wait()
        start = time.monotonic()
        with RedisLocks(redis_url, lease_s=2.0)("k-dead"):
            waited = time.monotonic() - start
        assert 0.5 < waited < 5.0  # the dead holder's lease ran out (2 s), then it was ours

    def test_get_or_compute_computes_once_across_threads(self, redis_url, tmp_path):
        cache = ArtifactCache(tmp_path, locks=RedisLocks(redis_url, lease_s=2.0))
        calls = []

        def compute():
            calls.append(1)
            time.sleep(0.5)
            return {"x": np.arange(3)}, {"n": 3}

        threads = [threading.Thread(target=cache.get_or_compute, args=("view-once", compute)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1 and cache.get("view-once")[1] == {"n": 3}


class TestChoice:
    def test_redis_with_a_broker_files_without(self, redis_url, tmp_path):
        assert isinstance(cache_locks(tmp_path, redis_url), RedisLocks)
        assert isinstance(cache_locks(tmp_path, None), FileLocks)

    @pytest.mark.parametrize("raw", ["soon", "0.5"])
    def test_bad_lease(self, raw):
        with pytest.raises(ValueError, match="TWINSCOPE_LEASE_S must be"):
            lease_seconds({"TWINSCOPE_LEASE_S": raw})


# ------------------------------------------------------------------------------------------ routing
@pytest.fixture
def ctx(tmp_path, data_dir):
    """What ``needs_extraction`` reads of an AppContext: run settings, settings and the cache."""
    from compute.profiles import run_profile
    from compute.config import Settings

    return SimpleNamespace(run=run_profile({"TWINSCOPE_PROFILE": "test"}).run, cache=ArtifactCache(tmp_path / "a"),
                           settings=Settings(cache_dir=tmp_path, data_dir=data_dir, secret_key="test"))


class TestRouting:
    def test_extraction_goes_to_a_gpu_worker_only_when_one_is_up(self, redis_url, monkeypatch):
        from callbacks import celery_app

        manager = celery_app.TwinscopeCeleryManager(celery_app.make_celery(redis_url),
                                                     needs_gpu=lambda args: args == ["extract"])
        seen = {"workers": [{"name": "cpu0@h", "queues": ["cpu"], "gpu": None, "active": 0}]}
        monkeypatch.setattr(celery_app, "workers", lambda celery, timeout: seen["workers"])
        assert manager.queue_for(["extract"]) == "cpu"
        seen["workers"] = seen["workers"] + [{"name": "gpu0@h", "queues": ["gpu"], "gpu": "0", "active": 0}]
        manager._gpu_seen = (0.0, False)  # the 10 s memo ran out
        assert manager.queue_for(["extract"]) == "gpu"
        assert manager.queue_for(["analyse"]) == "cpu"

    def test_needs_extraction_only_for_an_uncached_model_module(self, ctx):
        from callbacks.celery_app import needs_extraction
        from compute.sources import Source, source_key

        model = {"page": "explore", "views": [{"view": "decoding", "source": "model:conv3d-random:Conv1"}]}
        bio = {"page": "explore", "views": [{"view": "decoding", "source": "bio:V1"}]}
        assert needs_extraction([1, model], ctx=ctx) and not needs_extraction([1, bio], ctx=ctx)
        assert not needs_extraction([1, None], ctx=ctx)
        ctx.cache.put(source_key(Source.parse("model:conv3d-random:Conv1"), run=ctx.run, settings=ctx.settings),
                      {}, {"type": "pointer"})
        assert not needs_extraction([1, model], ctx=ctx)


def test_without_a_broker_the_app_stays_embedded(tmp_path, data_dir):
    import dash

    from app import create_app
    from compute.config import Settings

    app = create_app(Settings(cache_dir=tmp_path, data_dir=data_dir, secret_key="test"))
    assert isinstance(app._background_manager, dash.DiskcacheManager)
    health = app.server.test_client().get("/health").get_json()
    assert health["jobs"] == "embedded" and health["workers"] == []
