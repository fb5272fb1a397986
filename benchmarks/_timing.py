"""Timing helpers shared by the benchmarks: one timed call, repeated calls, and the order of paired
before/after runs (alternating, so that a busy machine slows both sides alike)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Call ``fn`` once: (its result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def call_times(fn: Callable[[], Any], repeats: int) -> np.ndarray:
    """Wall seconds of ``repeats`` calls of ``fn``, shape (repeats,)."""
    return np.array([timed(fn)[1] for _ in range(repeats)])


def alternating(n_pairs: int, sides: tuple[str, str] = ("before", "after")) -> Iterator[tuple[str, str]]:
    """The order of each of ``n_pairs`` paired runs: ``sides``, then reversed, then ``sides`` ..."""
    for pair in range(n_pairs):
        yield sides if pair % 2 == 0 else sides[::-1]
