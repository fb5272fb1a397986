"""resample_time (METHODS.md section 3): Hamming-windowed FFT resampling and its time labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import get_window

from compute.analysis.timebase import resample_time
from compute.responses import ResponseSet


def _cosines(n: int, amplitudes: dict[int, float]) -> np.ndarray:
    k = np.arange(n)
    return sum(a * np.cos(2 * np.pi * f * k / n) for f, a in amplitudes.items())


def _hamming_gain(n: int, f: int) -> float:
    """Weight scipy.signal.resample(window="hamming") gives frequency f of a real n-point signal: the
    window W = fftshift(get_window("hamming", n)), folded over +f and -f."""
    w = np.fft.fftshift(get_window("hamming", n))
    return float(w[0] if f == 0 else (w[f] + w[-f]) / 2)


def _set(signal: np.ndarray, **kwargs) -> ResponseSet:
    responses = np.broadcast_to(signal, (2, 1, 8, signal.size)).astype(np.float32)
    return ResponseSet(responses, ("grat_W12",), **kwargs)


def test_round_trip_of_band_limited_signal():
    amplitudes = {0: 2.0, 1: 1.0, 3: 0.5}
    rs = _set(_cosines(135, amplitudes), time=np.arange(135.0), time_unit="bin", onset_index=10)
    down = resample_time(rs, 37)
    back = resample_time(down, 135)
    # Each kept frequency is weighted by the Hamming window once per resampling (planted, exact answer).
    expected_down = _cosines(37, {f: a * _hamming_gain(135, f) for f, a in amplitudes.items()})
    expected_back = _cosines(135, {f: a * _hamming_gain(135, f) * _hamming_gain(37, f) for f, a in amplitudes.items()})
    np.testing.assert_allclose(down.responses[0, 0, 0], expected_down, atol=1e-5)
    np.testing.assert_allclose(back.responses[1, 0, 7], expected_back, atol=1e-5)
    np.testing.assert_allclose(back.responses[0, 0, 0], rs.responses[0, 0, 0], atol=0.05)  # close to the original


def test_labels_follow_the_new_time_base():
    rs = _set(np.ones(135), time=np.arange(135.0), time_unit="bin", onset_index=10, provenance={"label": "V1"})
    out = resample_time(rs, 37)
    assert out.shape == (2, 1, 8, 37) and out.responses.dtype == np.float32
    np.testing.assert_allclose(out.time, np.arange(37) * 135 / 37)
    assert out.onset_index == 3                       # bin 10 of 135 -> 2.74 of 37
    assert out.time_unit == "bin" and out.provenance["resampled_from"] == 135 and out.label == "V1"
    np.testing.assert_allclose(out.responses, _hamming_gain(135, 0), rtol=1e-6)  # DC weight 0.99988
    assert resample_time(out, 37) is out


def test_errors():
    rs = _set(np.ones(10))
    with pytest.raises(ValueError, match="n_time must be an integer >= 2; got 1"):
        resample_time(rs, 1)
    with pytest.raises(TypeError, match="rs must be a ResponseSet; got ndarray"):
        resample_time(rs.responses, 5)
    with pytest.raises(ValueError, match="resample_time needs equally spaced time bins"):
        resample_time(_set(np.ones(4), time=np.array([0.0, 1.0, 3.0, 4.0])), 8)
    with pytest.raises(ValueError, match="cannot resample a response set with 1 time bin"):
        resample_time(_set(np.ones(1)), 4)
