"""Pure figure builders on tiny data: trace counts, axis titles, consistent colours, customdata, empty input."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from app import figures
from app.figures import style
from compute.stimuli import CLASS_NAMES

STIMULI = ["grat_W12", "grat_W2", "pos1dotflow_D2_bg"]
N_DIR, N_TIME = 8, 5


def _labels(n_stim: int = len(STIMULI)) -> np.ndarray:
    return np.array([(s, d) for s in range(n_stim) for d in range(N_DIR)])


def _annotations(fig: go.Figure) -> str:
    return " | ".join(a.text for a in fig.layout.annotations)


# ---------------------------------------------------------------------------------------------- style
class TestStyle:
    def test_every_class_has_its_own_colour(self):
        assert set(style.CLASS_COLORS) == set(CLASS_NAMES)
        assert len(set(style.CLASS_COLORS.values())) == len(CLASS_NAMES)

    def test_direction_shades(self):
        color = style.stimulus_color("grat_W12")
        shades = [style.direction_shade(color, d) for d in range(N_DIR)]
        assert shades[0] == color and len(set(shades)) == N_DIR
        assert style.direction_shade("#000000", 7) == "#8c8c8c"  # 55 % towards white

    @pytest.mark.parametrize("p, stars", [(1e-4, "***"), (0.005, "**"), (0.04, "*"), (0.2, "n.s."),
                                          (None, ""), (float("nan"), "")])
    def test_stars(self, p, stars):
        assert style.significance_stars(p) == stars

    def test_provenance_note(self):
        fig = style.provenance_note(style.figure(), untrained=True, reconstructed=True, extra="x")
        assert _annotations(fig) == "untrained (random weights) · reconstructed from published factors · x"
        assert not style.provenance_note(style.figure()).layout.annotations

    def test_no_dash_import(self):
        for path in Path(figures.__file__).parent.glob("*.py"):
            tree = ast.parse(path.read_text())
            names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
            names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert "dash" not in names, path


# ---------------------------------------------------------------------------------------------- empty input
@pytest.mark.parametrize("build", [
    lambda: figures.decoding_manifold_figure(np.zeros((0, 3)), np.zeros((0, 2)), []),
    lambda: figures.trajectories_figure(np.zeros((0, 4, 3)), np.zeros((0, 2)), []),
    lambda: figures.accuracy_figure([], {}, chance=0.1),
    lambda: figures.encoding_figure(np.zeros((0, 3))),
    lambda: figures.encoding_figure(np.full((3, 3), np.nan)),
    lambda: figures.psth_figure(np.zeros((0, 8, 4)), []),
    lambda: figures.tubularity_bars([], [], [], [], []),
    lambda: figures.sensitivity_heatmap([], [], np.zeros((0, 0))),
    lambda: figures.tube_figure(np.zeros((0, 4, 3)), np.zeros(0), np.zeros((0, 4, 3)), []),
    lambda: figures.alignment_figure([], {}),
    lambda: figures.alignment_table_figure([], {}),
    lambda: figures.thumbnail_strip(np.zeros((0, 4, 4), np.uint8), []),
    lambda: figures.sequence_preview(np.zeros((0, 4, 4), np.uint8)),
], ids=["manifold", "trajectories", "accuracy", "encoding", "encoding-all-nan", "psth", "bars", "sensitivity",
        "tubes", "alignment", "table", "thumbnails", "preview"])
def test_empty_input_is_an_annotated_figure(build):
    fig = build()
    assert isinstance(fig, go.Figure) and len(fig.data) == 0
    assert fig.layout.annotations[0].name == "empty" and fig.layout.annotations[0].text


# ---------------------------------------------------------------------------------------------- validity
_r = np.random.default_rng(0)


@pytest.mark.parametrize("build", [
    lambda: figures.decoding_manifold_figure(_r.normal(size=(24, 3)), _labels(), STIMULI, untrained=True),
    lambda: figures.trajectories_figure(_r.normal(size=(24, 4, 3)), _labels(), STIMULI, crossings=np.ones((2, 3))),
    lambda: figures.accuracy_figure(["a", "b"], {"x": [0.1, 0.2]}, chance=0.1, errors={"x": [0.0, 0.1]}),
    lambda: figures.encoding_figure(_r.normal(size=(4, 3)), color=np.array(["a", "b", "a", "b"])),
    lambda: figures.encoding_figure(_r.normal(size=(4, 3)), color=_r.random(4), color_name="OSI"),
    lambda: figures.psth_figure(_r.random((3, 8, 4)), STIMULI, onset_index=1),
    lambda: figures.tubularity_bars(["V1", "Rec"], [0.1, 0.2], [0.01] * 2, [1e-5] * 2, [1e-6] * 2,
                                    p_tight={"Rec": 0.01}, reference="V1", unreliable_cross=["V1"]),
    lambda: figures.sensitivity_heatmap([0.8, 0.9], [1.0], np.ones((2, 1))),
    lambda: figures.tube_figure(_r.normal(size=(2, 5, 3)), np.array([0, 0]), _r.normal(size=(1, 5, 3)), ["grat_W2"]),
    lambda: figures.alignment_figure(["a", "b"], {"V1": {"rsa": {"mean": [1, 2], "low": [0, 1], "high": [2, 3]},
                                                          "dsa_z": {"mean": [1, 2]}}}),
    lambda: figures.alignment_table_figure(["a"], {"V1": [0.5]}),
    lambda: figures.thumbnail_strip(np.zeros((2, 4, 4), np.uint8), STIMULI[:2]),
    lambda: figures.sequence_preview(np.zeros((2, 4, 4), np.uint8)),
    lambda: figures.empty_figure("nothing", title="t"),
], ids=["manifold", "trajectories", "accuracy", "encoding-cat", "encoding-cont", "psth", "bars", "sensitivity",
        "tubes", "alignment", "table", "thumbnails", "preview", "empty"])
def test_output_passes_plotly_validation(build):
    """Builders skip plotly's per-property validation for speed; the validating constructor must accept them."""
    fig = build()
    go.Figure(fig.to_plotly_json())


# ---------------------------------------------------------------------------------------------- decoding
class TestDecoding:
    def test_manifold(self, rng):
        coords = rng.normal(size=(len(STIMULI) * N_DIR, 3))
        fig = figures.decoding_manifold_figure(coords, _labels(), STIMULI, explained_variance=[0.5, 0.2, 0.1],
                                               untrained=True)
        assert len(fig.data) == len(STIMULI)
        for s, trace in enumerate(fig.data):
            assert trace.name == STIMULI[s] and trace.marker.line.color == style.stimulus_color(STIMULI[s])
            assert list(trace.marker.symbol) == list(style.DIRECTION_SYMBOLS)
            cd = np.asarray(trace.customdata)
            np.testing.assert_array_equal(cd[:, 0], np.arange(s * N_DIR, (s + 1) * N_DIR))  # condition index
            np.testing.assert_array_equal(trace.x, coords[s * N_DIR:(s + 1) * N_DIR, 0])
        assert fig.layout.scene.xaxis.title.text == "PC1 (50 %)"
        assert "untrained (random weights)" in _annotations(fig)

    def test_manifold_label_errors(self):
        with pytest.raises(ValueError, match=r"labels must have shape \(2, 2\)"):
            figures.decoding_manifold_figure(np.zeros((2, 3)), np.zeros((3, 2)), STIMULI)
        with pytest.raises(ValueError, match="labels index 3 stimuli and 8 directions"):
            figures.decoding_manifold_figure(np.zeros((1, 3)), np.array([[5, 0]]), STIMULI)
        with pytest.raises(ValueError, match=r"coords must have shape \(n_conditions, 3\)"):
            figures.decoding_manifold_figure(np.zeros((2, 2)), np.zeros((2, 2)), STIMULI)

    def test_trajectories(self, rng):
        n = len(STIMULI) * N_DIR
        curves = rng.normal(size=(n, N_TIME, 3))
        fig = figures.trajectories_figure(curves, _labels(), STIMULI, crossings=rng.normal(size=(4, 3)),
                                          reconstructed=True)
        kinds = [t.meta["kind"] for t in fig.data]
        assert kinds == ["trajectory"] * n + ["start", "end", "crossings"]
        first = fig.data[N_DIR + 2]  # stimulus 1, direction 2
        assert first.meta == {"kind": "trajectory", "condition": N_DIR + 2, "stimulus": STIMULI[1],
                              "direction": 90.0}
        np.testing.assert_array_equal(np.asarray(first.customdata)[:, :2],
                                      np.column_stack([np.full(N_TIME, N_DIR + 2), np.arange(N_TIME)]))
        assert first.line.color == style.direction_shade(style.stimulus_color(STIMULI[1]), 2)
        assert sum(bool(t.showlegend) for t in fig.data[:n]) == len(STIMULI)
        np.testing.assert_array_equal(fig.data[n + 1].x, curves[:, -1, 0])  # end markers at the last time
        assert fig.data[-1].meta["count"] == 4 and fig.data[-1].name == "crossings (4)"
        assert "crossing counts are unreliable on reconstructed biology" in _annotations(fig)

    def test_crossing_layer_without_events(self):
        trace = figures.crossing_trace(np.zeros((0, 3)))
        assert trace["meta"]["count"] == 0 and len(trace["x"]) == 0 and trace["type"] == "scatter3d"

    def test_accuracy(self):
        fig = figures.accuracy_figure(["Enc L1", "Rec"], {"logistic regression": [0.5, 0.9], "3-NN": [0.4, 0.8]},
                                      chance=1 / 11, errors={"logistic regression": [0.01, 0.02]})
        assert [t.name for t in fig.data] == ["logistic regression", "3-NN", "chance (0.0909)"]
        assert list(fig.data[0].error_y.array) == [0.01, 0.02] and fig.data[1].error_y.array is None
        assert fig.layout.yaxis.title.text == "accuracy" and fig.layout.xaxis.title.text == "module"
        with pytest.raises(ValueError, match="series '3-NN' must have 2 values"):
            figures.accuracy_figure(["a", "b"], {"3-NN": [1.0]}, chance=0.5)


class TestDecodingReadability:
    def test_manifold_has_a_direction_marker_key(self):
        coords = np.arange(3 * N_DIR * 3, dtype=float).reshape(-1, 3)
        fig = figures.decoding_manifold_figure(coords, _labels(), STIMULI)
        key = [a.text for a in fig.layout.annotations if a.name == "direction-key"]
        assert key == [figures.decoding.direction_key()]
        assert key[0].startswith("marker = direction") and "● 0°" in key[0] and "✕ 315°" in key[0]

    def test_crossing_matrix_writes_counts(self):
        counts = np.array([[2, 1, 0], [1, 0, 5], [0, 5, 3]])
        fig = figures.crossing_matrix_figure(counts, STIMULI)
        np.testing.assert_array_equal(fig.data[0].z, counts)
        assert list(fig.data[0].x) == list(STIMULI) and fig.data[0].texttemplate == "%{text}"
        with pytest.raises(ValueError, match=r"counts must have shape \(3, 3\)"):
            figures.crossing_matrix_figure(counts[:2], STIMULI)


# ---------------------------------------------------------------------------------------------- encoding
class TestEncoding:
    def test_categorical(self, rng):
        coords = rng.normal(size=(6, 3))
        coords[4] = np.nan  # set aside
        types = np.array(["ds", "on", "ds", "", "on", "ds"])
        fig = figures.encoding_figure(coords, color=types, color_name="cell type",
                                      unit_index=np.arange(10, 16), hover={"layer": np.arange(6)})
        assert [t.name for t in fig.data] == ["none", "ds", "on"]
        assert [list(np.asarray(t.customdata)[:, 0]) for t in fig.data] == [[13], [10, 12, 15], [11]]
        assert fig.layout.legend.title.text == "cell type"
        assert "layer: 2" in fig.data[1].text[1]

    def test_continuous(self, rng):
        osi = rng.random(5)
        fig = figures.encoding_figure(rng.normal(size=(5, 3)), color=osi, color_name="OSI")
        assert len(fig.data) == 1 and fig.data[0].marker.showscale
        np.testing.assert_allclose(fig.data[0].marker.color, osi)
        assert fig.data[0].marker.colorbar.title.text == "OSI"
        assert fig.layout.scene.xaxis.title.text.startswith("DC1 (diffusion")

    def test_stimulus_categories_use_class_colours(self, rng):
        fig = figures.encoding_figure(rng.normal(size=(2, 3)), color=np.array(["grat_W2", "grat_W12"]))
        assert {t.name: t.marker.color for t in fig.data} == {n: style.stimulus_color(n)
                                                               for n in ("grat_W2", "grat_W12")}

    def test_categorical_detection(self):
        assert figures.encoding.is_categorical(np.array([0, 1, 1, -1]))
        assert figures.encoding.is_categorical(np.array([True, False]))
        assert not figures.encoding.is_categorical(np.linspace(0, 1, 5))
        assert not figures.encoding.is_categorical(np.arange(100))

    def test_shape_error(self):
        with pytest.raises(ValueError, match=r"color must have shape \(3,\)"):
            figures.encoding_figure(np.zeros((3, 3)), color=np.zeros(2))

    def test_clusters_are_named_and_noise_is_unclustered(self, rng):
        """v1 listed HDBSCAN's labels bare ("-1", "0", ...), so noise read as a cluster called -1."""
        fig = figures.encoding_figure(rng.normal(size=(5, 3)), color=np.array([-1, 0, 1, -1, 0]),
                                      color_name="cluster")
        assert [t.name for t in fig.data] == ["unclustered", "cluster 0", "cluster 1"]
        assert fig.data[0].marker.color == figures.encoding.NOISE_COLOR
        assert [len(t.x) for t in fig.data] == [2, 2, 1]

    def test_angles_use_a_cyclic_scale_over_a_full_turn(self, rng):
        """v1 drew the preferred direction on Viridis over the data's range, so 0 and 359 deg looked opposite."""
        angles = np.array([0.0, 90.0, 359.0, np.nan])
        fig = figures.encoding_figure(rng.normal(size=(4, 3)), color=angles, color_name="preferred direction",
                                      categorical=False, cyclic=True)
        marker = fig.data[0].marker
        from plotly.colors import get_colorscale

        scale = get_colorscale(marker.colorscale)
        assert scale[0][1] == scale[-1][1], "a cyclic scale starts and ends on the same colour"
        assert (marker.cmin, marker.cmax) == (0.0, 360.0) and marker.colorbar.title.text == "preferred direction (deg)"
        np.testing.assert_allclose(marker.color, angles[:3])
        assert [t.name for t in fig.data] == ["preferred direction", "no value"] and len(fig.data[1].x) == 1

    def test_hover_shows_unit_metadata(self, rng):
        fig = figures.encoding_figure(rng.normal(size=(2, 3)), unit_index=np.array([7, 9]),
                                      hover={"layer": np.array(["L2/3", "L4"]), "OSI": np.array([0.12345, 0.5])})
        assert fig.data[0].text[1] == "unit 9<br>layer: L4<br>OSI: 0.5"
        assert fig.data[0].text[0].endswith("OSI: 0.123")


# ---------------------------------------------------------------------------------------------- psth
def test_psth(rng):
    unit_map = rng.random((len(STIMULI), N_DIR, N_TIME))
    fig = figures.psth_figure(unit_map, STIMULI, time=np.arange(N_TIME) / 30, onset_index=1, title="unit 3")
    heat, lines = fig.data[0], fig.data[1:]
    assert heat.type == "heatmap" and np.asarray(heat.z).shape == (len(STIMULI), N_DIR * N_TIME)
    np.testing.assert_array_equal(np.asarray(heat.z)[1, N_TIME:2 * N_TIME], unit_map[1, 1])
    assert [t.name for t in lines] == STIMULI
    assert [t.line.color for t in lines] == [style.stimulus_color(s) for s in STIMULI]
    np.testing.assert_array_equal(lines[2].y, unit_map[2, 0])  # preferred direction = first
    assert fig.layout.xaxis.ticktext[0] == "pref." and fig.layout.xaxis2.title.text == "time (s)"
    with pytest.raises(ValueError, match="2 stimulus names for a map of 3 stimuli"):
        figures.psth_figure(unit_map, STIMULI[:2])


# ---------------------------------------------------------------------------------------------- tubularity
class TestTubularity:
    def test_bars(self):
        names = ["retina", "V1", "Enc L1", "Rec"]
        fig = figures.tubularity_bars(names, [0.07, 0.13, 0.2, 0.12], [0.01] * 4, [1e-5, 4e-5, 3e-4, 2e-7],
                                      [1e-6] * 4, p_tight={"V1": 0.001, "Enc L1": 0.0001, "Rec": 0.3},
                                      reference="retina", unreliable_cross=["retina", "V1"])
        tight, cross = fig.data
        assert fig.layout.yaxis.title.text == "S_tight (lower = tighter)"
        assert fig.layout.yaxis2.title.text == "S_cross (higher = more crossing)"
        assert fig.layout.yaxis2.type == "log"
        assert list(tight.text) == ["", "**", "***", "n.s."]
        assert list(cross.x) == ["retina †", "V1 †", "Enc L1", "Rec"]
        assert list(tight.error_y.array) == [0.01] * 4
        assert list(tight.marker.color[:2]) == [style.BIO_COLORS["retina"], style.BIO_COLORS["V1"]]
        assert "unreliable on reconstructed biology" in _annotations(fig)
        with pytest.raises(ValueError, match="s_cross must have 4 values"):
            figures.tubularity_bars(names, [0.1] * 4, [0.1] * 4, [0.1] * 3, [0.1] * 4)

    def test_sensitivity(self):
        values = np.arange(6.0).reshape(3, 2)
        fig = figures.sensitivity_heatmap([0.7, 0.8, 0.9], [1.0, 2.0], values)
        assert np.asarray(fig.data[0].z).shape == (3, 2)
        assert fig.data[0].colorbar.title.text == "S_tight (lower = tighter)"
        with pytest.raises(ValueError, match=r"values must have shape \(3, 1\)"):
            figures.sensitivity_heatmap([0.7, 0.8, 0.9], [1.0], values)

    def test_tubes(self, rng):
        curves, centerlines = rng.normal(size=(6, 10, 3)), rng.normal(size=(2, 10, 3))
        labels = np.array([0, 0, 0, 1, 1, 1])
        fig = figures.tube_figure(curves, labels, centerlines, ["grat_W12", "grat_W2"])
        assert [t.meta["kind"] for t in fig.data] == ["member"] * 3 + ["centerline"] + ["member"] * 3 + ["centerline"]
        assert fig.data[4].line.color == style.stimulus_color("grat_W2")
        np.testing.assert_array_equal(fig.data[7].x, centerlines[1, :, 0])
        only = figures.tube_figure(curves, labels, centerlines, ["grat_W12", "grat_W2"], bundles=[1])
        assert len(only.data) == 4
        with pytest.raises(ValueError, match=r"labels must have shape \(6,\)"):
            figures.tube_figure(curves, labels[:3], centerlines, ["a", "b"])


# ---------------------------------------------------------------------------------------------- alignment
class TestAlignment:
    modules = ["Enc L1", "Rec", "Output"]

    def scores(self):
        band = {"mean": [0.2, 0.5, 0.3], "low": [0.1, 0.4, 0.2], "high": [0.3, 0.6, 0.4]}
        return {"retina": {"rsa": band, "dsa_z": {"mean": [1.0, 2.0, 0.5]}},
                "V1": {"rsa": band, "cca": band, "dsa_z": {"mean": [1.5, 2.5, 0.1]}}}

    def test_panels_and_bands(self):
        fig = figures.alignment_figure(self.modules, self.scores())
        assert [a.text for a in fig.layout.annotations][:3] == ["RSA", "CCA", "DSA z (vs time-shuffled)"]
        kinds = [(t.meta["dataset"], t.meta["method"], t.meta["kind"]) for t in fig.data]
        assert ("retina", "rsa", "band") in kinds and ("V1", "dsa_z", "mean") in kinds
        assert ("retina", "dsa_z", "band") not in kinds and len(fig.data) == 8
        band = fig.data[0]
        assert list(band.y) == [0.3, 0.6, 0.4, 0.2, 0.4, 0.1] and band.fill == "toself"
        assert sum(bool(t.showlegend) for t in fig.data) == 2

    @pytest.mark.parametrize("n_modules", [1, 3], ids=["one-module", "three-modules"])
    def test_interval_is_a_band_or_error_bars(self, n_modules):
        """Planted CI bounds come back: as the band's outline with >= 2 modules, as error bars on the mean
        marker with one (a one-position band draws as stray dots)."""
        low, mean, high = np.array([0.11, 0.42, 0.23]), np.array([0.2, 0.5, 0.3]), np.array([0.35, 0.61, 0.38])
        modules = self.modules[:n_modules]
        fig = figures.alignment_figure(modules, {"V1": {"rsa": {"mean": mean[:n_modules], "low": low[:n_modules],
                                                                "high": high[:n_modules]}}})
        kinds = [t.meta["kind"] for t in fig.data]
        trace = fig.data[kinds.index("mean")]
        np.testing.assert_allclose(trace.y, mean[:n_modules])
        if n_modules == 1:
            assert kinds == ["mean"]
            np.testing.assert_allclose(np.asarray(trace.y) + np.asarray(trace.error_y.array), high[:1])
            np.testing.assert_allclose(np.asarray(trace.y) - np.asarray(trace.error_y.arrayminus), low[:1])
            assert trace.error_y.symmetric is False
        else:
            assert kinds == ["band", "mean"] and trace.error_y.array is None
            band = fig.data[0]
            np.testing.assert_allclose(band.y, np.concatenate([high, low[::-1]]))
            assert list(band.x) == modules + modules[::-1]
        go.Figure(fig.to_plotly_json())

    def test_method_subset_and_errors(self):
        fig = figures.alignment_figure(self.modules, self.scores(), methods=["cca"])
        assert len(fig.data) == 2
        with pytest.raises(ValueError, match="V1/rsa/mean must have 3 values"):
            figures.alignment_figure(self.modules, {"V1": {"rsa": {"mean": [1.0]}}})

    def test_table(self):
        table = figures.alignment_table(self.modules, {"retina": [0.1234, np.nan, 0.3], "V1": [0.2, 0.3, 0.4]})
        assert table["columns"][0] == {"name": "module", "id": "module"}
        assert table["data"][0] == {"module": "Enc L1", "retina": 0.123, "V1": 0.2}
        assert table["data"][1]["retina"] is None
        fig = figures.alignment_table_figure(self.modules, {"V1": [0.2, 0.3, 0.4]})
        assert list(fig.data[0].cells.values[0]) == self.modules


# ---------------------------------------------------------------------------------------------- stimuli
class TestStimuli:
    def test_thumbnails(self, rng):
        thumbs = rng.integers(0, 255, size=(3, 9, 16), dtype=np.uint8)
        fig = figures.thumbnail_strip(thumbs, STIMULI)
        assert [t.meta["class_index"] for t in fig.data] == [0, 1, 2]
        assert [t.x0 for t in fig.data] == [0, 24, 48]
        assert all(t.source.startswith("data:image/png;base64,") for t in fig.data)
        assert [a.font.color for a in fig.layout.annotations] == [style.stimulus_color(s) for s in STIMULI]
        assert {a.bgcolor for a in fig.layout.annotations} == {"#f5f5f5"}, "pale class colours stay readable"

    def test_preview_round_trips_pixels(self, rng):
        import base64
        import io

        from PIL import Image

        frames = rng.integers(0, 255, size=(4, 9, 16), dtype=np.uint8)
        fig = figures.sequence_preview(frames, fps=10)
        assert [f.name for f in fig.frames] == ["0", "1", "2", "3"]
        png = base64.b64decode(fig.frames[2].data[0].source.split(",", 1)[1])
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), frames[2])
        play = fig.layout.updatemenus[0].buttons[0]
        assert play.method == "animate" and play.args[1]["frame"]["duration"] == 100.0
        assert len(fig.layout.sliders[0].steps) == 4


# ---------------------------------------------------------------------------------------------- summary figures
class TestPaperSummaries:
    def test_accuracy_bars_with_chance_and_published_markers(self):
        fig = figures.accuracy_bars(["Enc L1", "Conv9"], {"logistic regression": [0.5, 0.6], "3-NN": [0.4, 0.5]},
                                    chance=1 / 11, errors={"logistic regression": [0.01, 0.02]},
                                    published={"Enc L1": 0.59, "Rec": 0.89})
        assert [t.type for t in fig.data] == ["bar", "bar", "scatter"] and fig.layout.barmode == "group"
        assert list(fig.data[2].x) == ["Enc L1"] and list(fig.data[2].y) == [0.59], "only sources with a value"
        chance = [s for s in fig.layout.shapes if s.name == "chance"][0]
        assert chance.y0 == chance.y1 == pytest.approx(1 / 11) and chance.line.dash == "dash"
        assert list(fig.data[0].error_y.array) == [0.01, 0.02] and fig.layout.yaxis.title.text == "accuracy"
        go.Figure(fig.to_plotly_json())

    def test_tubularity_has_biology_reference_bands(self):
        fig = figures.tubularity_bars(["retina", "Rec"], [0.07, 0.2], [0.01, 0.02], [1e-5, 1e-4], [2e-5, 1e-5])
        bands = {s.name: s for s in fig.layout.shapes}
        assert set(bands) == {"retina band", "retina level"} and len(fig.layout.shapes) == 4
        tight = [s for s in fig.layout.shapes if s.yref == "y" and s.type == "rect"][0]
        assert (tight.y0, tight.y1) == pytest.approx((0.06, 0.08)) and tight.xref == "x domain"
        cross = [s for s in fig.layout.shapes if s.yref == "y2" and s.type == "rect"][0]
        assert cross.y0 > 0, "a log axis cannot draw a band below zero"
        assert fig.layout.yaxis2.exponentformat == "power"
        go.Figure(fig.to_plotly_json())

    def test_alignment_heatmap_is_metric_by_module(self):
        scores = {"V1": {"rsa": {"mean": [0.1, 0.2]}, "lp": {"mean": [0.3, np.nan]}, "dsa_z": {"mean": [2.0, 3.0]}}}
        fig = figures.alignment_heatmap(["Enc L1", "Rec"], scores)
        (trace,) = fig.data
        np.testing.assert_allclose(trace.z, [[0.1, 0.2], [0.3, np.nan]])
        assert list(trace.y) == ["RSA", "linear predictivity"] and list(trace.x) == ["Enc L1", "Rec"]
        assert list(trace.text[1]) == ["0.30", ""] and (trace.zmin, trace.zmax) == (0.0, 1.0)
        assert fig.layout.yaxis.autorange == "reversed", "RSA on top"
        negative = figures.alignment_heatmap(["a"], {"V1": {"rsa": {"mean": [-0.4]}}})
        assert negative.data[0].zmin == pytest.approx(-0.4)
        with pytest.raises(ValueError, match="every method needs 2 values"):
            figures.alignment_heatmap(["a", "b"], {"V1": {"rsa": {"mean": [0.1]}}})
        go.Figure(fig.to_plotly_json())


# ---------------------------------------------------------------------------------------------- 3-D readability
def _retina_like(rng, n: int = 1000) -> np.ndarray:
    """Diffusion coordinates shaped like the retina's encoding manifold: 98 % of the units in a bulk spread
    along DC2 (0.2 wide, 0.04 on DC1 / DC3), a few arms reaching 15x further on DC1 and DC3."""
    coords = rng.normal(scale=(0.01, 0.06, 0.01), size=(n, 3))
    coords[:10, 0] = np.linspace(0.1, 0.6, 10)
    coords[10:20, 2] = np.linspace(-0.3, 0.7, 10)
    return coords


def _bulk_extents(coords: np.ndarray, scene) -> np.ndarray:
    """Length of the central 90 % of the points along each axis of the drawn box (longest box side 1)."""
    spans = np.ptp(coords, axis=0)
    if scene.aspectmode == "cube":
        sides = np.ones(3)
    else:
        sides = np.array([scene.aspectratio.x, scene.aspectratio.y, scene.aspectratio.z])
    low, high = np.percentile(coords, [5, 95], axis=0)
    return sides * (high - low) / spans


class TestSceneAspect:
    def test_retina_like_encoding_manifold_is_not_a_thin_line(self, rng):
        """v1 drew every encoding manifold in a cube: the far arms set each axis, so the bulk of the retina's
        units became a line along DC2 (bulk extents about 1 : 12 : 1)."""
        coords = _retina_like(rng)
        fig = figures.encoding_figure(coords)
        extents = _bulk_extents(coords, fig.layout.scene)
        assert extents.min() / extents.max() > 0.25, extents
        cube = _bulk_extents(coords, go.layout.Scene(aspectmode="cube"))
        assert cube.min() / cube.max() < 0.15, "the planted case is one that a cube squashes"
        assert fig.layout.scene.xaxis.range is None, "ranges stay the data's: every unit remains visible"

    def test_pca_views_keep_equal_scale_unless_an_axis_would_vanish(self):
        def sides(points):
            ratio = style.scene_aspect(np.array(points, float))["aspectratio"]
            return np.array([ratio["x"], ratio["y"], ratio["z"]])

        even = sides([[0, 0, 0], [4, 2, 1.5]])
        np.testing.assert_allclose(even / even[0], [1, 0.5, 0.375], atol=2e-3)  # equal scale
        assert np.linalg.norm(even) == pytest.approx(np.sqrt(3), abs=2e-3), "as large as the cube"
        flat = sides([[0, 0, 0], [10, 1, 0.5]])
        np.testing.assert_allclose(flat / flat[0], [1, 0.25, 0.25], atol=2e-3)
        assert style.scene_aspect(np.zeros((4, 3))) == {"aspectmode": "cube"}, "a point has no shape"
        labels = np.array([(0, d) for d in range(N_DIR)])
        coords = np.arange(8.0)[:, None] * [1.0, 0.5, 0.125]
        fig = figures.decoding_manifold_figure(coords, labels, STIMULI)
        ratio = fig.layout.scene.aspectratio
        assert fig.layout.scene.aspectmode == "manual" and ratio.y / ratio.x == pytest.approx(0.5, abs=2e-3)

    def test_diffusion_axes_say_what_they_are(self, rng):
        fig = figures.encoding_figure(rng.normal(size=(5, 3)))
        assert [fig.layout.scene[a].title.text for a in ("xaxis", "yaxis", "zaxis")] == [
            "DC1 (diffusion coordinate 1)", "DC2 (diffusion coordinate 2)", "DC3 (diffusion coordinate 3)"]

    def test_tubes_are_drawn_at_equal_scale(self, rng):
        curves = rng.normal(size=(2, 5, 3))
        fig = figures.tube_figure(curves, np.array([0, 0]), curves[:1], ["grat_W2"])
        assert fig.layout.scene.aspectmode == "manual"


class TestEncodingProjection:
    @pytest.mark.parametrize("projection, kind", [("3d", "scatter3d"), ("2d", "scatter")])
    def test_both_projections_draw_every_unit_with_its_index(self, rng, projection, kind):
        coords = rng.normal(size=(6, 3))
        fig = figures.encoding_figure(coords, color=np.array([0, 1, 0, 1, -1, 0]), color_name="cluster",
                                      unit_index=np.arange(20, 26), projection=projection)
        assert {t.type for t in fig.data} == {kind}
        assert sorted(int(c[0]) for t in fig.data for c in t.customdata) == list(range(20, 26))
        first = fig.data[[t.name for t in fig.data].index("cluster 0")]
        np.testing.assert_allclose(first.x, coords[[0, 2, 5], 0])
        np.testing.assert_allclose(first.y, coords[[0, 2, 5], 1])
        go.Figure(fig.to_plotly_json())

    def test_flat_projection_plots_dc1_against_dc2(self, rng):
        fig = figures.encoding_figure(rng.normal(size=(4, 3)), projection="2d")
        assert fig.data[0].type == "scatter" and not fig.layout.scene.xaxis.title.text
        assert fig.layout.xaxis.title.text.startswith("DC1") and fig.layout.yaxis.title.text.startswith("DC2")

    def test_unknown_projection_is_refused(self):
        with pytest.raises(ValueError, match=r"projection must be one of \('3d', '2d'\); got 'xy'"):
            figures.encoding_figure(np.zeros((2, 3)), projection="xy")


class TestCounts:
    def test_counts_are_written_under_the_title(self, rng):
        counts = {"n_units": 637, "n_stimuli": 3, "n_directions": 8, "n_time": 5, "n_conditions": 24}
        for fig in (figures.decoding_manifold_figure(rng.normal(size=(24, 3)), _labels(), STIMULI, title="V1",
                                                     counts=counts),
                    figures.trajectories_figure(rng.normal(size=(24, 4, 3)), _labels(), STIMULI, title="V1",
                                                counts=counts)):
            assert fig.layout.title.text.startswith("V1<br>") and "637 units · 24 conditions" in fig.layout.title.text
        enc = figures.encoding_figure(rng.normal(size=(3, 3)), counts={"n_units": 640, "n_points": 637})
        assert "640 units · 637 units drawn" in enc.layout.title.text
        assert style.counts_text({"n_units": 10, "n_boot": 30, "n_bio_units": 637}) == (
            "10 units · 30 bootstraps · 637 biological units")
        assert style.counts_text(None) == "" and figures.encoding_figure(np.zeros((2, 3))).layout.title.text is None

    def test_bootstrap_counts_are_named_under_tubularity_and_alignment(self):
        bars = figures.tubularity_bars(["V1", "Rec"], [0.1, 0.2], [0.01] * 2, [1e-5] * 2, [1e-6] * 2, n_boot=[30, 30])
        assert "mean +- SE over 30 bootstraps" in _annotations(bars)
        scores = {"V1": {"rsa": {"mean": [0.1, 0.2], "low": [0.0, 0.1], "high": [0.2, 0.3]}}}
        lines = figures.alignment_figure(["a", "b"], scores, n_boot=[200, None, 100])
        assert "mean and 95 % interval over 100-200 bootstraps of units" in _annotations(lines)
        assert "means over 200 bootstraps" in _annotations(figures.alignment_heatmap(["a", "b"], scores, n_boot=200))
        assert not figures.tubularity_bars(["V1"], [0.1], [0.01], [1e-5], [1e-6]).layout.annotations


class TestComparePanels:
    """v1 drew every Compare panel with ``showlegend=False``: no stimulus names, no cluster / cell-type key."""

    def test_panels_have_legends_counts_and_biology_by_type(self, ctx):
        from callbacks import compare
        from tests.app.conftest import decoding_arrays, encoding_arrays, plant_view

        arrays, meta = decoding_arrays()
        token = "model:conv3d-random:Conv1"
        key = plant_view(ctx, "decoding", token, arrays, {**meta, "counts": {"n_units": 64, "n_conditions": 16}})
        bio, bio_meta = encoding_arrays()
        bio["color__layer"] = np.array(["L2/3", "L4"] * 6)
        bio_meta["color_options"]["layer"] = "categorical"
        bio_key = plant_view(ctx, "encoding", "bio:V1", bio, bio_meta)
        result = {"views": [{"view": "decoding", "source": token, "key": key},
                            {"view": "encoding", "source": "bio:V1", "key": bio_key}]}
        manifold = compare.panel_figure(result, token, "decoding", ctx=ctx)
        assert manifold.layout.showlegend is not False and [t.name for t in manifold.data] == meta["stimuli"]
        assert "64 units · 16 conditions" in manifold.layout.title.text
        encoding = compare.panel_figure(result, "bio:V1", "encoding", ctx=ctx)
        assert [t.name for t in encoding.data] == ["L2/3", "L4"] and encoding.layout.legend.title.text == "layer"


def test_alignment_heatmap_rows_in_one_order_for_every_dataset():
    """The stored score order can differ between datasets; before, each panel followed its own order, so the
    retina panel read DSA..RSA top-down while V1 read RSA..DSA."""
    from app.figures.alignment import alignment_heatmap

    scores = {"retina": {"dsa": {"mean": [0.7]}, "lp": {"mean": [0.1]}, "rsa": {"mean": [0.2]}},
              "V1": {"rsa": {"mean": [0.3]}, "dsa": {"mean": [0.4]}, "lp": {"mean": [0.5]}}}
    fig = alignment_heatmap(["Rec"], scores)
    assert list(fig.data[0].y) == list(fig.data[1].y) == ["RSA", "linear predictivity", "DSA (1 - distance)"]
    assert fig.data[0].z[0][0] == 0.2 and fig.data[1].z[0][0] == 0.3
