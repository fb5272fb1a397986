"""Content-addressed on-disk artefact store.

A key is the SHA-256 of a canonical JSON of everything that determines a result (code version, weights
hash, module, stimulus-suite spec, settings, seed). Artefacts are pickle-free: an NPZ of named arrays plus
a JSON dict of small metadata. Writes are atomic (temporary file + rename), so a killed job leaves either
the complete artefact or nothing, and the temporary files of killed writers are swept when a cache is
opened; ``get_or_compute`` holds a per-key lock (``compute.locks``: a file lock on one machine, a Redis lease
across machines) so that two identical concurrent requests compute once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import psutil

from compute.locks import FileLocks, LockFactory
from compute.responses import ResponseSet, read_npz

log = logging.getLogger(__name__)

# Bump when a change alters any cached result; it is part of every key.
CODE_VERSION = "twinscope-0.1"


def _canonical(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return {"__array__": hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest(),
                "shape": list(obj.shape), "dtype": obj.dtype.str}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:
        return "nan"
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot build a cache key from {type(obj).__name__}: {obj!r}")


def content_key(kind: str, **parts: Any) -> str:
    """Key of an artefact: ``<kind>-<sha256 prefix>`` of the code version and the given parts."""
    if not kind.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"artefact kind must be alphanumeric (with - or _); got {kind!r}")
    payload = json.dumps({"code": CODE_VERSION, "kind": kind, "parts": _canonical(parts)},
                         sort_keys=True, separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(payload.encode()).hexdigest()[:32]}"


_TMP_NAME = re.compile(r"^\..+\.(\d+)\.\d+\.tmp$")  # .<key>.npz.<pid>.<id>.tmp, written by ``put``


def writer_is_gone(pid: int, path: Path) -> bool:
    """Whether the process ``pid`` that wrote ``path`` is dead, or its pid now belongs to a process started
    after ``path`` was last written (pids are reused, e.g. by a restarted container)."""
    try:
        return psutil.Process(pid).create_time() > path.stat().st_mtime
    except psutil.NoSuchProcess:
        return True
    except FileNotFoundError:  # removed meanwhile by another process
        return False


def sweep_temporary_files(root: Path) -> list[Path]:
    """Remove the ``.*.tmp`` files under ``root`` whose writer is gone (killed mid-write); returns them."""
    removed = []
    for path in root.glob(".*.tmp"):
        match = _TMP_NAME.match(path.name)
        if match and writer_is_gone(int(match.group(1)), path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _check_key(key: str) -> str:
    if not key or "/" in key or "\\" in key or key.startswith(".") or not key.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"invalid cache key {key!r}")
    return key


class ArtifactCache:
    """Arrays + metadata stored under content keys in ``root``.

    ``put``/``get`` take and return ``(arrays, meta)``: a dict of str -> ndarray (no object dtype) and a
    JSON-serialisable dict. ``put_responses``/``get_responses`` do the same for a ``ResponseSet``.
    ``locks`` makes ``lock(key)``: file locks under ``root`` by default (``compute.locks``).
    Opening a cache removes the temporary files of writers that were killed (``sweep_temporary_files``).
    """

    def __init__(self, root: str | os.PathLike, *, locks: LockFactory | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.locks = FileLocks(self.root) if locks is None else locks
        sweep_temporary_files(self.root)

    def path(self, key: str) -> Path:
        return self.root / f"{_check_key(key)}.npz"

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()

    # ------------------------------------------------------------------ plain artefacts
    def put(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> Path:
        if "__meta__" in arrays:
            raise ValueError("'__meta__' is a reserved array name")
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.array(json.dumps(dict(meta or {}), sort_keys=True)), **arrays)
        path = self.path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(buf)}.tmp")
        try:
            tmp.write_bytes(buf.getvalue())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and metadata of ``key``; KeyError when absent."""
        try:
            arrays = read_npz(self.path(key))
        except FileNotFoundError:
            raise KeyError(key) from None
        meta = json.loads(str(arrays.pop("__meta__")[()]))
        return arrays, meta

    def meta(self, key: str) -> dict[str, Any]:
        """Only the metadata of ``key`` (reads one small member)."""
        try:
            return json.loads(str(read_npz(self.path(key), ["__meta__"])["__meta__"][()]))
        except FileNotFoundError:
            raise KeyError(key) from None

    # ------------------------------------------------------------------ response sets
    def put_responses(self, key: str, responses: ResponseSet) -> Path:
        return self.put(key, responses.to_arrays(), {"type": "ResponseSet", "label": responses.label,
                                                     "shape": list(responses.shape)})

    def get_responses(self, key: str) -> ResponseSet:
        arrays, _ = self.get(key)
        return ResponseSet.from_arrays(arrays)

    # ------------------------------------------------------------------ compute once
    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Exclusive lock for ``key`` across processes (file lock) or machines (Redis lease)."""
        with self.locks(_check_key(key)):
            yield

    def get_or_compute(self, key: str, compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]]
                       ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Return the artefact of ``key``, computing and storing it first if absent (once per key)."""
        if key in self:
            return self.get(key)
        with self.lock(key):
            if key not in self:
                arrays, meta = compute()
                self.put(key, arrays, meta)
                log.info("computed and published %s", key)
        return self.get(key)

    def get_or_compute_responses(self, key: str, compute: Callable[[], ResponseSet]) -> ResponseSet:
        """``get_or_compute`` for a ResponseSet artefact."""
        def _compute():
            rs = compute()
            return rs.to_arrays(), {"type": "ResponseSet", "label": rs.label, "shape": list(rs.shape)}

        arrays, _ = self.get_or_compute(key, _compute)
        return ResponseSet.from_arrays(arrays)


def default_cache() -> ArtifactCache:
    """The cache under TWINSCOPE_CACHE_DIR (or the repository's cache/); Redis locks with a broker."""
    from compute.config import Settings
    from compute.locks import cache_locks

    settings = Settings.from_env()
    root = settings.cache_dir / "artifacts"
    return ArtifactCache(root, locks=cache_locks(root, settings.broker_url))
