"""Unit diagnostics the seed study used (METHODS.md section 8): direction / orientation tuning and the
"intensity arm" (units that ramp up for every condition alike), with removal of flagged units.

Tuning uses time-averaged responses from the stimulus onset (``rs.onset_index``) to the end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import rankdata

from compute._validation import check_float, check_instance
from compute.analysis._stats import rowwise_pearson
from compute.responses import ResponseSet


@dataclass(frozen=True)
class Tuning:
    """Direction and orientation tuning of every unit.

    OSI = |sum_theta r e^{2 i theta}| / sum_theta r and DSI = |sum_theta r e^{i theta}| / sum_theta r of the
    time-averaged response r(theta); NaN where sum_theta r <= 0 (no response). The per-unit values are
    those of the unit's best stimulus (largest response at its best direction); the per-stimulus values
    are kept too.

    Attributes
    ----------
    osi, dsi : ndarray of shape (n_units,)
        At each unit's best stimulus.
    preferred_direction : ndarray of shape (n_units,)
        Degrees in [0, 360) at the best stimulus: the angle of sum_theta r e^{i theta}.
    best_stimulus : ndarray of shape (n_units,), int
        Index of the best stimulus (max over directions of r, then argmax over stimuli).
    osi_per_stimulus, dsi_per_stimulus, preferred_per_stimulus : ndarray of shape (n_units, n_stimuli)
    stimuli : tuple of str
    """

    osi: np.ndarray
    dsi: np.ndarray
    preferred_direction: np.ndarray
    best_stimulus: np.ndarray
    osi_per_stimulus: np.ndarray
    dsi_per_stimulus: np.ndarray
    preferred_per_stimulus: np.ndarray
    stimuli: tuple[str, ...]


@dataclass(frozen=True)
class IntensityArm:
    """Units flagged as the non-selective ramping "intensity arm" and the scores behind the flags.

    Attributes
    ----------
    flags : ndarray of shape (n_units,), bool
        osi <= max_osi and dsi <= max_dsi and psth_corr >= min_psth_corr and ramp >= min_ramp.
    osi, dsi : ndarray of shape (n_units,)
        OSI and DSI at the unit's best stimulus (``Tuning.osi``, ``Tuning.dsi``).
    psth_corr : ndarray of shape (n_units,)
        Pearson correlation of the unit's PSTH (mean over conditions) with the population mean PSTH.
    ramp : ndarray of shape (n_units,)
        Spearman correlation of the unit's PSTH with time (1 = rises monotonically).
    thresholds : dict
        max_osi, max_dsi, min_psth_corr, min_ramp used.
    """

    flags: np.ndarray
    osi: np.ndarray
    dsi: np.ndarray
    psth_corr: np.ndarray
    ramp: np.ndarray
    thresholds: dict

    @property
    def n_flagged(self) -> int:
        return int(self.flags.sum())


def _check_rs(rs: ResponseSet) -> ResponseSet:
    check_instance(rs, ResponseSet, name="rs")
    if rs.n_time - rs.onset_index < 2:
        raise ValueError(f"need at least 2 time bins from the onset (bin {rs.onset_index}); got {rs.n_time} bins")
    return rs


def _vector_strength(r: np.ndarray, theta: np.ndarray, harmonic: int) -> tuple[np.ndarray, np.ndarray]:
    """|sum r e^{i h theta}| / sum r and the angle of the sum; r (..., n_directions)."""
    total = r.sum(axis=-1)
    vec = (r * np.exp(1j * harmonic * theta)).sum(axis=-1)
    index = np.divide(np.abs(vec), total, out=np.full(total.shape, np.nan), where=total > 0)
    return index, np.angle(vec)


def unit_tuning(rs: ResponseSet) -> Tuning:
    """OSI, DSI and preferred direction of every unit for every stimulus and at its best stimulus.

    Parameters
    ----------
    rs : ResponseSet
        responses (n_units, n_stimuli, n_directions, n_time); non-negative responses are assumed (rates).

    Returns
    -------
    Tuning
        Per unit (n_units,) at the best stimulus and per (unit, stimulus); see ``Tuning``.
    """
    rs = _check_rs(rs)
    r = rs.responses[..., rs.onset_index:].astype(np.float64).mean(axis=-1)
    theta = np.deg2rad(rs.directions)
    osi, _ = _vector_strength(r, theta, 2)
    dsi, angle = _vector_strength(r, theta, 1)
    preferred = np.mod(np.rad2deg(angle), 360.0)
    best = r.max(axis=2).argmax(axis=1)
    rows = np.arange(rs.n_units)
    return Tuning(osi=osi[rows, best], dsi=dsi[rows, best], preferred_direction=preferred[rows, best],
                  best_stimulus=best, osi_per_stimulus=osi, dsi_per_stimulus=dsi, preferred_per_stimulus=preferred,
                  stimuli=rs.stimuli)


def intensity_arm(rs: ResponseSet, *, max_osi: float = 0.2, max_dsi: float = 0.2, min_psth_corr: float = 0.9,
                  min_ramp: float = 0.9) -> IntensityArm:
    """Flag units that ramp up non-selectively for every condition (METHODS.md section 8).

    A unit is flagged when all four hold: weak orientation and direction selectivity at its best stimulus
    (OSI <= ``max_osi``, DSI <= ``max_dsi``); its PSTH (mean over all stimuli and directions, from the
    onset) follows the population mean PSTH (Pearson r >= ``min_psth_corr``); and it is monotone in time
    (Spearman correlation of PSTH with time >= ``min_ramp``). Silent units (NaN OSI) are never flagged.

    Parameters
    ----------
    rs : ResponseSet
        responses (n_units, n_stimuli, n_directions, n_time).
    max_osi, max_dsi : float, default=0.2
    min_psth_corr, min_ramp : float, default=0.9

    Returns
    -------
    IntensityArm
        flags (n_units,) and the scores used.
    """
    rs = _check_rs(rs)
    max_osi = check_float(max_osi, name="max_osi", low=0, high=1)
    max_dsi = check_float(max_dsi, name="max_dsi", low=0, high=1)
    min_psth_corr = check_float(min_psth_corr, name="min_psth_corr", low=-1, high=1)
    min_ramp = check_float(min_ramp, name="min_ramp", low=-1, high=1)
    tuning = unit_tuning(rs)
    psth = rs.responses[..., rs.onset_index:].astype(np.float64).mean(axis=(1, 2))
    psth_corr = rowwise_pearson(psth, psth.mean(axis=0))
    ramp = rowwise_pearson(rankdata(psth, axis=1), np.arange(psth.shape[1], dtype=float))
    with np.errstate(invalid="ignore"):
        flags = ((tuning.osi <= max_osi) & (tuning.dsi <= max_dsi) & (psth_corr >= min_psth_corr)
                 & (ramp >= min_ramp))
    return IntensityArm(flags=flags, osi=tuning.osi, dsi=tuning.dsi, psth_corr=psth_corr, ramp=ramp,
                        thresholds={"max_osi": max_osi, "max_dsi": max_dsi, "min_psth_corr": min_psth_corr,
                                    "min_ramp": min_ramp})


def remove_flagged(rs: ResponseSet, flags: np.ndarray) -> ResponseSet:
    """The response set without the flagged units; provenance records how many were removed.

    Parameters
    ----------
    rs : ResponseSet
        responses (n_units, ...).
    flags : ndarray of shape (n_units,), bool
        True for units to remove (e.g. ``intensity_arm(rs).flags``).

    Returns
    -------
    ResponseSet
        responses (n_units - n_flagged, ...), same labels otherwise.
    """
    check_instance(rs, ResponseSet, name="rs")
    flags = np.asarray(flags)
    if flags.dtype != bool:
        raise TypeError(f"flags must be a boolean array; got dtype {flags.dtype}")
    if flags.shape != (rs.n_units,):
        raise ValueError(f"flags must have shape ({rs.n_units},), one per unit; got {flags.shape}")
    if flags.all():
        raise ValueError(f"all {rs.n_units} units are flagged; nothing would remain")
    kept = rs.select(units=~flags)
    removed = int(rs.provenance.get("removed_units", 0)) + int(flags.sum())
    suffix = " (flagged units removed)"
    label = rs.label if rs.label.endswith(suffix) else rs.label + suffix
    return replace(kept, provenance={**rs.provenance, "removed_units": removed, "label": label})
