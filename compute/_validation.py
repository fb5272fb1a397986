"""The one argument checker of compute/: say what was expected, what came, and what to do.

Every message reads "<name> must be <expected>; got <value!r>. <fix>" (the fix where one helps). The kind of
error decides the class: a wrong type raises TypeError, a value of the right type but out of range or not
among the choices raises ValueError. bool is never a number, NaN and inf are never a float, numpy integer and
floating scalars are accepted as int and float.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np


def _shown(value) -> str:
    """``value!r``, with numpy scalars shown as plain Python numbers."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _fail(error: type[Exception], name: str, expected: str, value, fix: str = "", got: str | None = None):
    message = f"{name} must be {expected}; got {_shown(value) if got is None else got}"
    raise error(f"{message}. {fix}" if fix else message)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _range(low, high, low_open: bool = False, high_open: bool = False, *, integer: bool) -> str:
    if low is None and high is None:
        return ""
    if integer:
        return f" >= {low}" if high is None else f" <= {high}" if low is None else f" in {low}..{high}"
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_int(value, *, name: str, low: int | None = None, high: int | None = None, optional: bool = False,
              why: str = "", fix: str = "") -> int | None:
    """``value`` as an int in ``low..high`` (an open side when None); None passes when ``optional``.

    ``why`` follows the expected range (e.g. " (at least 2 test conditions)"), ``fix`` follows the message.
    TypeError for a non-integer (bool, float, str, ...), ValueError for an integer out of range.
    """
    if value is None and optional:
        return None
    expected = f"an integer{_range(low, high, integer=True)}{' or None' if optional else ''}{why}"
    if not _is_int(value):
        _fail(TypeError, name, expected, value, fix)
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(ValueError, name, expected, value, fix)
    return int(value)


def check_float(value, *, name: str, low: float | None = None, high: float | None = None, low_open: bool = False,
                high_open: bool = False, optional: bool = False, why: str = "", fix: str = "") -> float | None:
    """``value`` as a finite float between ``low`` and ``high`` (each excluded when ``*_open``).

    Ints and numpy scalars are accepted; TypeError for bool and non-numbers, ValueError for NaN, inf or a
    value out of range.
    """
    if value is None and optional:
        return None
    expected = f"a finite number{_range(low, high, low_open, high_open, integer=False)}"
    expected += f"{' or None' if optional else ''}{why}"
    if not _is_real(value):
        _fail(TypeError, name, expected, value, fix)
    x = float(value)
    below = low is not None and (x <= low if low_open else x < low)
    above = high is not None and (x >= high if high_open else x > high)
    if not np.isfinite(x) or below or above:
        _fail(ValueError, name, expected, value, fix)
    return x


def check_bool(value, *, name: str, fix: str = "") -> bool:
    """``value`` if it is a bool (numpy's included); TypeError otherwise (1 and "yes" are not bools)."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(TypeError, name, "True or False", value, fix)
    return bool(value)


def _kind(value) -> str:
    return ("bool" if isinstance(value, (bool, np.bool_)) else "int" if _is_int(value)
            else "real" if _is_real(value) else type(value).__name__)


def check_choice(value, choices: Collection, *, name: str, optional: bool = False, fix: str = ""):
    """``value`` if it is one of ``choices`` (or None when ``optional``): TypeError when its type matches no
    choice, ValueError otherwise."""
    if value is None and optional:
        return None
    expected = f"one of {list(choices)}{' or None' if optional else ''}"
    if _kind(value) not in {_kind(c) for c in choices}:
        _fail(TypeError, name, expected, value, fix)
    if value not in choices:
        _fail(ValueError, name, expected, value, fix)
    return value


def check_subset(value, choices: Collection[str], *, name: str, fix: str = ""):
    """``value`` if it is a non-empty list or tuple of distinct items of ``choices``: TypeError for another
    type (a lone string included), ValueError for an empty list, a repeat or an unknown item."""
    expected = f"a non-empty subset of {list(choices)} (a list, no repeats)"
    if not isinstance(value, (list, tuple)):
        _fail(TypeError, name, expected, value, fix)
    if not value or len(set(value)) != len(value) or not all(isinstance(v, str) and v in choices for v in value):
        _fail(ValueError, name, expected, value, fix)
    return value


def check_instance(value, cls: type | tuple[type, ...], *, name: str, what: str = "", fix: str = ""):
    """``value`` if it is an instance of ``cls``; TypeError naming the type that came otherwise.

    ``what`` describes the expected object (default "a <cls name>").
    """
    if not isinstance(value, cls):
        names = [c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,))]
        article = "an" if names[0][0] in "AEIOU" else "a"
        _fail(TypeError, name, what or f"{article} {' or '.join(names)}", value, fix, got=type(value).__name__)
    return value


def check_random_state(random_state: int | np.random.Generator | None, *,
                       name: str = "random_state") -> np.random.Generator:
    """Normalise ``int | Generator | None`` to a Generator, once, at the top of a public function."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is not None:
        check_int(random_state, name=name, low=0, why=", a numpy Generator or None")
    return np.random.default_rng(random_state)


def check_array(x, *, ndim: int, name: str, axes: str = "", dtype=np.float64, finite: bool = True) -> np.ndarray:
    """``x`` as an ndarray with ``ndim`` dimensions (``axes`` names them in the message)."""
    arr = np.asarray(x, dtype=dtype)
    if arr.ndim != ndim:
        what = f" ({axes})" if axes else ""
        raise ValueError(f"{name} must be {ndim}-D{what}; got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


@dataclass(frozen=True)
class Bound:
    """Allowed values of one option: ``kind`` bool | int | float (in ``low..high``) | str (one of ``choices``) |
    list (a non-empty subset of ``choices``, no repeats); None is allowed when ``optional``."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False


def check_bound(value, bound: Bound, *, name: str):
    """``value`` if it satisfies ``bound``: TypeError for a wrong type, ValueError for a value out of range."""
    if value is None and bound.optional:
        return None
    if bound.kind is int:
        return check_int(value, name=name, low=bound.low, high=bound.high, optional=bound.optional)
    if bound.kind is float:
        return check_float(value, name=name, low=bound.low, high=bound.high, optional=bound.optional)
    if bound.kind is bool:
        return check_bool(value, name=name)
    if bound.kind is str:
        return check_choice(value, bound.choices, name=name, optional=bound.optional)
    return check_subset(value, bound.choices, name=name)
