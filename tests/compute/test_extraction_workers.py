"""Extraction in worker processes (issue 16 target 1): the same bits as one process, progress, cancel, and a
worker that dies or fails."""

import multiprocessing
import os
import signal
from dataclasses import replace

import numpy as np
import pytest
import torch

from compute.cache import ArtifactCache
from compute.config import Settings
from compute.extraction import extract, passes
from compute.extraction.workers import n_workers
from compute.jobs import Cancelled, JobControl
from compute.models.registry import MODELS, SMALL_MODULE_SPECS, ModelEntry
from compute.models.small import build_small
from compute.sampling import SamplingSettings
from compute.stimuli import SuiteSpec

# a grating (8 runs, one batch) and a dot flow (8 conditions x 2 instances): 5 batches of at most 4 sequences
SUITE = SuiteSpec(n_instances=2, n_frames=3, classes=(0, 3))
SAMPLING = SamplingSettings(n_maps=4, n_positions=5, n_output=20)


@pytest.fixture
def one_thread():
    """One torch thread in this process: float32 matrix products round with the thread count (the small
    model's head differs in its last bits between 1 and 2 threads), and each worker runs one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def settings_for(root, workers: int) -> Settings:
    return Settings(cache_dir=root, data_dir=root / "data", device="cpu", extract_workers=workers)


def extract_with(name: str, root, workers: int, modules=None, *, suite=SUITE, batch_size=4, control=None):
    cache = ArtifactCache(root / "artifacts")
    keys = extract(name, modules, suite=suite, sampling=SAMPLING, cache=cache, settings=settings_for(root, workers),
                   batch_size=batch_size, control=control)
    return {module: cache.get_responses(key) for module, key in keys.items()}


def register_failing(monkeypatch, failure) -> None:
    """A small model whose Conv2 calls ``failure()`` in every process but this one (the workers)."""
    parent = os.getpid()

    def builder(settings):
        model = build_small(n_units=40, channels=(8, 8, 8), seed=0)
        model.get_submodule("conv2").register_forward_pre_hook(
            lambda _m, _args: failure() if os.getpid() != parent else None)
        return model, "failing-weights"

    monkeypatch.setitem(MODELS, "test-failing", ModelEntry("test-failing", "failing", True, SMALL_MODULE_SPECS,
                                                           builder))


class TestSameResults:
    @pytest.mark.parametrize("free", ["spilled", "two passes"])
    def test_two_workers_give_the_bits_of_one_process(self, one_thread, tmp_path, monkeypatch, free):
        if free == "two passes":
            monkeypatch.setattr(passes, "_fits_on_disk", lambda sizes, folder: [])
        one = extract_with("conv3d-random", tmp_path / "one", 1)
        reports = []
        two = extract_with("conv3d-random", tmp_path / "two", 2,
                           control=JobControl(progress=lambda f, text: reports.append((f, text))))
        assert list(one) == list(two) == ["Conv1", "Conv2", "Conv3", "Pool", "Output"]
        for module in one:
            assert one[module].equals(two[module]), module
        fractions = [f for f, _ in reports]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        assert any(": 2 workers, sequences" in text for _, text in reports)
        assert not list((tmp_path / "two" / "tmp").iterdir())
        assert not multiprocessing.active_children()

    @pytest.mark.slow
    def test_fnn_random_on_a_tiny_suite(self, one_thread, tmp_path):
        suite = SuiteSpec(n_instances=1, n_frames=4, classes=(0, 3))  # 16 sequences in 4 batches
        modules = ["Enc L2", "Rec", "Readout", "Output"]
        one = extract_with("fnn-random", tmp_path / "one", 1, modules, suite=suite)
        two = extract_with("fnn-random", tmp_path / "two", 2, modules, suite=suite)
        for module in modules:
            assert one[module].equals(two[module]), module

    def test_two_threads_differ_from_one_only_in_float32_rounding(self, tmp_path):
        """What the workers change against a 2-thread process: the rounding of matrix products, no more."""
        threads = torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            two_threads = extract_with("conv3d-random", tmp_path / "one", 1)
        finally:
            torch.set_num_threads(threads)
        workers = extract_with("conv3d-random", tmp_path / "two", 2)
        for module, rs in two_threads.items():
            np.testing.assert_array_equal(rs.units["output_index"], workers[module].units["output_index"])
            np.testing.assert_allclose(workers[module].responses, rs.responses, rtol=1e-5, atol=1e-6)


class TestFailures:
    @pytest.mark.parametrize("failure, error, message", [
        (lambda: os.kill(os.getpid(), signal.SIGKILL), RuntimeError,
         r"extraction worker \d \(pid \d+\) stopped without a result \(exit code -9"),
        (lambda: (_ for _ in ()).throw(ValueError("planted failure")), ValueError, "planted failure"),
    ], ids=["killed", "raises"])
    def test_a_failing_worker_stops_the_extraction_cleanly(self, monkeypatch, tmp_path, failure, error, message):
        register_failing(monkeypatch, failure)
        with pytest.raises(error, match=message):
            extract_with("test-failing", tmp_path, 2)
        assert not multiprocessing.active_children()
        assert not list((tmp_path / "tmp").iterdir())
        assert not list((tmp_path / "artifacts").glob("responses-*"))
        assert len(extract_with("test-failing", tmp_path, 1)) == 5  # locks released; one process works

    def test_cancel_stops_every_worker_and_leaves_nothing(self, tmp_path):
        reports = []
        control = JobControl(progress=lambda f, text: reports.append(text),
                             cancelled=lambda: any("2 workers" in text for text in reports))
        with pytest.raises(Cancelled):
            extract_with("conv3d-random", tmp_path, 2, control=control)
        assert not multiprocessing.active_children()
        assert not list((tmp_path / "tmp").iterdir())
        assert not list((tmp_path / "artifacts").glob("responses-*"))


class TestSetting:
    def test_how_many_workers(self):
        cores = len(os.sched_getaffinity(0))
        assert n_workers(None, torch.device("cpu")) == min(2, cores)
        assert n_workers(3, torch.device("cpu")) == 3
        assert n_workers(None, torch.device("cuda")) == 1 and n_workers(4, torch.device("cuda")) == 1

    def test_environment(self, tmp_path):
        base = {"TWINSCOPE_CACHE_DIR": str(tmp_path)}
        assert Settings.from_env(base).extract_workers is None
        assert Settings.from_env({**base, "TWINSCOPE_EXTRACT_WORKERS": "auto"}).extract_workers is None
        assert Settings.from_env({**base, "TWINSCOPE_EXTRACT_WORKERS": " 3 "}).extract_workers == 3
        with pytest.raises(ValueError, match="TWINSCOPE_EXTRACT_WORKERS must be a positive integer or 'auto'; "
                                             "got '0'"):
            Settings.from_env({**base, "TWINSCOPE_EXTRACT_WORKERS": "0"})
        with pytest.raises(TypeError, match=r"extract_workers must be an integer >= 1 or None; got True"):
            replace(Settings.from_env(base), extract_workers=True)

    def test_cli_option(self, tmp_path, monkeypatch):
        from compute.cli import extract as cli

        seen = []
        monkeypatch.setattr("compute.extraction.extract", lambda *args, settings, **kwargs: seen.append(
            settings.extract_workers) or {})
        monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
        assert cli.main(["--model", "conv3d-random", "--workers", "3"]) == 0
        assert cli.main(["--model", "conv3d-random"]) == 0
        assert seen == [3, None]
