"""Module-like synthetic response sets for the benchmarks (no extraction or data needed)."""

from __future__ import annotations

import numpy as np

from compute.responses import ResponseSet

CLASS_NAMES = ("grat_W12", "grat_W1", "grat_W2", "neg1dotflow_D1_bg", "neg3dotflow_D1_bg", "neg1dotflow_D2_bg",
               "neg3dotflow_D2_bg", "pos1dotflow_D1_bg", "pos3dotflow_D1_bg", "pos1dotflow_D2_bg",
               "pos3dotflow_D2_bg")


def module_like(n_units: int = 2000, n_time: int = 37, *, stimuli=CLASS_NAMES, noise: float = 0.05,
                seed: int = 0, label: str = "synthetic module") -> ResponseSet:
    """Units with a preferred stimulus and direction (von Mises tuning) and a random temporal profile
    (a latency and a decay), plus a little noise: responses (n_units, n_stimuli, 8, n_time) >= 0."""
    rng = np.random.default_rng(seed)
    theta = np.deg2rad(np.arange(0, 360, 45))
    pref = rng.uniform(0, 2 * np.pi, n_units)
    kappa = rng.uniform(0.2, 3.0, n_units)
    tuning = np.exp(kappa[:, None] * (np.cos(theta[None] - pref[:, None]) - 1))          # (n, 8)
    gain = rng.gamma(1.5, 1.0, (n_units, len(stimuli)))                                  # (n, s)
    t = np.arange(n_time) / n_time
    latency = rng.uniform(0.0, 0.4, n_units)
    tau = rng.uniform(0.05, 0.6, n_units)
    profile = np.clip(t[None] - latency[:, None], 0, None)
    profile = profile / tau[:, None] * np.exp(1 - profile / tau[:, None])                # (n, T)
    resp = gain[:, :, None, None] * tuning[:, None, :, None] * profile[:, None, None, :]
    resp += noise * rng.standard_normal(resp.shape)
    return ResponseSet(np.clip(resp, 0, None).astype(np.float32), tuple(stimuli),
                       time=np.arange(n_time) / 30.0, provenance={"label": label})
