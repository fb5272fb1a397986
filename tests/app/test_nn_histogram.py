"""The 1-NN distance histogram of the encoding panel (METHODS.md 5.7): kept and removed points, shared bins."""

import numpy as np
import plotly.graph_objects as go
import pytest

from app.figures import nn_distance_histogram


def test_kept_and_removed_points_are_counted_on_shared_bins():
    distances = np.array([0.1, 0.2, 0.2, 0.5, 0.5, 0.5, 3.0])
    removed = np.array([True, False, False, False, False, False, True])
    fig = nn_distance_histogram(distances, removed, n_bins=5)
    go.Figure(fig.to_dict())                      # passes plotly's validation
    kept, gone = fig.data
    np.testing.assert_array_equal(np.sort(kept.x), [0.2, 0.2, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(np.sort(gone.x), [0.1, 3.0])
    assert gone.name == "removed (2)" and kept.xbins.size == pytest.approx(0.58)
    assert fig.layout.barmode == "stack"


def test_nothing_removed_and_empty_input():
    assert nn_distance_histogram(np.ones(4)).data[1].x.size == 0
    empty = nn_distance_histogram(np.zeros(0))
    assert "no 1-NN distances" in empty.layout.annotations[0].text


def test_shape_error():
    with pytest.raises(ValueError, match=r"removed must have shape \(3,\); got \(2,\)"):
        nn_distance_histogram(np.ones(3), np.zeros(2, dtype=bool))
