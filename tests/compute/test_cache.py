"""Content-addressed cache: keys, atomic writes, compute-once under concurrency."""

import threading
import time

import numpy as np
import pytest

from compute.cache import content_key
from compute.responses import ResponseSet


class TestKeys:
    def test_key_is_deterministic_and_sensitive(self):
        a = content_key("responses", module="Rec", seed=0, spec={"n": 3, "names": ["a", "b"]})
        assert a == content_key("responses", spec={"names": ["a", "b"], "n": 3}, seed=0, module="Rec")
        assert a != content_key("responses", module="Rec", seed=1, spec={"n": 3, "names": ["a", "b"]})
        assert a.startswith("responses-") and len(a) == len("responses-") + 32

    def test_arrays_are_hashed_by_content(self):
        x = np.arange(6.0)
        assert content_key("k", x=x) == content_key("k", x=x.copy())
        assert content_key("k", x=x) != content_key("k", x=x + 1)

    def test_rejects_unkeyable_and_bad_keys(self, tmp_cache):
        with pytest.raises(TypeError, match="cannot build a cache key from object"):
            content_key("k", x=object())
        with pytest.raises(ValueError, match="invalid cache key"):
            tmp_cache.path("../etc/passwd")


class TestStore:
    def test_put_get_round_trip(self, tmp_cache):
        tmp_cache.put("k-1", {"a": np.arange(3), "b": np.eye(2, dtype=np.float32)}, {"n": 3})
        arrays, meta = tmp_cache.get("k-1")
        np.testing.assert_array_equal(arrays["a"], np.arange(3))
        assert arrays["b"].dtype == np.float32 and meta == {"n": 3}
        assert tmp_cache.meta("k-1") == {"n": 3}
        with pytest.raises(KeyError):
            tmp_cache.get("k-2")

    def test_response_set_round_trip(self, tmp_cache, rng):
        rs = ResponseSet(rng.random((4, 2, 8, 5)), stimuli=("x", "y"), provenance={"label": "t"})
        tmp_cache.put_responses("rs-1", rs)
        assert tmp_cache.get_responses("rs-1").content_hash() == rs.content_hash()

    def test_failed_compute_leaves_nothing(self, tmp_cache):
        def boom():
            raise RuntimeError("killed")

        with pytest.raises(RuntimeError):
            tmp_cache.get_or_compute("k-3", boom)
        assert "k-3" not in tmp_cache
        assert not [p for p in tmp_cache.root.iterdir() if p.name.endswith(".tmp")]

    def test_concurrent_requests_compute_once(self, tmp_cache):
        calls = []

        def slow():
            calls.append(1)
            time.sleep(0.2)
            return {"x": np.ones(3)}, {"done": True}

        results = []
        threads = [threading.Thread(target=lambda: results.append(tmp_cache.get_or_compute("k-4", slow)))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1 and len(results) == 4
        assert all(meta == {"done": True} for _, meta in results)


# ---------------------------------------------------------------------------------------------- killed writers
class TestSweep:
    def test_temporary_files_of_dead_writers_are_removed_when_a_cache_opens(self, tmp_path):
        """v1 never removed ``.<key>.npz.<pid>.<id>.tmp`` files left by a writer killed mid-write."""
        import os
        import subprocess
        import sys

        from compute.cache import ArtifactCache

        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        dead_pid = int(dead.stdout)
        root = tmp_path / "artifacts"
        root.mkdir()
        killed = root / f".view-a.npz.{dead_pid}.1.tmp"
        reused = root / f".view-b.npz.{os.getpid()}.2.tmp"  # our pid, but written before we started
        live = root / f".view-c.npz.{os.getpid()}.3.tmp"  # a write in progress in this process
        other = root / ".notes.tmp"  # not a name ``put`` writes: left alone
        for path in (killed, reused, live, other):
            path.write_bytes(b"partial")
        os.utime(reused, (0, 0))
        ArtifactCache(root)
        assert sorted(p.name for p in root.iterdir()) == sorted([live.name, other.name])
