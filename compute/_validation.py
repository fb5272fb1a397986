"""Shared argument checks: say what was expected, what came, and what to do."""

from __future__ import annotations

from dataclasses import dataclass

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


def check_int(value, *, name: str, low: int, high: int | None = None, why: str = "") -> int:
    """``value`` as an int in ``low..high`` (no upper bound when ``high`` is None) or ValueError;
    ``why`` (e.g. " (at least 2 test conditions)") is added to the message."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be an integer {bound}{why}; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Bound:
    """Allowed values of one option: ``kind`` bool | int | float (in ``low..high``) | str (one of ``choices``) |
    list (a non-empty subset of ``choices``, no repeats); None is allowed when ``optional``."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        if self.kind in (int, float):
            what = f"{'an integer' if self.kind is int else 'a number'} in {self.low}..{self.high}"
        elif self.kind is bool:
            what = "true or false"
        elif self.kind is str:
            what = f"one of {list(self.choices)}"
        else:
            what = f"a non-empty list of distinct items of {list(self.choices)}"
        return what + (" or None" if self.optional else "")


def check_bound(value, bound: Bound, *, name: str):
    """``value`` if it satisfies ``bound``: TypeError for a wrong type, ValueError for a value out of range."""
    if value is None and bound.optional:
        return None
    expected = f"{name} must be {bound.describe()}; got {value!r}"
    numeric = isinstance(value, (int, np.integer)) or (bound.kind is float and isinstance(value, (float, np.floating)))
    if bound.kind in (int, float):
        if isinstance(value, bool) or not numeric:
            raise TypeError(expected)
        if not bound.low <= value <= bound.high:  # also False for NaN
            raise ValueError(expected)
        return bound.kind(value)
    if not isinstance(value, {bool: bool, str: str}.get(bound.kind, (list, tuple))):
        raise TypeError(expected)
    if bound.kind is str and value not in bound.choices:
        raise ValueError(expected)
    if bound.kind is list and (not value or len(set(value)) != len(value)
                               or not all(isinstance(v, str) and v in bound.choices for v in value)):
        raise ValueError(expected)
    return value
