"""Shared argument checks: say what was expected, what came, and what to do."""

from __future__ import annotations

import numpy as np


def check_random_state(random_state: int | np.random.Generator | None) -> np.random.Generator:
    """Normalise ``int | Generator | None`` to a Generator, once, at the top of a public function."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be an int, a numpy Generator or None; got {type(random_state).__name__}")


def check_array(x, *, ndim: int, name: str, axes: str = "", dtype=np.float64, finite: bool = True) -> np.ndarray:
    """``x`` as an ndarray with ``ndim`` dimensions (``axes`` names them in the message)."""
    arr = np.asarray(x, dtype=dtype)
    if arr.ndim != ndim:
        what = f" ({axes})" if axes else ""
        raise ValueError(f"{name} must be {ndim}-D{what}; got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_responses(responses) -> np.ndarray:
    """4-D float32 responses (unit, stimulus, direction, time) or ValueError."""
    return check_array(responses, ndim=4, name="responses", axes="unit, stimulus, direction, time",
                       dtype=np.float32)


def check_int(value, *, name: str, low: int, high: int | None = None, why: str = "") -> int:
    """``value`` as an int in ``low..high`` (no upper bound when ``high`` is None) or ValueError;
    ``why`` (e.g. " (at least 2 test conditions)") is added to the message."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be an integer {bound}{why}; got {value!r}")
    return int(value)
