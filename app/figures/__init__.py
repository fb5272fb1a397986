"""Pure plotly figure builders: plain arrays / small dicts in (what ``compute.workflows.load_view`` and
its collectors return), ``go.Figure`` out. Never imports dash. The shared look lives in ``style``."""

from app.figures.alignment import alignment_figure, alignment_heatmap, alignment_table, alignment_table_figure
from app.figures.decoding import (accuracy_bars, accuracy_figure, crossing_matrix_figure, crossing_trace, decoding_manifold_figure,
                                  trajectories_figure)
from app.figures.encoding import encoding_figure, nn_distance_histogram
from app.figures.psth import psth_figure
from app.figures.stimuli import sequence_preview, thumbnail_strip
from app.figures.style import empty_figure
from app.figures.tubularity import sensitivity_heatmap, tube_figure, tubularity_bars

__all__ = ["accuracy_bars", "accuracy_figure", "alignment_figure", "alignment_heatmap", "alignment_table", "alignment_table_figure",
           "crossing_matrix_figure", "crossing_trace", "decoding_manifold_figure", "empty_figure", "encoding_figure", "nn_distance_histogram",
           "psth_figure",
           "sensitivity_heatmap", "sequence_preview", "thumbnail_strip", "trajectories_figure", "tube_figure",
           "tubularity_bars"]
