"""The one data layout: responses[unit, stimulus, direction, time] with labels (METHODS.md section 0).

Every analysis takes a ``ResponseSet`` (or plain arrays derived from it) and every producer (model
extraction, biological loaders) returns one. Saving is lossless and pickle-free (NPZ with JSON labels).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

FORMAT_VERSION = 1
DIRECTIONS_DEG = np.arange(0.0, 360.0, 45.0)

# numpy parses every .npy header with ast.literal_eval, and CPython 3.11 before 3.11.8 can fail with
# "SystemError: AST constructor recursion depth mismatch" when two threads compile at once (gh-106905);
# the threaded web server reads artefacts concurrently, so reads are serialised.
_NPZ_READ_LOCK = threading.Lock()


def read_npz(path: str | os.PathLike, members: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an NPZ file (all, or only ``members``), never unpickling anything."""
    with _NPZ_READ_LOCK, np.load(Path(path), allow_pickle=False) as npz:
        return {k: npz[k] for k in (npz.files if members is None else members)}


def _as_column(name: str, values: Any, n_units: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object:
        arr = np.asarray(["" if v is None else str(v) for v in arr.tolist()])
    if arr.shape != (n_units,):
        raise ValueError(f"unit metadata {name!r} must have shape ({n_units},); got {arr.shape}")
    if arr.dtype.kind not in "biufU":
        raise TypeError(f"unit metadata {name!r} must be numeric, bool or str; got dtype {arr.dtype}")
    return arr


@dataclass(frozen=True, eq=False)
class ResponseSet:
    """A labelled response tensor.

    Attributes
    ----------
    responses : ndarray of shape (n_units, n_stimuli, n_directions, n_time), float32
    stimuli : tuple of str, length n_stimuli
        Stimulus class names (the canonical names of METHODS.md section 1, also for biology).
    directions : ndarray of shape (n_directions,)
        Motion directions in degrees (0 = rightward, 90 = upward).
    time : ndarray of shape (n_time,)
        Time of each bin, in ``time_unit`` ("s" for models at 30 Hz, "bin" for biology).
    units : dict of str -> ndarray of shape (n_units,)
        Per-unit metadata columns (numeric, bool or str), e.g. module, stream, channel, y, x for model
        units; cell_type, layer for biology.
    significant : ndarray of shape (n_units, n_stimuli), bool, or None
        Per (unit, stimulus) significance flags (biology).
    provenance : dict
        JSON-serialisable description of what produced the set (model, weights id, module, settings,
        or dataset and source), shown in the UI.
    """

    responses: np.ndarray
    stimuli: tuple[str, ...]
    directions: np.ndarray = field(default_factory=lambda: DIRECTIONS_DEG.copy())
    time: np.ndarray | None = None
    time_unit: str = "s"
    onset_index: int = 0
    units: Mapping[str, np.ndarray] = field(default_factory=dict)
    significant: np.ndarray | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        resp = np.asarray(self.responses)
        if resp.ndim != 4:
            raise ValueError("responses must be 4-D (unit, stimulus, direction, time); "
                             f"got shape {resp.shape}")
        resp = np.ascontiguousarray(resp, dtype=np.float32)
        n_bad = resp.size - int(np.count_nonzero(np.isfinite(resp)))
        if n_bad:
            label = dict(self.provenance).get("label", "responses")
            raise ValueError(f"{label}: {n_bad} of {resp.size} responses are NaN or infinite; a ResponseSet "
                             "needs finite values (re-extract the module, or check the dataset file)")
        n_units, n_stim, n_dir, n_time = resp.shape
        stimuli = tuple(str(s) for s in self.stimuli)
        if len(stimuli) != n_stim:
            raise ValueError(f"{len(stimuli)} stimulus names for {n_stim} stimuli in responses")
        if len(set(stimuli)) != len(stimuli):
            raise ValueError(f"stimulus names must be unique; got {stimuli}")
        directions = np.asarray(self.directions, dtype=np.float64)
        if directions.shape != (n_dir,):
            raise ValueError(f"directions must have shape ({n_dir},); got {directions.shape}")
        time = np.arange(n_time, dtype=np.float64) if self.time is None else np.asarray(self.time, np.float64)
        if time.shape != (n_time,):
            raise ValueError(f"time must have shape ({n_time},); got {time.shape}")
        units = {str(k): _as_column(str(k), v, n_units) for k, v in dict(self.units).items()}
        sig = self.significant
        if sig is not None:
            sig = np.asarray(sig, dtype=bool)
            if sig.shape != (n_units, n_stim):
                raise ValueError(f"significant must have shape ({n_units}, {n_stim}); got {sig.shape}")
        provenance = json.loads(json.dumps(dict(self.provenance), sort_keys=True))
        for name, value in [("responses", resp), ("stimuli", stimuli), ("directions", directions),
                            ("time", time), ("units", units), ("significant", sig),
                            ("provenance", provenance)]:
            object.__setattr__(self, name, value)

    def require_variation(self) -> "ResponseSet":
        """This set, or ValueError naming it when every response has the same value (e.g. all zero): the
        analyses would only meet numerical noise (ARPACK / LAPACK errors)."""
        if self.responses.size and np.ptp(self.responses) == 0:
            raise ValueError(f"{self.label}: all {self.responses.size} responses equal "
                             f"{float(self.responses.flat[0]):g}; nothing to analyse. Check the extraction of "
                             "this module (or the dataset file) and extract it again")
        return self

    # ------------------------------------------------------------------ shape helpers
    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self.responses.shape  # type: ignore[return-value]

    @property
    def n_units(self) -> int:
        return self.responses.shape[0]

    @property
    def n_time(self) -> int:
        return self.responses.shape[3]

    @property
    def label(self) -> str:
        """Short human label, e.g. 'FNN (random weights) / Rec' or 'V1'."""
        return str(self.provenance.get("label", self.provenance.get("module", "responses")))

    def __repr__(self) -> str:
        return (f"ResponseSet({self.label!r}, shape={self.shape}, stimuli={list(self.stimuli)}, "
                f"time_unit={self.time_unit!r})")

    # ------------------------------------------------------------------ selection
    def stimulus_indices(self, stimuli: Sequence[str | int]) -> list[int]:
        """Indices of stimuli given by name or position; unknown names raise ValueError."""
        out = []
        for s in stimuli:
            if isinstance(s, (int, np.integer)):
                if not 0 <= int(s) < len(self.stimuli):
                    raise ValueError(f"stimulus index {s} out of range 0..{len(self.stimuli) - 1}")
                out.append(int(s))
            elif s in self.stimuli:
                out.append(self.stimuli.index(s))
            else:
                raise ValueError(f"unknown stimulus {s!r}; this set has {list(self.stimuli)}")
        return out

    def select(self, *, stimuli: Sequence[str | int] | None = None, units: Any = None,
               module: str | None = None) -> "ResponseSet":
        """A new set restricted to some stimuli (names or indices, in the order given), units
        (boolean mask or indices) and/or one module (by the ``module`` unit column)."""
        unit_idx = np.arange(self.n_units)
        if module is not None:
            if "module" not in self.units:
                raise ValueError("this response set has no 'module' unit column")
            unit_idx = unit_idx[self.units["module"] == module]
            if unit_idx.size == 0:
                raise ValueError(f"no units of module {module!r}; modules here: "
                                 f"{sorted(set(self.units['module'].tolist()))}")
        if units is not None:
            sel = np.asarray(units)
            sel = np.flatnonzero(sel) if sel.dtype == bool else sel.astype(int)
            unit_idx = unit_idx[sel] if module is not None else sel
        stim_idx = list(range(len(self.stimuli))) if stimuli is None else self.stimulus_indices(stimuli)
        resp = self.responses[unit_idx][:, stim_idx]
        sig = None if self.significant is None else self.significant[unit_idx][:, stim_idx]
        return replace(self, responses=resp, stimuli=tuple(self.stimuli[i] for i in stim_idx),
                       units={k: v[unit_idx] for k, v in self.units.items()}, significant=sig)

    def with_responses(self, responses: np.ndarray, **provenance: Any) -> "ResponseSet":
        """Same labels, new response values of the same shape; provenance entries may be added."""
        if np.shape(responses) != self.shape:
            raise ValueError(f"new responses must have shape {self.shape}; got {np.shape(responses)}")
        return replace(self, responses=responses, provenance={**self.provenance, **provenance})

    # ------------------------------------------------------------------ serialisation
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no object dtype) that ``from_arrays`` turns back into an identical set."""
        meta = {"format_version": FORMAT_VERSION, "stimuli": list(self.stimuli),
                "time_unit": self.time_unit, "onset_index": int(self.onset_index),
                "unit_columns": list(self.units), "provenance": dict(self.provenance)}
        arrays = {"responses": self.responses, "directions": self.directions, "time": self.time,
                  "meta": np.array(json.dumps(meta, sort_keys=True))}
        arrays.update({f"unit__{k}": v for k, v in self.units.items()})
        if self.significant is not None:
            arrays["significant"] = self.significant
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "ResponseSet":
        meta = json.loads(str(arrays["meta"][()]))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported response-set format {meta.get('format_version')!r}; "
                             f"this twinscope reads version {FORMAT_VERSION}")
        return cls(responses=arrays["responses"], stimuli=tuple(meta["stimuli"]),
                   directions=arrays["directions"], time=arrays["time"], time_unit=meta["time_unit"],
                   onset_index=meta["onset_index"],
                   units={k: arrays[f"unit__{k}"] for k in meta["unit_columns"]},
                   significant=arrays.get("significant"), provenance=meta["provenance"])

    def save(self, path: str | os.PathLike) -> Path:
        """Write an uncompressed NPZ atomically (temporary file + rename); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **self.to_arrays())
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ResponseSet":
        return cls.from_arrays(read_npz(path))

    def content_hash(self) -> str:
        """SHA-256 over values and every label; stable across processes and save/load."""
        h = hashlib.sha256()
        for name, arr in sorted(self.to_arrays().items()):
            arr = np.ascontiguousarray(arr)
            h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
            h.update(arr.tobytes())
        return h.hexdigest()

    def equals(self, other: "ResponseSet") -> bool:
        """Exact equality of values and labels."""
        return isinstance(other, ResponseSet) and self.content_hash() == other.content_hash()
