"""The one packing of typed artefacts (``compute.artifacts.Packed``) and the view types built on it."""

from __future__ import annotations

from dataclasses import dataclass, fields, make_dataclass

import numpy as np
import pytest

import compute.views
from compute.artifacts import Packed, field_kind, prefix
from compute.views import VIEW_TYPES, EncodingView


@dataclass(frozen=True, kw_only=True, eq=False)
class Planted(Packed):
    values: np.ndarray
    extra: np.ndarray | None = None
    columns: dict = prefix("col__")
    name: str
    scores: dict


def test_round_trip_keeps_names_arrays_and_meta():
    planted = Planted(values=np.arange(3.0), columns={"a b": np.ones(2)}, name="x", scores={"rsa": 0.5})
    arrays, meta = planted.to_arrays()
    assert sorted(arrays) == ["col__a b", "values"] and meta == {"name": "x", "scores": {"rsa": 0.5}}
    back = Planted.from_arrays(arrays, meta)
    np.testing.assert_array_equal(back.values, planted.values)
    assert back.extra is None and list(back.columns) == ["a b"] and back.name == "x"


def test_optional_array_is_stored_when_set():
    arrays, _ = Planted(values=np.zeros(1), extra=np.ones(2), name="", scores={}).to_arrays()
    assert sorted(arrays) == ["extra", "values"]


def test_layout_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"not a Planted artefact: missing \['name', 'values'\], "
                                         r"unexpected \['stray', 'zz'\]"):
        Planted.from_arrays({"stray": np.zeros(1)}, {"scores": {}, "zz": 1})


def _documented(view: str) -> str:
    """The layout paragraph of ``view`` in compute.views' docstring (from its name at column 0 to the next)."""
    lines = compute.views.__doc__.split("\n")
    starts = [i for i, line in enumerate(lines) if line.split(" ")[0] in VIEW_TYPES]
    first = next(i for i in starts if lines[i].split(" ")[0] == view)
    return "\n".join(lines[first:min([i for i in starts if i > first], default=len(lines))])


@pytest.mark.parametrize("view", sorted(VIEW_TYPES))
def test_view_types_store_what_compute_views_documents(view):
    """Field names are the stored names of the artefacts before the types (entries cached then read back)."""
    stored = {f.name for f in fields(VIEW_TYPES[view])} - {f.name for f in fields(compute.views.View)}
    stored = {"color__" if name == "colors" else name for name in stored}
    assert sorted(name for name in stored if name not in _documented(view)) == []


def test_encoding_colours_are_color_prefixed_arrays():
    view = EncodingView(counts={}, headline={}, coords=np.zeros((2, 3)), unit_index=np.arange(2),
                        colors={"OSI": np.ones(2)}, nn_distances=np.ones(2), nn_removed=np.zeros(2, bool),
                        color_options={"OSI": "continuous"}, diagnostics={}, restarts_note="", clusteredness={})
    arrays, meta = view.to_arrays()
    assert "color__OSI" in arrays and "colors" not in meta
    assert list(EncodingView.from_arrays(arrays, meta).colors) == ["OSI"]


def test_array_fields_are_found_with_or_without_string_annotations():
    """A module without ``from __future__ import annotations`` gives types, not strings: still arrays."""
    Typed = make_dataclass("Typed", [("values", np.ndarray), ("maybe", np.ndarray | None, None), ("name", str)],
                           bases=(Packed,), frozen=True, kw_only=True, eq=False)
    assert [field_kind(f) for f in fields(Typed)] == ["array", "array", "meta"]
    arrays, meta = Typed(values=np.ones(2), name="x").to_arrays()
    assert list(arrays) == ["values"] and meta == {"name": "x"}
