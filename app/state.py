"""URL query string <-> view state. Pure Python (no dash): every page's layout is a function of its query.

Each reader takes the raw query value (a string, or None when absent), returns a valid value, and adds a
notice for the user when it had to fall back to the default (also for a present but empty selection), so a
malformed shared URL still opens. A '+' typed into a URL arrives as a space, so values are matched with
'+' and ' ' taken as equal (source tokens spell a module's spaces as '+': ``model:fnn-random:Enc+L1``).
"""

from __future__ import annotations

from typing import Sequence
from urllib.parse import urlencode

LIST_SEPARATOR = ","


class Reader:
    """Reads query parameters against their allowed values and collects notices for bad ones."""

    def __init__(self, query: dict) -> None:
        self.query = {str(k): v for k, v in query.items()}
        self.notices: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self.query.get(name)
        if isinstance(value, list):  # a repeated parameter: keep the last, as browsers do
            value = value[-1] if value else None
        return None if value is None else str(value)

    def _reject(self, name: str, raw: str, why: str, default) -> None:
        self.notices.append(f"URL parameter {name}={raw!r} ignored ({why}); using {default!r}.")

    @staticmethod
    def _match(item: str, choices: Sequence[str]) -> str | None:
        """The choice ``item`` names, taking '+' and ' ' as equal; None when there is none."""
        spelled = {choice.replace("+", " "): choice for choice in choices}
        return spelled.get(item.replace("+", " "))

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        chosen = self._match(raw, choices)
        if chosen is None:
            self._reject(name, raw, f"expected one of {list(choices)}", default)
            return default
        return chosen

    def choices(self, name: str, choices: Sequence[str], default: Sequence[str], *,
                max_items: int | None = None) -> list[str]:
        """A comma-separated subset of ``choices`` in the order given; unknown items are dropped with a notice."""
        raw = self._raw(name)
        if raw is None:
            return list(default)
        items = [item.strip() for item in raw.split(LIST_SEPARATOR) if item.strip()]
        if not items:
            self.notices.append(f"URL parameter {name} is empty; using {list(default)}.")
            return list(default)
        unknown = [item for item in items if self._match(item, choices) is None]
        kept = list(dict.fromkeys(self._match(item, choices) for item in items if item not in unknown))
        if unknown:
            self.notices.append(f"URL parameter {name}: unknown {unknown} dropped; expected items of "
                                f"{list(choices)}.")
        if max_items is not None and len(kept) > max_items:
            self.notices.append(f"URL parameter {name}: at most {max_items} items; kept the first {max_items}.")
            kept = kept[:max_items]
        if not kept:
            self.notices.append(f"URL parameter {name}: nothing valid left; using {list(default)}.")
            return list(default)
        return kept

    def number(self, name: str, default: float | int | None, *, low: float, high: float,
               integer: bool = False) -> float | int | None:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            self._reject(name, raw, "not a number" if not integer else "not an integer", default)
            return default
        if not low <= value <= high:
            self._reject(name, raw, f"outside [{low}, {high}]", default)
            return default
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        self._reject(name, raw, "expected 1 or 0", default)
        return default


def encode_query(state: dict) -> str:
    """``?a=1&b=x,y`` from a state dict (lists joined by commas, booleans as 1/0, None left out)."""
    parts = {}
    for name, value in state.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, (list, tuple)):
            value = LIST_SEPARATOR.join(str(v) for v in value)
        parts[name] = value
    return "?" + urlencode(parts) if parts else ""
