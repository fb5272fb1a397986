"""Small statistics shared by the analyses."""

from __future__ import annotations

import numpy as np


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis of each row of a (n, K) with b (n, K) or (K,): shape (n,).

    0 where a row (or b) is constant, so that undefined correlations count as no correlation.
    """
    ac = a - a.mean(axis=-1, keepdims=True)
    bc = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((ac ** 2).sum(axis=-1) * (bc ** 2).sum(axis=-1))
    return np.divide((ac * bc).sum(axis=-1), den, out=np.zeros(a.shape[0]), where=den > 0)
