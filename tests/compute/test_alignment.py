"""Alignment with biology (METHODS.md section 7): kernels on planted answers, engine, table, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from compute.analysis.alignment import (AlignmentResult, alignment_scores, cca_score, dsa_score, lp_score,
                                        matched_arrays, mean_alignment_table, rsa_score)
from compute.bio.datasets import BIO_STIMULI
from compute.jobs import Cancelled, JobControl
from compute.responses import ResponseSet

MODEL_STIMULI = ("grat_W12", "grat_W1", "grat_W2", "neg1dotflow_D1_bg", "neg3dotflow_D1_bg", "neg1dotflow_D2_bg",
                 "neg3dotflow_D2_bg", "pos1dotflow_D1_bg", "pos3dotflow_D1_bg", "pos1dotflow_D2_bg",
                 "pos3dotflow_D2_bg")


def _low_rank(rng, n_time: int, n_cond: int, n_units: int, rank: int) -> np.ndarray:
    """(n_time, n_cond, n_units) data whose condition space at each time has exactly ``rank`` dimensions."""
    return rng.normal(size=(n_time, n_cond, rank)) @ rng.normal(size=(n_time, rank, n_units))


# --------------------------------------------------------------------------------------- RSA
class TestRSA:
    def test_itself_and_unit_permutation_score_one(self, rng):
        x = rng.normal(size=(3, 10, 6))
        np.testing.assert_allclose(rsa_score(x, x), 1.0)
        np.testing.assert_allclose(rsa_score(x, x[:, :, rng.permutation(6)] * 3 + 1), 1.0)
        assert np.all(rsa_score(x, x[:, rng.permutation(10)]) < 0.9)

    def test_hand_made_rdms(self):
        # x: d12 = 1 - r(c1, c2) is tiny, c1 and c3 anti-correlated (d13 = 2), d23 close to 2 -> ranks (1, 3, 2)
        # y: same c1, c2; c3 = [1, 3, 2] gives d13 = 0.5 < d23 ~ 0.603 -> ranks (1, 2, 3)
        # Spearman of (1, 3, 2) and (1, 2, 3): 1 - 6 * (0 + 1 + 1) / (3 * (9 - 1)) = 0.5
        x = np.array([[[1.0, 2.0, 3.0], [1.0, 2.0, 3.5], [3.0, 2.0, 1.0]]])
        y = np.array([[[1.0, 2.0, 3.0], [1.0, 2.0, 3.5], [1.0, 3.0, 2.0]]])
        assert rsa_score(x, y)[0] == pytest.approx(0.5)

    def test_matches_brute_force(self, rng):
        x, y = rng.normal(size=(2, 9, 5)), rng.normal(size=(2, 9, 7))
        iu = np.triu_indices(9, 1)
        expected = [spearmanr((1 - np.corrcoef(x[t]))[iu], (1 - np.corrcoef(y[t]))[iu])[0] for t in range(2)]
        np.testing.assert_allclose(rsa_score(x, y), expected, rtol=1e-12)

    def test_constant_condition_scores_zero(self, rng):
        x = rng.normal(size=(2, 6, 4))
        x[1, 2] = 5.0
        assert rsa_score(x, x)[1] == 0.0 and rsa_score(x, x)[0] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------- CCA and LP
class TestCCAandLP:
    def test_invertible_linear_transform_scores_one(self, rng):
        x = _low_rank(rng, 2, 48, 30, rank=3)
        y = x @ rng.normal(size=(30, 30))
        np.testing.assert_allclose(cca_score(x, y), 1.0, atol=1e-8)
        x10 = _low_rank(rng, 2, 48, 40, rank=6) * 10
        assert np.all(lp_score(x10, x10 @ rng.normal(size=(40, 25))) > 0.98)

    def test_independent_noise_scores_near_zero(self, rng):
        x, y = rng.normal(size=(2, 1000, 20)), rng.normal(size=(2, 1000, 20))
        assert np.all(cca_score(x, y) < 0.1)
        assert np.mean(lp_score(rng.normal(size=(4, 48, 30)), rng.normal(size=(4, 48, 30)))) < 0.1

    def test_rank_deficient_system_counts_as_zero(self, rng):
        x = _low_rank(rng, 1, 20, 10, rank=1)
        # Both systems one-dimensional: canonical correlations (1, 0, 0) -> mean 1/3 (NaN -> 0 for missing pairs).
        assert cca_score(x, -2 * x[:, :, ::-1])[0] == pytest.approx(1 / 3)
        assert cca_score(np.zeros((1, 20, 5)), rng.normal(size=(1, 20, 5)))[0] == 0.0

    def test_lp_is_seeded(self, rng):
        x, y = rng.normal(size=(2, 48, 12)), rng.normal(size=(2, 48, 8))
        np.testing.assert_array_equal(lp_score(x, y, random_state=3), lp_score(x, y, random_state=3))

    def test_errors(self, rng):
        x = rng.normal(size=(2, 48, 12))
        with pytest.raises(ValueError, match=r"x and y must share the condition axis; got shapes \(2, 48, 12\) and \(2, 40, 12\)"):
            rsa_score(x, x[:, :40])
        with pytest.raises(ValueError, match=r"y must be 3-D \(time, condition, unit\)"):
            cca_score(x, x[0])
        with pytest.raises(ValueError, match=r"n_components must be an integer in 1..12"):
            cca_score(x, x, n_components=13)
        with pytest.raises(ValueError, match=r"n_train must be an integer in 2..46"):
            lp_score(x, x, n_train=47)
        with pytest.raises(ValueError, match="n_splits must be an integer >= 1"):
            lp_score(x, x, n_splits=0)
        with pytest.raises(ValueError, match=r"x_components must be an integer in 1..12"):
            lp_score(x, x, x_components=20)
        with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
            lp_score(x, x, alpha=-1.0)


def test_lp_clips_each_brain_pc_before_averaging():
    """METHODS 7 v2. v1 averaged the test R^2 over the 2 brain PCs and clipped the mean to [0, 1]; v2 clips
    each PC's R^2 first. Here brain PC 1 is predictable from the model and PC 2 is noise (negative test R^2),
    so the two orders differ; the reference is sklearn's Ridge and r2_score on the same splits."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    model = rng.normal(size=(1, 48, 12))
    signal = model[0] @ rng.normal(size=(12, 1))
    brain = np.concatenate([3 * signal @ rng.normal(size=(1, 6)), 1.5 * rng.normal(size=(48, 6))], axis=1)[None]
    scores = lp_score(model, brain, random_state=11)

    px = PCA(10).fit_transform(StandardScaler().fit_transform(model[0]))
    py = PCA(2).fit_transform(StandardScaler().fit_transform(brain[0]))
    splits = np.random.default_rng(11)
    per_pc, clip_after_mean = [], []
    for _ in range(10):
        order = splits.permutation(48)
        train, test = order[:40], order[40:]
        r2 = r2_score(py[test], Ridge(alpha=1.0).fit(px[train], py[train]).predict(px[test]),
                      multioutput="raw_values")
        per_pc.append(np.clip(r2, 0, 1).mean())
        clip_after_mean.append(np.clip(r2.mean(), 0, 1))
    assert scores[0] == pytest.approx(np.mean(per_pc), rel=1e-9)
    assert np.mean(per_pc) - np.mean(clip_after_mean) > 0.05


# --------------------------------------------------------------------------------------- DSA
def _linear_dynamics(rng, a: np.ndarray, *, n_cond: int = 24, n_time: int = 30, n_units: int = 12,
                     noise: float = 0.02) -> np.ndarray:
    """Trajectories x_{t+1} = A x_t from random starts, embedded in n_units, plus noise: (n_cond, n_time, n_units)."""
    k = a.shape[0]
    states = np.zeros((n_cond, n_time, k))
    states[:, 0] = rng.normal(size=(n_cond, k))
    for t in range(1, n_time):
        states[:, t] = states[:, t - 1] @ a.T
    return states @ rng.normal(size=(k, n_units)) + noise * rng.normal(size=(n_cond, n_time, n_units))


def _rotation(omega: float, decay: float) -> np.ndarray:
    c, s = np.cos(omega), np.sin(omega)
    block = decay * np.array([[c, -s], [s, c]])
    return np.block([[block, np.zeros((2, 2))], [np.zeros((2, 2)), 0.9 * block.T]])


def test_dsa_prefers_same_dynamics(rng):
    a, b = _rotation(0.3, 0.97), np.diag([0.5, 0.3, -0.4, 0.2])
    x = _linear_dynamics(rng, a)
    same = dsa_score(x, _linear_dynamics(rng, a), n_components=4)
    different = dsa_score(x, _linear_dynamics(rng, b), n_components=4)
    assert same > different
    assert same > 0.9
    with pytest.raises(ValueError, match=r"score_method must be one of \['angular', 'wasserstein', 'euclidean'\]; got 'cosine'"):
        dsa_score(x, x, score_method="cosine")
    with pytest.raises(ValueError, match="DSA needs at least 3 time bins; got 2"):
        dsa_score(x[:, :2], x[:, :2], n_components=4)


@pytest.mark.slow
def test_dsa_angular_is_the_default_and_identical_systems_score_one(rng, monkeypatch):
    """METHODS 7 v2. v1 defaulted to dsa-metric's "wasserstein" score; v2 uses the authors' "angular"."""
    from compute.analysis import alignment

    x = _linear_dynamics(rng, _rotation(0.3, 0.97))
    assert dsa_score(x, x, n_components=4) == pytest.approx(1.0, abs=1e-6)
    methods = []
    monkeypatch.setattr(alignment, "_dsa_distance", lambda a, b, method, seed: methods.append(method) or 0.25)
    assert dsa_score(x, x[::-1], n_components=4) == 0.75
    alignment_scores(*_pair(rng), methods=("dsa",), n_boot=1, n_nulls=2, n_jobs=1)
    assert methods == ["angular"] * 5


# --------------------------------------------------------------------------------------- response sets
def _pair(rng, *, n_model: int = 30, n_bio: int = 25, shared: float = 1.0) -> tuple[ResponseSet, ResponseSet]:
    """A model set (11 stimuli, 10 frames) and a bio set (6 stimuli, 20 bins) driven by shared latents."""
    latent = rng.normal(size=(6, 8, 3))
    t_model, t_bio = np.linspace(0, 1, 10), np.linspace(0, 1, 20)

    def drive(n, t, extra):
        lat = np.einsum("sdk,tk->sdt", latent * shared + extra, np.stack([np.sin(np.pi * t), t, t ** 2], axis=1))
        return np.abs(lat[None] * rng.normal(size=(n, 1, 1, 1)) + 0.05 * rng.normal(size=(n, 6, 8, len(t))))

    model = np.zeros((n_model, 11, 8, 10))
    model[:, [MODEL_STIMULI.index(s) for s in BIO_STIMULI]] = drive(n_model, t_model, 0)
    bio = drive(n_bio, t_bio, rng.normal(size=(6, 8, 3)) * (1 - shared))
    return (ResponseSet(model.astype(np.float32), MODEL_STIMULI, time=t_model, provenance={"label": "model"}),
            ResponseSet(bio.astype(np.float32), BIO_STIMULI, time=np.arange(20.0), time_unit="bin", onset_index=2,
                        provenance={"label": "bio", "reconstructed": True}))


class TestAlignmentScores:
    def test_matched_arrays(self, rng):
        model, bio = _pair(rng)
        x, y = matched_arrays(model, bio)
        assert x.shape == (10, 48, 30) and y.shape == (10, 48, 25)
        # condition c = stimulus * 8 + direction, stimuli in BIO_STIMULI order
        np.testing.assert_array_equal(x[4, 8 * 2 + 5], model.responses[:, MODEL_STIMULI.index(BIO_STIMULI[2]), 5, 4])

    def test_result_shapes_intervals_and_determinism(self, rng):
        model, bio = _pair(rng)
        fast = {"dsa_method": "wasserstein"}  # milliseconds per DSA; the angular default is tested below
        a = alignment_scores(model, bio, n_boot=4, n_nulls=3, random_state=2, **fast)
        b = alignment_scores(model, bio, n_boot=4, n_nulls=3, random_state=2, **fast)
        assert a.methods == ("rsa", "cca", "lp", "dsa")
        assert a.values.shape == (4, 4) and a.per_time.shape == (4, 4, 10)
        assert np.all(np.isnan(a.per_time[3])) and not np.any(np.isnan(a.per_time[:3]))
        assert np.all((a.ci_low <= a.mean) & (a.mean <= a.ci_high))
        assert np.isfinite(a.dsa_z) and a.dsa_null.shape == (3,)
        assert a.bio_reconstructed and a.bio_label == "bio"
        np.testing.assert_array_equal(a.values, b.values)
        assert a.mean_alignment == pytest.approx(a.mean.mean())
        assert a.time_curve("rsa").shape == (10,)
        assert a.score("cca")[0] == pytest.approx(a.mean[1])

    def test_shared_latents_align_better_than_unrelated(self, rng):
        model, bio = _pair(rng, shared=1.0)
        _, other = _pair(np.random.default_rng(99), shared=0.0)
        methods = ("rsa", "cca", "lp")
        related = alignment_scores(model, bio, methods=methods, n_boot=3)
        unrelated = alignment_scores(model, other, methods=methods, n_boot=3)
        assert np.all(related.mean > unrelated.mean)

    def test_preset_sizes_and_progress(self, rng):
        model, bio = _pair(rng)
        seen = []
        result = alignment_scores(model, bio, methods=("rsa",), control=JobControl(progress=lambda f, t: seen.append(f)))
        assert result.values.shape == (1, 10) and np.isnan(result.dsa_z)       # interactive: 10 bootstraps
        assert seen[-1] == 1.0
        with pytest.raises(Cancelled):
            alignment_scores(model, bio, methods=("rsa",), control=JobControl(cancelled=lambda: True))

    def test_errors(self, rng):
        model, bio = _pair(rng)
        with pytest.raises(ValueError, match=r"methods must be a non-empty subset of \['rsa', 'cca', 'lp', 'dsa'\]"):
            alignment_scores(model, bio, methods=("rsa", "procrustes"))
        with pytest.raises(ValueError, match=r"preset must be one of \['interactive', 'publication'\]; got 'fast'"):
            alignment_scores(model, bio, preset="fast")
        with pytest.raises(ValueError, match="n_boot must be an integer >= 1; got 0"):
            alignment_scores(model, bio, n_boot=0)
        with pytest.raises(ValueError, match=r"n_nulls must be an integer >= 2"):
            alignment_scores(model, bio, n_nulls=1)
        with pytest.raises(ValueError, match=r"model set 'model' lacks the bio-matched stimuli \['grat_W12'\]"):
            alignment_scores(model.select(stimuli=list(MODEL_STIMULI[1:])), bio)
        with pytest.raises(TypeError, match="bio must be a ResponseSet; got ndarray"):
            alignment_scores(model, bio.responses)
        with pytest.raises(ValueError, match="model and bio directions differ"):
            alignment_scores(model, ResponseSet(bio.responses, bio.stimuli, directions=np.arange(8.0)))
        with pytest.raises(ValueError, match=r"dsa_components must be an integer in 1..25"):
            alignment_scores(model, bio, dsa_components=26)
        result = alignment_scores(model, bio, methods=("dsa",), n_boot=1, n_nulls=2, dsa_method="wasserstein")
        with pytest.raises(ValueError, match=r"method 'rsa' was not computed; this result has \['dsa'\]"):
            result.score("rsa")
        with pytest.raises(ValueError, match=r"per-time curves exist for \[\]; got 'dsa'"):
            result.time_curve("dsa")


def _identical_pair(rng) -> tuple[ResponseSet, ResponseSet]:
    """A model set whose bio-matched six are exactly the bio set (same units, same 10 time bins)."""
    _, bio = _pair(rng)
    bio = ResponseSet(bio.responses[..., ::2], BIO_STIMULI, time=np.arange(10.0), time_unit="bin",
                      provenance={"label": "bio"})
    model = np.zeros((bio.n_units, 11, 8, 10), dtype=np.float32)
    model[:, [MODEL_STIMULI.index(s) for s in BIO_STIMULI]] = bio.responses
    return ResponseSet(model, MODEL_STIMULI, time=np.arange(10.0), provenance={"label": "model"}), bio


@pytest.mark.slow
def test_dsa_angular_is_seeded(rng):
    # The package starts its similarity transform at random (torch's generator): random_state seeds it.
    x, y = _linear_dynamics(rng, _rotation(0.3, 0.97)), _linear_dynamics(rng, np.diag([0.5, 0.3, -0.4, 0.2]))
    assert dsa_score(x, y, n_components=2, random_state=4) == dsa_score(x, y, n_components=2, random_state=4)


class TestDSAInTheEngine:
    @pytest.mark.slow
    def test_identical_systems_z_score_is_finite(self, rng):
        model, bio = _identical_pair(rng)
        result = alignment_scores(model, bio, methods=("dsa",), n_boot=1, n_nulls=2, dsa_components=4)
        assert np.isfinite(result.dsa_z) and result.dsa_z > 0
        assert np.all(result.dsa_null < 1.0)

    def test_progress_and_cancel_between_nulls(self, rng, monkeypatch):
        from compute.analysis import alignment

        monkeypatch.setattr(alignment, "_dsa_distance", lambda x, y, method, seed: 0.5)
        model, bio = _pair(rng)
        seen = []
        alignment_scores(model, bio, methods=("dsa",), n_boot=1, n_nulls=3, dsa_components=4, n_jobs=1,
                         control=JobControl(progress=lambda f, t: seen.append((f, t))))
        assert [t for _, t in seen if t.startswith("DSA null")][:3] == ["DSA null 1/3", "DSA null 2/3", "DSA null 3/3"]
        assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
        checks = []
        with pytest.raises(Cancelled):
            alignment_scores(model, bio, methods=("dsa",), n_boot=1, n_nulls=3, dsa_components=4, n_jobs=1,
                             control=JobControl(cancelled=lambda: checks.append(1) or len(checks) > 3))
        assert len(checks) == 4                                # bootstrap, its DSA, all-unit inputs, observed DSA

    def test_biology_is_x_and_nulls_shuffle_the_model_time(self, rng, monkeypatch):
        """METHODS 7 v2. v1 passed the model as X and shuffled the biology's time order in the nulls; the
        authors pass the biology as X and shuffle the model's time order."""
        from compute.analysis import alignment

        model, bio = _pair(rng, n_model=30, n_bio=25)
        source = {}
        real_pca, calls = alignment._pca_trajectories, []

        def pca(x, n_components, seed):
            out = real_pca(x, n_components, seed)
            source[id(out)] = "model" if x.shape[2] == 30 else "bio"
            return out

        monkeypatch.setattr(alignment, "_pca_trajectories", pca)
        monkeypatch.setattr(alignment, "_dsa_distance", lambda x, y, method, seed: calls.append((x, y)) or 0.5)
        alignment_scores(model, bio, methods=("dsa",), n_boot=1, n_nulls=3, dsa_components=4, n_jobs=1)
        observed_x, observed_y = calls[1]                      # calls[0] is the bootstrap's score
        assert source[id(observed_x)] == "bio" and source[id(observed_y)] == "model"
        for null_x, null_y in calls[2:]:
            assert null_x is observed_x                        # the biology stays as it is
            assert not np.array_equal(null_y, observed_y)
            # the same states in another time order, one permutation for all conditions
            order = [int(np.flatnonzero(np.all(observed_y[0] == null_y[0, t], axis=1))[0]) for t in range(10)]
            np.testing.assert_array_equal(null_y, observed_y[:, order])

    @pytest.mark.slow
    def test_worker_processes_give_the_same_scores(self, rng):
        """Angular DSA comparisons run in worker processes (n_jobs > 1), each seeded from the one generator:
        the scores equal those of one process, bit for bit."""
        model, bio = _pair(rng)
        options = {"methods": ("rsa", "dsa"), "n_boot": 2, "n_nulls": 2, "dsa_components": 3, "random_state": 7}
        one = alignment_scores(model, bio, n_jobs=1, **options)
        two = alignment_scores(model, bio, n_jobs=2, **options)
        np.testing.assert_array_equal(one.values, two.values)
        np.testing.assert_array_equal(one.dsa_null, two.dsa_null)
        assert one.dsa_z == two.dsa_z and np.isfinite(one.dsa_z)

    def test_n_jobs_is_checked(self, rng):
        with pytest.raises(ValueError, match=r"n_jobs must be an integer >= 1 or None \(all available cores\); "
                                             r"got 0"):
            alignment_scores(*_pair(rng), methods=("dsa",), n_jobs=0)


def _result(mean_value: float) -> AlignmentResult:
    return AlignmentResult(methods=("rsa", "cca"), values=np.full((2, 3), mean_value), per_time=np.zeros((2, 3, 4)),
                           time=np.arange(4.0), dsa_z=np.nan, dsa_null=np.zeros(0), preset="interactive",
                           model_label="m", bio_label="b", bio_reconstructed=False)


def test_mean_alignment_table():
    table = mean_alignment_table({"Enc L1": {"retina": _result(0.2), "V1": _result(0.4)},
                                  "Rec": {"V1": _result(0.6)}})
    assert table.modules == ("Enc L1", "Rec") and table.datasets == ("retina", "V1")
    np.testing.assert_allclose(table.values, [[0.2, 0.4], [np.nan, 0.6]])
    with pytest.raises(TypeError, match=r"results\[...\]\['V1'\] must be an AlignmentResult; got float"):
        mean_alignment_table({"Rec": {"V1": 0.5}})
