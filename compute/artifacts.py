"""Typed view artefacts: one frozen dataclass per view, packed to / from the cache's (arrays, JSON meta) pair by
one helper (``Packed``), so that readers use attributes and a builder that forgets a field fails when it
stores the artefact, not when a page reads it.

Packing rule: an ndarray field -> an array of the same name (left out when None); a field declared with
``prefix(...)`` (a dict name -> ndarray) -> one array per entry named ``<prefix><name>``; every other field ->
a meta entry. The stored layout is the one documented in ``compute.views`` (artefacts written before these
types existed read back unchanged).
"""

from __future__ import annotations

from dataclasses import MISSING, Field, field, fields
from typing import Any, Mapping, TypeVar

import numpy as np

T = TypeVar("T", bound="Packed")


def prefix(name: str) -> Any:
    """Field of a dict of arrays stored as one array per entry, named ``name + key``."""
    return field(default_factory=dict, metadata={"prefix": name})


def field_kind(f: Field) -> str:
    """How a field is stored: "array" (annotated ``np.ndarray`` or ``np.ndarray | None``, as a string or a
    type), "prefix" (declared with ``prefix``) or "meta"."""
    if "prefix" in f.metadata:
        return "prefix"
    return "array" if "ndarray" in str(f.type) else "meta"


def _required(f: Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


class Packed:
    """Mixin of frozen dataclasses: ``to_arrays()`` -> (arrays, meta), ``from_arrays(arrays, meta)`` back."""

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, meta) for ``ArtifactCache.put``; an array field that is None is left out."""
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        for f in fields(self):
            value, kind = getattr(self, f.name), field_kind(f)
            if kind == "prefix":
                arrays.update({f"{f.metadata['prefix']}{k}": v for k, v in value.items()})
            elif kind == "array":
                if value is not None:
                    arrays[f.name] = value
            else:
                meta[f.name] = value
        return arrays, meta

    @classmethod
    def from_arrays(cls: type[T], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> T:
        """Inverse of ``to_arrays``; ValueError naming the fields missing or unexpected."""
        values: dict[str, Any] = {}
        left, meta_names = dict(arrays), set()
        for f in fields(cls):
            kind = field_kind(f)
            if kind == "prefix":
                p = f.metadata["prefix"]
                values[f.name] = {k[len(p):]: left.pop(k) for k in list(left) if k.startswith(p)}
            elif kind == "array" and f.name in left:
                values[f.name] = left.pop(f.name)
            elif kind == "meta":
                meta_names.add(f.name)
                if f.name in meta:
                    values[f.name] = meta[f.name]
        unexpected = sorted(left) + sorted(set(meta) - meta_names)
        missing = sorted(f.name for f in fields(cls) if f.name not in values and _required(f))
        if missing or unexpected:
            raise ValueError(f"not a {cls.__name__} artefact: missing {missing}, unexpected {unexpected}; "
                             "expected the layout documented in compute.views (recompute the view)")
        return cls(**values)
