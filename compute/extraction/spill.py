"""Spill files: the instance-averaged time courses of every candidate unit of a module, written during pass 1
with positional writes (so that nothing of them counts in the resident memory) and read back chunk by chunk
once the units are drawn; the spill folder, the disk budget and the folders of killed extractions."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from compute.cache import writer_is_gone
from compute.config import Settings

SPILL_MARGIN_BYTES = 2 * 2**30  # disk space that spill files leave free (cache writes, other programs)
READ_CHUNK_BYTES = 2**26  # spill read-back buffer


def _write_at(file: io.FileIO, data: np.ndarray, offset: int) -> None:
    """Write ``data``'s bytes at ``offset`` with ``os.pwrite``: worker processes share the file's offset, so
    a seek followed by a write could land at another worker's position."""
    view = memoryview(np.ascontiguousarray(data)).cast("B")
    while view:
        written = os.pwrite(file.fileno(), view, offset)
        view, offset = view[written:], offset + written


def _read_at(file: io.FileIO, out: np.ndarray, offset: int) -> None:
    """Fill the C-contiguous array ``out`` with the bytes of ``file`` from ``offset``."""
    view, end = memoryview(out).cast("B"), offset + out.nbytes
    while view:
        n = os.preadv(file.fileno(), [view], offset)
        if not n:
            raise OSError(f"spill file {file.name} ended before byte {end}; was it truncated?")
        view, offset = view[n:], offset + n


@contextlib.contextmanager
def _spill_folder(settings: Settings) -> Iterator[Path]:
    """A fresh folder ``spill-<pid>-<random>`` under ``settings.cache_dir / "tmp"``, removed on exit. Folders
    that killed extractions left behind are removed first."""
    root = settings.cache_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.glob("spill-*"):
        if _is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"spill-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _is_stale(folder: Path) -> bool:
    """Whether the process named in a spill folder (``spill-<pid>-...``) is gone (``writer_is_gone``)."""
    pid = folder.name.split("-")[1]
    return pid.isdigit() and writer_is_gone(int(pid), folder)


def _fits_on_disk(sizes: Mapping[str, int], folder: Path) -> list[str]:
    """Names whose sizes (bytes) fit in the free space of ``folder``'s disk less SPILL_MARGIN_BYTES, greedily in
    order."""
    budget = shutil.disk_usage(folder).free - SPILL_MARGIN_BYTES
    chosen = []
    for name, size in sizes.items():
        if size <= budget:
            chosen.append(name)
            budget -= size
    return chosen


