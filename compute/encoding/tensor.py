"""From a ResponseSet to the encoding tensor (METHODS.md section 5.1-5.3).

Steps, in order, each one explicit:

1. shift non-negative: a unit whose minimum response is negative is moved up by that amount;
2. Gaussian smoothing along time (sigma 3 frames for model units; none for biology, which is smoothed);
3. six stimuli per unit: a fixed named set (default "bio-matched") or, for model units, "per-unit-best":
   whichever of the authors' two sets ("authors-lowsf", "authors-highsf") drives the unit more;
4. relNorm: each (unit, stimulus) direction x time map scaled to unit L2 norm, times
   relFR = (max over directions of the time-mean response) / (its max over the unit's six stimuli);
5. biology: non-significant (unit, stimulus) maps zeroed in the tensor that is decomposed (the unzeroed
   maps are kept for the neural matrix, METHODS 5.6);
6. Fortran flattening of each map: index = direction + n_directions * time -> (N, 6, 8T).

The authors' notebook decomposes unit-norm maps and multiplies by relFR only when building the neural
matrix; METHODS.md 5.2 (binding here) puts relFR into the decomposed tensor as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from compute.responses import ResponseSet
from compute.stimuli import CLASS_NAMES, PRESETS

__all__ = ["EncodingTensor", "MODEL_SMOOTHING_SIGMA", "STIMULUS_CHOICES", "encoding_tensor", "flatten_maps",
           "unflatten_maps"]

MODEL_SMOOTHING_SIGMA = 3.0
#: Named stimulus choices; "per-unit-best" picks one of the two authors' sets per unit.
STIMULUS_CHOICES = ("bio-matched", "authors-lowsf", "authors-highsf", "per-unit-best")
_AUTHOR_SETS = ("authors-lowsf", "authors-highsf")


@dataclass(frozen=True, eq=False)
class EncodingTensor:
    """The decomposition input and what the neural matrix needs.

    Attributes
    ----------
    tensor : ndarray of shape (n_units, 6, n_directions * n_time), float64
        relNorm maps times relFR, non-significant maps zeroed; Fortran order (direction + D * time).
    full : ndarray of shape (n_units, 6, n_directions * n_time), float64
        The same maps with the non-significant ones kept (METHODS 5.6 re-inserts them).
    rel_fr : ndarray of shape (n_units, 6)
        Relative rate of each (unit, stimulus), max 1 per unit (0 for a silent unit).
    significant : ndarray of shape (n_units, 6), bool
        All True when the set has no significance flags (model units).
    stimulus_index : ndarray of shape (n_units, 6), int
        Index into ``stimuli`` of the stimulus in each slot (rows differ only for "per-unit-best").
    stimuli : tuple of str
        Stimulus names of the response set.
    choice : str
        The stimulus choice used (a name of ``STIMULUS_CHOICES`` or "custom").
    smoothing_sigma : float
        Gaussian sigma applied along time (0 = none).
    n_directions, n_time : int
    """

    tensor: np.ndarray
    full: np.ndarray
    rel_fr: np.ndarray
    significant: np.ndarray
    stimulus_index: np.ndarray
    stimuli: tuple[str, ...]
    choice: str
    smoothing_sigma: float
    n_directions: int
    n_time: int

    @property
    def n_units(self) -> int:
        return self.tensor.shape[0]


def flatten_maps(maps: np.ndarray) -> np.ndarray:
    """(..., n_directions, n_time) -> (..., n_directions * n_time) in Fortran order: index = d + D * t."""
    maps = np.asarray(maps)
    return np.swapaxes(maps, -1, -2).reshape(*maps.shape[:-2], -1)


def unflatten_maps(flat: np.ndarray, n_directions: int = 8) -> np.ndarray:
    """Inverse of ``flatten_maps``: (..., n_directions * n_time) -> (..., n_directions, n_time)."""
    flat = np.asarray(flat)
    if flat.shape[-1] % n_directions:
        raise ValueError(f"last axis ({flat.shape[-1]}) is not a multiple of n_directions={n_directions}")
    return np.swapaxes(flat.reshape(*flat.shape[:-1], -1, n_directions), -1, -2)


def _slots(rs: ResponseSet, names: Sequence[str]) -> np.ndarray:
    missing = [s for s in names if s not in rs.stimuli]
    if missing:
        raise ValueError(f"this response set lacks the stimuli {missing}; it has {list(rs.stimuli)}")
    return np.array([rs.stimuli.index(s) for s in names])


def _drive(responses: np.ndarray) -> np.ndarray:
    """Max over directions of the time-mean response, shape (n_units, n_stimuli)."""
    return responses.mean(axis=3).max(axis=2)


def _choose_stimuli(rs: ResponseSet, responses: np.ndarray, stimuli) -> tuple[np.ndarray, str]:
    """Stimulus index per unit and slot (n_units, 6) and the choice's name."""
    n_units = responses.shape[0]
    if isinstance(stimuli, str):
        if stimuli == "per-unit-best":
            sets = [_slots(rs, [CLASS_NAMES[k] for k in PRESETS[name]]) for name in _AUTHOR_SETS]
            drive = _drive(responses)
            totals = np.stack([drive[:, idx].sum(1) for idx in sets], axis=1)  # (n_units, 2)
            # ties (e.g. a silent unit) go to the first set
            return np.where((totals[:, 1] > totals[:, 0])[:, None], sets[1][None], sets[0][None]), stimuli
        if stimuli not in STIMULUS_CHOICES:
            raise ValueError(f"unknown stimulus choice {stimuli!r}; expected one of {STIMULUS_CHOICES} "
                             "or a sequence of stimulus names")
        idx = _slots(rs, [CLASS_NAMES[k] for k in PRESETS[stimuli]])
        return np.broadcast_to(idx, (n_units, idx.size)).copy(), stimuli
    names = list(stimuli)
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"stimuli must be distinct and non-empty; got {names}")
    idx = np.array(rs.stimulus_indices(names))
    return np.broadcast_to(idx, (n_units, idx.size)).copy(), "custom"


def encoding_tensor(rs: ResponseSet, *, stimuli: str | Sequence[str | int] = "bio-matched",
                    smoothing_sigma: float | None = None, zero_nonsignificant: bool = True) -> EncodingTensor:
    """The permuted-CP input of a response set (METHODS.md 5.1-5.3).

    Parameters
    ----------
    rs : ResponseSet
        responses of shape (n_units, n_stimuli, n_directions, n_time).
    stimuli : str or sequence, default="bio-matched"
        A name of ``STIMULUS_CHOICES`` or stimulus names / indices of ``rs``.
    smoothing_sigma : float or None, default=None
        Gaussian sigma in time bins; None: 3 frames for model sets (time_unit "s"), none for biology
        (time_unit "bin", already smoothed).
    zero_nonsignificant : bool, default=True
        Zero the (unit, stimulus) maps that ``rs.significant`` marks non-significant.

    Returns
    -------
    EncodingTensor
        tensor and full of shape (n_units, 6, n_directions * n_time).
    """
    if not isinstance(rs, ResponseSet):
        raise TypeError(f"expected a ResponseSet; got {type(rs).__name__}")
    if smoothing_sigma is None:
        smoothing_sigma = MODEL_SMOOTHING_SIGMA if rs.time_unit == "s" else 0.0
    if not np.isfinite(smoothing_sigma) or smoothing_sigma < 0:
        raise ValueError(f"smoothing_sigma must be >= 0; got {smoothing_sigma!r}")
    responses = rs.responses.astype(np.float64)
    if not np.all(np.isfinite(responses)):
        raise ValueError("responses contain NaN or infinite values")
    unit_min = responses.min(axis=(1, 2, 3), keepdims=True)
    responses = responses - np.minimum(unit_min, 0.0)
    if smoothing_sigma > 0:
        responses = gaussian_filter1d(responses, smoothing_sigma, axis=3, mode="nearest")

    stimulus_index, choice = _choose_stimuli(rs, responses, stimuli)
    units = np.arange(rs.n_units)[:, None]
    chosen = responses[units, stimulus_index]                      # (n_units, 6, D, T)
    norms = np.sqrt((chosen ** 2).sum(axis=(2, 3), keepdims=True))
    unit_maps = np.divide(chosen, norms, out=np.zeros_like(chosen), where=norms > 0)
    drive = _drive(chosen)
    top = drive.max(axis=1, keepdims=True)
    rel_fr = np.divide(drive, top, out=np.zeros_like(drive), where=top > 0)
    full = flatten_maps(unit_maps * rel_fr[:, :, None, None])
    if rs.significant is not None and zero_nonsignificant:
        significant = rs.significant[units, stimulus_index]
    else:
        significant = np.ones(stimulus_index.shape, dtype=bool)
    return EncodingTensor(tensor=full * significant[:, :, None], full=full, rel_fr=rel_fr,
                          significant=significant, stimulus_index=stimulus_index, stimuli=rs.stimuli,
                          choice=choice, smoothing_sigma=float(smoothing_sigma),
                          n_directions=rs.responses.shape[2], n_time=rs.n_time)
