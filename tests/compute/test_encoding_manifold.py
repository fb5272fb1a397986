"""The encoding-manifold pipeline: the biological manifolds from the published factors (retina clustered by
cell type, V1 layers intermixed), a planted model set end to end, purity and clusteredness, the CLI (the app's
"encoding" view)."""

import numpy as np
import pytest

from compute.cli import encode as encode_cli
from compute.encoding.manifold import (chance_purity, clusteredness, encoding_manifold, encoding_manifold_from_factors,
                                       nearest_neighbour_outliers, neighbour_purity)
from compute.responses import ResponseSet
from compute.stimuli import CLASS_NAMES


@pytest.fixture(scope="module")
def bio_manifolds(data_dir):
    from compute.bio.datasets import load_factors

    return {name: encoding_manifold_from_factors(load_factors(name, data_dir=data_dir)) for name in ("retina", "V1")}


def planted_set(n_units=48, n_time=12, seed=0):
    """Three response types (stimulus preference x time course), each unit with its own preferred
    direction: responses[n, s, d, t] = gain_type[s] * tuning(d - pref_n) * course_type[t]."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, 3, n_units)
    pref = rng.integers(0, 8, n_units)
    gains = rng.random((3, 11)) ** 2 + 0.05
    t = np.arange(n_time)
    courses = np.stack([np.exp(-0.5 * ((t - c) / 1.5) ** 2) for c in (3, 6, 9)])
    d = np.arange(8)
    tuning = np.exp(2.0 * np.cos(2 * np.pi * (d[None, :] - pref[:, None]) / 8))     # (n, 8)
    resp = gains[kinds][:, :, None, None] * tuning[:, None, :, None] * courses[kinds][:, None, None, :]
    resp += 0.01 * rng.random(resp.shape)
    rs = ResponseSet(resp.astype(np.float32), CLASS_NAMES, time=t / 30.0,
                     units={"kind": kinds}, provenance={"label": "planted"})
    return rs, kinds, pref


# ------------------------------------------------------------------ biology (published factors)
@pytest.mark.slow
class TestBiologicalManifolds:
    def test_retina_clusters_by_cell_type(self, bio_manifolds):
        m = bio_manifolds["retina"]
        purity = neighbour_purity(m.pcs, m.units["cell_type"], k=10)
        chance = chance_purity(m.units["cell_type"])
        print(f"retina 10-NN cell-type purity {purity:.3f} (chance {chance:.3f})")
        assert purity >= 0.85 and chance == pytest.approx(0.168, abs=0.01)
        assert m.coords.shape == (1146, 3) and m.n_units == 1146

    def test_v1_layers_are_intermixed(self, bio_manifolds):
        m = bio_manifolds["V1"]
        purity = neighbour_purity(m.pcs, m.units["layer"], k=10)
        chance = chance_purity(m.units["layer"])
        print(f"V1 10-NN layer purity {purity:.3f} (chance {chance:.3f})")
        assert abs(purity - chance) < 0.1

    def test_clusteredness_ranks_retina_above_v1(self, bio_manifolds):
        retina = bio_manifolds["retina"].diagnostics["clusteredness"]["silhouette_excess"]
        v1 = bio_manifolds["V1"].diagnostics["clusteredness"]["silhouette_excess"]
        print(f"silhouette excess: retina {retina:.3f}, V1 {v1:.3f}")
        assert retina > v1 > 0

    def test_diagnostics(self, bio_manifolds):
        m = bio_manifolds["V1"]
        d = m.diagnostics
        assert d["rank"] == 17 and d["n_pcs"] >= 2 and d["neural_matrix"] == "published factors"
        assert (d["k_far"], d["k_near"], d["n_outliers"]) == (0, 0, 0) and not m.nn_removed.any()
        assert np.all(np.isnan(m.preferred_direction))


# ------------------------------------------------------------------ a planted model set
@pytest.mark.slow
class TestPlantedModelSet:
    @pytest.fixture(scope="class")
    def planted(self):
        rs, kinds, pref = planted_set()
        return rs, kinds, pref, encoding_manifold(rs, rank=3, n_restarts=3, random_state=0)

    def test_preferred_directions_come_back(self, planted):
        rs, _, pref, m = planted
        assert np.mean(m.preferred_direction == rs.directions[pref]) >= 0.9

    def test_model_defaults_remove_3_far_and_10_near_outliers(self, planted):
        """v1 sent every distinct point to IAN; v2 (METHODS 5.7) removes the k_far = 3 points with the
        largest and the k_near = 10 with the smallest 1-NN distance for model modules, keeps the 1-NN
        distances for the histogram, and runs IAN as a linear program."""
        _, _, _, m = planted
        d = m.diagnostics
        assert (d["k_far"], d["k_near"], d["n_outliers"]) == (3, 10, 13) and d["ian_objective"] == "lp"
        assert m.nn_distances.shape == m.nn_removed.shape == (d["n_unique"],)
        order = np.argsort(m.nn_distances, kind="stable")
        np.testing.assert_array_equal(np.flatnonzero(m.nn_removed), np.sort(np.r_[order[:10], order[-3:]]))
        assert d["stimuli"] == "optSF" and d["rel_fr_in_tensor"] and d["n_restarts"] == 3
        assert np.isnan(m.coords).any(axis=1).sum() >= 13

    def test_clusters_are_hdbscan_of_the_drawn_coordinates(self, planted):
        from compute.encoding.diffusion import hdbscan_clusters

        _, _, _, m = planted
        drawn = np.isfinite(m.coords).all(axis=1)
        first = np.unique(m.coords[drawn], axis=0, return_index=True)[1]
        rows = np.flatnonzero(drawn)[np.sort(first)]
        np.testing.assert_array_equal(m.clusters[rows], hdbscan_clusters(m.coords[rows]))

    def test_response_types_separate(self, planted):
        _, kinds, _, m = planted
        assert neighbour_purity(m.pcs, kinds, k=5) >= 0.9
        assert m.diagnostics["fit"] > 0.95 and m.diagnostics["rank"] == 3
        assert m.coords.shape == (48, 3) and m.clusters.shape == (48,)


# ------------------------------------------------------------------ statistics
class TestStatistics:
    def test_outliers_by_hand(self):
        points = np.r_[np.arange(20.0)[:, None] * [1.0, 0.0], [[100.0, 0.0], [0.0, 0.2]]]
        dist, removed = nearest_neighbour_outliers(points, k_far=1, k_near=2)
        assert dist[20] == pytest.approx(81.0) and dist[21] == pytest.approx(0.2)
        np.testing.assert_array_equal(np.flatnonzero(removed), [0, 20, 21])   # 0.2 and 0.2 smallest; 81 largest
        assert not nearest_neighbour_outliers(points, k_far=0, k_near=0)[1].any()
        with pytest.raises(ValueError, match="leaves fewer than 12 of the 22 distinct points"):
            nearest_neighbour_outliers(points, k_far=5, k_near=6)
        with pytest.raises(ValueError, match="k_far must be an integer >= 0; got -1"):
            nearest_neighbour_outliers(points, k_far=-1, k_near=0)

    def test_purity_by_hand(self):
        points = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.3], [9.0]])
        labels = np.array(["a", "a", "b", "b", "b", "b", ""])
        # k = 1 neighbours: 0->1 (a=a), 1->0 (a=a), 2->1 (b!=a), 3->4, 4->3, 5->4 (all b); "" left out
        assert neighbour_purity(points, labels, k=1) == pytest.approx(5 / 6)
        assert chance_purity(labels) == pytest.approx((2 / 6) ** 2 + (4 / 6) ** 2)

    def test_clusteredness_separates_blobs_from_a_gaussian(self, rng):
        blobs = np.concatenate([rng.standard_normal((60, 3)) * 0.2 + c for c in ([0, 0, 0], [4, 0, 0], [0, 4, 0])])
        gauss = rng.standard_normal((180, 3))
        a = clusteredness(blobs, eigenvalues=np.linspace(1, 0.5, 10))
        b = clusteredness(gauss)
        assert a["silhouette_excess"] > 0.3 > abs(b["silhouette_excess"])
        assert a["diffusion_eig10"] == 0.5 and "diffusion_eig10" not in b

    def test_purity_needs_enough_labels(self):
        with pytest.raises(ValueError, match="need more than k=10 labelled points; got 3"):
            neighbour_purity(np.zeros((3, 2)), np.array(["a", "b", "a"]))

    def test_purity_label_shape(self):
        with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
            neighbour_purity(np.zeros((3, 2)), np.array(["a", "b"]))

    def test_clusteredness_bad_ks(self, rng):
        with pytest.raises(ValueError, match=r"ks must be cluster counts in \[2, n_points - 1\]"):
            clusteredness(rng.random((5, 2)), ks=[1, 2])


# ------------------------------------------------------------------ errors
class TestErrors:
    def test_too_few_units(self, rng):
        rs, _, _ = planted_set(n_units=8)
        with pytest.raises(ValueError, match="needs at least 12 distinct connected units; got 8"):
            encoding_manifold(rs, rank=2, n_restarts=1, max_iter=20)
        with pytest.raises(ValueError, match="removing k_far=3 \\+ k_near=10 outliers leaves fewer than 12"):
            encoding_manifold(planted_set(n_units=20)[0], rank=2, n_restarts=1, max_iter=20)

    def test_from_factors_needs_bio_factors(self):
        with pytest.raises(TypeError, match="factors must be BioFactors"):
            encoding_manifold_from_factors({"lambdas": 1})


# ------------------------------------------------------------------ CLI
@pytest.mark.slow
class TestCLI:
    def test_dataset_from_published_factors(self, data_dir, tmp_path, monkeypatch, capsys):
        from compute.sources import Source
        from compute.workflows import view_key

        monkeypatch.setenv("TWINSCOPE_DATA_DIR", str(data_dir))
        monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
        monkeypatch.delenv("TWINSCOPE_PROFILE", raising=False)
        assert encode_cli.main(["--dataset", "V1"]) == 0
        out = capsys.readouterr().out
        key = view_key("encoding", Source("bio", "V1"))
        assert "V1 (published factors): encoding manifold of 637 units" in out and key in out
        assert (tmp_path / "artifacts" / f"{key}.npz").exists()

    def test_module_with_seed_rank(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
        rs, _, _ = planted_set(n_units=30, seed=2)
        monkeypatch.setattr("compute.workflows.source_responses", lambda source, **kwargs: rs)
        assert encode_cli.main(["--model", "fnn-random", "--module", "Enc L1", "--restarts", "1"]) == 0
        out = capsys.readouterr().out
        assert "planted: encoding manifold of 30 units" in out and "rank 8" in out

    def test_errors_are_reported(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))

        def missing(source, **kwargs):
            raise KeyError(f"{source.name} / {source.module} has not been extracted; run `python -m compute extract`")

        monkeypatch.setattr("compute.workflows.source_responses", missing)
        assert encode_cli.main(["--model", "fnn-random", "--module", "Rec"]) == 2
        assert "has not been extracted" in capsys.readouterr().err

    def test_rank_of_a_dataset_is_refused(self, capsys):
        """v1 decomposed a dataset's responses at ``--rank``; the app's encoding view (the one route) draws a
        dataset from its published factors, so the command refuses the option instead of ignoring it."""
        with pytest.raises(SystemExit):
            encode_cli.main(["--dataset", "V1", "--rank", "5"])
        assert "--rank applies to a model module" in capsys.readouterr().err
