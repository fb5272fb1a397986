"""Put two systems on one time base (METHODS.md section 3).

Biology (135 bins) is brought to the model's 37 frames only inside comparisons; the views keep each
system's own time axis. Resampling is FFT-based with a Hamming window in the Fourier domain
(``scipy.signal.resample(..., window="hamming")``), which damps the highest kept frequencies and so the
ringing of a plain Fourier truncation.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.signal import resample

from compute._validation import check_instance, check_int
from compute.responses import ResponseSet


def resample_time(rs: ResponseSet, n_time: int) -> ResponseSet:
    """The same responses on ``n_time`` equally spaced time bins spanning the same interval.

    Parameters
    ----------
    rs : ResponseSet
        responses of shape (n_units, n_stimuli, n_directions, n_time_in).
    n_time : int
        Number of time bins wanted (>= 2).

    Returns
    -------
    ResponseSet
        responses of shape (n_units, n_stimuli, n_directions, n_time). The bin width becomes
        ``dt * n_time_in / n_time``, the first bin keeps its time, ``onset_index`` moves to the new bin
        nearest the old onset time and ``provenance["resampled_from"]`` records ``n_time_in``. Values are
        not clipped: the Fourier resampling may ring slightly below zero next to sharp onsets.
        ``rs`` itself is returned when it already has ``n_time`` bins.
    """
    check_instance(rs, ResponseSet, name="rs")
    n_time = check_int(n_time, name="n_time", low=2)
    n_in = rs.n_time
    if n_in == n_time:
        return rs
    if n_in < 2:
        raise ValueError(f"cannot resample a response set with {n_in} time bin; it needs at least 2")
    step = np.diff(rs.time)
    if not np.allclose(step, step[0]):
        raise ValueError("resample_time needs equally spaced time bins; this set's time axis is irregular")
    responses = resample(rs.responses.astype(np.float64), int(n_time), axis=3, window="hamming")
    new_step = step[0] * n_in / n_time
    time = rs.time[0] + new_step * np.arange(n_time)
    onset = int(np.clip(np.round((rs.time[rs.onset_index] - rs.time[0]) / new_step), 0, n_time - 1))
    return replace(rs, responses=responses.astype(np.float32), time=time, onset_index=onset,
                   provenance={**rs.provenance, "resampled_from": int(n_in)})
