"""From a ResponseSet to the encoding tensor (METHODS.md section 5.1-5.3).

Steps, in order, each one explicit:

1. shift non-negative: a unit whose minimum response is negative is moved up by that amount;
2. Gaussian smoothing along time (sigma 3 frames for model units; none for biology, which is smoothed);
3. six stimuli per unit: model units default to "optSF" (per unit, the slot-aligned low-SF or high-SF
   set, whichever drives the unit more in more of the six slots; ties go to high-SF), biology to its own
   six ("bio-matched"); any named set or explicit stimuli can be asked for;
4. relNorm: each (unit, stimulus) direction x time map scaled to unit L2 norm; relFR = (max over
   directions of the time-mean response) / (its max over the unit's six stimuli) multiplies the maps of
   the decomposed tensor for model units only; biology decomposes the unit-norm maps and relFR enters
   only the neural matrix (``EncodingTensor.full`` always carries it);
5. biology: non-significant (unit, stimulus) maps zeroed in the tensor that is decomposed (the unzeroed
   maps are kept for the neural matrix, METHODS 5.6);
6. Fortran flattening of each map: index = direction + n_directions * time -> (N, 6, 8T).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from compute._validation import check_bool, check_float, check_instance, check_int
from compute.responses import ResponseSet
from compute.seed_ranks import STIMULUS_CHOICES
from compute.stimuli import CLASS_NAMES, preset_names, resolve

__all__ = ["EncodingTensor", "MODEL_SMOOTHING_SIGMA", "OPTSF_SETS", "STIMULUS_CHOICES", "encoding_tensor",
           "flatten_maps", "is_model_set", "unflatten_maps"]

MODEL_SMOOTHING_SIGMA = 3.0
#: Slot-aligned sets of "optSF" (slots: grating LF, grating HF, neg 1-dot, neg 3-dot, pos 1-dot, pos 3-dot).
OPTSF_SETS = {"low-SF": (0, 2, 5, 6, 9, 10), "high-SF": (0, 1, 3, 4, 7, 8)}


@dataclass(frozen=True, eq=False)
class EncodingTensor:
    """The decomposition input and what the neural matrix needs; n_slots = the six stimuli of the chosen set
    (or the custom set's size) plus any ``extra_stimuli``.

    Attributes
    ----------
    tensor : ndarray of shape (n_units, n_slots, n_directions * n_time), float64
        The decomposed maps: unit-norm, times relFR when ``rel_fr_in_tensor``, non-significant maps
        zeroed; Fortran order (direction + D * time).
    full : ndarray of shape (n_units, n_slots, n_directions * n_time), float64
        Unit-norm maps times relFR with the non-significant ones kept (the neural matrix's data, METHODS 5.6).
    rel_fr : ndarray of shape (n_units, n_slots)
        Relative rate of each (unit, stimulus), max 1 per unit (0 for a silent unit).
    significant : ndarray of shape (n_units, n_slots), bool
        All True when the set has no significance flags (model units).
    stimulus_index : ndarray of shape (n_units, n_slots), int
        Index into ``stimuli`` of the stimulus in each slot (rows differ only for "optSF").
    stimuli : tuple of str
        Stimulus names of the response set.
    choice : str
        The stimulus choice used (a name of ``STIMULUS_CHOICES`` or "custom").
    smoothing_sigma : float
        Gaussian sigma applied along time (0 = none).
    rel_fr_in_tensor : bool
        Whether ``tensor`` carries relFR (model units) or only unit-norm maps (biology).
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
    rel_fr_in_tensor: bool
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
    check_int(n_directions, name="n_directions", low=1)
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


def _optsf(rs: ResponseSet, drive: np.ndarray) -> np.ndarray:
    """Per unit the "optSF" set that drives it more in more of the six slots (ties: high-SF), (n_units, 6)."""
    low, high = (_slots(rs, [CLASS_NAMES[k] for k in OPTSF_SETS[name]]) for name in ("low-SF", "high-SF"))
    low_wins = (drive[:, low] > drive[:, high]).sum(axis=1) > (drive[:, high] > drive[:, low]).sum(axis=1)
    return np.where(low_wins[:, None], low[None], high[None])


def _choose_stimuli(rs: ResponseSet, responses: np.ndarray, stimuli) -> tuple[np.ndarray, str]:
    """Stimulus index per unit and slot (n_units, 6) and the choice's name."""
    n_units = responses.shape[0]
    if isinstance(stimuli, str):
        if stimuli == "optSF":
            return _optsf(rs, _drive(responses)), stimuli
        if stimuli not in STIMULUS_CHOICES:
            raise ValueError(f"unknown stimulus choice {stimuli!r}; expected one of {STIMULUS_CHOICES} "
                             "or a sequence of stimulus names")
        idx = _slots(rs, preset_names(stimuli))
        return np.broadcast_to(idx, (n_units, idx.size)).copy(), stimuli
    idx = _slots(rs, resolve(list(stimuli), rs.stimuli))
    return np.broadcast_to(idx, (n_units, idx.size)).copy(), "custom"


def is_model_set(rs: ResponseSet) -> bool:
    """Model response sets have a time axis in seconds; biology counts bins (already smoothed)."""
    return rs.time_unit == "s"


def encoding_tensor(rs: ResponseSet, *, stimuli: str | Sequence[str | int] | None = None,
                    extra_stimuli: Sequence[str] = (), smoothing_sigma: float | None = None,
                    rel_fr_in_tensor: bool | None = None, zero_nonsignificant: bool = True) -> EncodingTensor:
    """The permuted-CP input of a response set (METHODS.md 5.1-5.3).

    Parameters
    ----------
    rs : ResponseSet
        responses of shape (n_units, n_stimuli, n_directions, n_time).
    stimuli : str, sequence or None, default=None
        A name of ``STIMULUS_CHOICES`` or stimulus names / indices of ``rs``; None: "optSF" for model sets
        (time_unit "s"), "bio-matched" for biology.
    extra_stimuli : sequence of str, default=()
        Stimulus names appended to every unit's set (the user's clip classes): the tensor gets
        n_chosen + len(extra_stimuli) stimulus slots, and relFR is taken over all of them.
    smoothing_sigma : float or None, default=None
        Gaussian sigma in time bins (boundary mode "reflect"); None: 3 frames for model sets, none for
        biology (already smoothed).
    rel_fr_in_tensor : bool or None, default=None
        Multiply the decomposed maps by relFR; None: True for model sets, False for biology.
    zero_nonsignificant : bool, default=True
        Zero the (unit, stimulus) maps that ``rs.significant`` marks non-significant.

    Returns
    -------
    EncodingTensor
        tensor and full of shape (n_units, n_slots, n_directions * n_time).
    """
    check_instance(rs, ResponseSet, name="rs")
    check_float(smoothing_sigma, name="smoothing_sigma", low=0, optional=True)
    check_bool(zero_nonsignificant, name="zero_nonsignificant")
    if rel_fr_in_tensor is not None:
        check_bool(rel_fr_in_tensor, name="rel_fr_in_tensor")
    model = is_model_set(rs)
    if stimuli is None:
        stimuli = "optSF" if model else "bio-matched"
    if smoothing_sigma is None:
        smoothing_sigma = MODEL_SMOOTHING_SIGMA if model else 0.0
    if rel_fr_in_tensor is None:
        rel_fr_in_tensor = model
    responses = rs.responses.astype(np.float64)
    if not np.all(np.isfinite(responses)):
        raise ValueError("responses contain NaN or infinite values")
    unit_min = responses.min(axis=(1, 2, 3), keepdims=True)
    responses = responses - np.minimum(unit_min, 0.0)
    if smoothing_sigma > 0:
        responses = gaussian_filter1d(responses, smoothing_sigma, axis=3, mode="reflect")

    stimulus_index, choice = _choose_stimuli(rs, responses, stimuli)
    if len(extra_stimuli):
        extra = _slots(rs, resolve(list(extra_stimuli), rs.stimuli))
        doubled = sorted(rs.stimuli[i] for i in np.intersect1d(extra, stimulus_index))
        if doubled:
            raise ValueError(f"extra_stimuli {doubled} are already in the {choice!r} set; leave them out")
        stimulus_index = np.concatenate([stimulus_index, np.broadcast_to(extra, (len(stimulus_index), extra.size))],
                                        axis=1)
        choice = f"{choice} + {', '.join(rs.stimuli[i] for i in extra)}"
    units = np.arange(rs.n_units)[:, None]
    chosen = responses[units, stimulus_index]                      # (n_units, 6, D, T)
    norms = np.sqrt((chosen ** 2).sum(axis=(2, 3), keepdims=True))
    unit_maps = np.divide(chosen, norms, out=np.zeros_like(chosen), where=norms > 0)
    drive = _drive(chosen)
    top = drive.max(axis=1, keepdims=True)
    rel_fr = np.divide(drive, top, out=np.zeros_like(drive), where=top > 0)
    full = flatten_maps(unit_maps * rel_fr[:, :, None, None])
    decomposed = full if rel_fr_in_tensor else flatten_maps(unit_maps)
    if rs.significant is not None and zero_nonsignificant:
        significant = rs.significant[units, stimulus_index]
    else:
        significant = np.ones(stimulus_index.shape, dtype=bool)
    return EncodingTensor(tensor=decomposed * significant[:, :, None], full=full, rel_fr=rel_fr,
                          significant=significant, stimulus_index=stimulus_index, stimuli=rs.stimuli,
                          choice=choice, smoothing_sigma=float(smoothing_sigma),
                          rel_fr_in_tensor=bool(rel_fr_in_tensor),
                          n_directions=rs.responses.shape[2], n_time=rs.n_time)
