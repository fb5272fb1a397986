"""Cached extraction (METHODS.md 2.2-2.3) on the small causal 3-D CNN and on a 30-unit FNN, and the registry."""

import errno
import itertools
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from compute.cache import ArtifactCache
from compute.config import Settings
from compute.extraction import (SPILL_MARGIN_BYTES, activity_scores, extract, load_responses, module_shapes,
                                record_units, responses_key)
from compute.extraction import passes, spill
from compute.jobs import Cancelled, JobControl
from compute.models.fnn import build_fnn
from compute.models.registry import (FNN_MODULE_SPECS, FNN_MODULES, MODELS, SMALL_MODULE_SPECS, ModelEntry,
                                     ModuleSpec, get_model, select_device)
from compute.models.small import SmallConv3d, build_small
from compute.responses import ResponseSet
from compute.sampling import SamplingSettings, sample_outputs, sample_units
from compute.stimuli import SuiteSpec, get_suite

SUITE = SuiteSpec(n_instances=2, n_frames=3, classes=(3,))  # a dot flow: 16 distinct sequences of 3 frames
SAMPLING = SamplingSettings(n_maps=4, n_positions=5, n_output=20)


def thin_small(seed: int = 0):
    """The small model with 8 channels per layer (fast), 40 output units."""
    return build_small(n_units=40, channels=(8, 8, 8), seed=seed)



@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> np.ndarray:
    """uint8 (1 dot-flow class, 8 directions, 2 instances, 3 frames, 144, 256)."""
    return get_suite(SUITE, cache=ArtifactCache(tmp_path_factory.mktemp("suite")))


@pytest.fixture
def settings(tmp_path) -> Settings:
    """One process (the reference; tests/compute/test_extraction_workers.py checks the workers against it)."""
    return Settings(cache_dir=tmp_path, data_dir=tmp_path / "data", device="cpu", extract_workers=1)


def register(monkeypatch, name: str, modules, make_model, *, counted: str = "", **options) -> list[int]:
    """Register a test model; returns a list that grows by the batch size at every call of the submodule
    ``counted`` ("" = every forward call of the model)."""
    calls: list[int] = []

    def builder(settings):
        model = make_model()
        model.get_submodule(counted).register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
        return model, f"{name}-weights"

    monkeypatch.setitem(MODELS, name, ModelEntry(name, f"{name} label", True, tuple(modules), builder, **options))
    return calls


def disk_free(monkeypatch, free: int) -> None:
    """Pretend that the disk of the spill folder has ``free`` bytes beyond the spill margin."""
    usage = shutil.disk_usage(".")
    monkeypatch.setattr(spill.shutil, "disk_usage", lambda path: usage._replace(free=SPILL_MARGIN_BYTES + free))


@pytest.fixture
def two_passes(monkeypatch) -> None:
    """Force the two-pass scheme: no spill fits on the disk."""
    disk_free(monkeypatch, 0)


@pytest.fixture
def small(monkeypatch) -> list[int]:
    return register(monkeypatch, "test-small", SMALL_MODULE_SPECS, thin_small)


def run(name="test-small", modules=None, *, cache, settings, **kwargs) -> dict[str, str]:
    kwargs.setdefault("batch_size", 24)  # all 16 test sequences in one batch
    return extract(name, modules, suite=SUITE, sampling=SAMPLING, cache=cache, settings=settings, **kwargs)


def manual_pass(model, frames: np.ndarray, specs, *, clip: bool = True) -> dict[str, np.ndarray]:
    """Reference: run each sequence alone, keep every hooked tensor after its transform (clipped at 0).

    Returns module name -> (n_classes, n_directions, n_instances, n_frames, *map_shape)."""
    store: dict[str, list] = {spec.name: [] for spec in specs}
    transforms = {None: lambda x: x, "scaled_gelu": lambda x: F.gelu(x) * 1.7015043497085571,
                  "readout": model.readout_features if hasattr(model, "readout_features") else None}
    handles = []
    for spec in specs:
        module = model.get_submodule(spec.path)
        floor = 0.0 if clip else -np.inf
        keep = lambda t, spec=spec: store[spec.name].append(
            transforms[spec.transform](t).clamp(min=floor)[0].clone())
        handles.append(module.register_forward_hook(lambda _m, _a, out, keep=keep: keep(out))
                       if spec.hook == "output" else
                       module.register_forward_pre_hook(lambda _m, args, keep=keep: keep(args[0])))
    with torch.inference_mode():
        for sequence in frames.reshape((-1,) + frames.shape[3:]):
            model.reset()
            for frame in sequence:
                model(torch.from_numpy(frame.astype(np.float32) / 255)[None, None])
    for handle in handles:
        handle.remove()
    return {name: torch.stack(ts).reshape(frames.shape[:4] + ts[0].shape).numpy() for name, ts in store.items()}


# ---------------------------------------------------------------------------------------------- registry
class TestRegistry:
    def test_fnn_module_table_follows_the_methods(self):
        table = {spec.name: (spec.path, spec.hook, spec.transform, spec.kind, spec.streams)
                 for spec in FNN_MODULE_SPECS}
        assert FNN_MODULES == ("Enc L1", "Enc L2", "Enc L4", "Enc L5", "Enc L7", "Enc L8", "Rec", "RecOut",
                               "Readout", "Output")
        assert table == {
            "Enc L1": ("core.feedforward.inputs.0", "output", "scaled_gelu", "conv", 4),
            "Enc L2": ("core.feedforward.blocks.0.convs.0", "output", "scaled_gelu", "conv", 4),
            "Enc L4": ("core.feedforward.inputs.1", "output", "scaled_gelu", "conv", 4),
            "Enc L5": ("core.feedforward.blocks.1.convs.0", "output", "scaled_gelu", "conv", 4),
            "Enc L7": ("core.feedforward.inputs.2", "output", "scaled_gelu", "conv", 4),
            "Enc L8": ("core.feedforward.blocks.2.convs.0", "output", "scaled_gelu", "conv", 4),
            "Rec": ("core.recurrent.out", "input", None, "map", 4),
            "RecOut": ("core.recurrent.out", "output", None, "map", 4),
            "Readout": ("core.recurrent.out", "output", "readout", "map", 4),
            "Output": ("", "output", None, "output", 1),
        }

    @pytest.mark.slow
    def test_fnn_hook_shapes_match_the_architecture(self):
        # ARCHITECTURE.md section 6: [N, 4C, H, W] per hook point; Readout (4*128, U); Output (U,)
        shapes = module_shapes(build_fnn(n_units=30), FNN_MODULE_SPECS, (144, 256))
        assert shapes == {"Enc L1": (128, 64, 96), "Enc L2": (128, 64, 96), "Enc L4": (256, 32, 48),
                          "Enc L5": (256, 32, 48), "Enc L7": (512, 16, 24), "Enc L8": (512, 16, 24),
                          "Rec": (1024, 16, 24), "RecOut": (512, 16, 24), "Readout": (512, 30), "Output": (30,)}

    def test_registered_models(self, settings):
        assert {"fnn-random", "fnn-official", "conv3d-random"} <= set(MODELS)
        assert get_model("fnn-random").label == "FNN (untrained, random weights)"
        assert get_model("fnn-random").untrained and not get_model("fnn-official").untrained
        assert get_model("fnn-random").module_names == FNN_MODULES
        model, weights = get_model("conv3d-random").build(settings)
        assert isinstance(model, SmallConv3d) and not model.training and weights
        assert get_model("conv3d-random").weights_id(settings) == weights

    def test_official_model_needs_its_weights(self, settings):
        entry = get_model("fnn-official")
        assert not entry.available(settings)
        with pytest.raises(ValueError, match=r"model 'fnn-official' .* is not available: its weights are missing"):
            entry.build(settings)

    def test_select_device(self):
        assert select_device("cpu") == torch.device("cpu")
        assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
        if torch.cuda.is_available():
            assert select_device("cuda").type == "cuda"
        else:
            with pytest.raises(ValueError, match="device 'cuda' was requested but CUDA is not available here"):
                select_device("cuda")
        with pytest.raises(ValueError, match=r"device must be one of \('auto', 'cpu', 'cuda'\); got 'tpu'"):
            select_device("tpu")

    def test_errors(self, monkeypatch, settings):
        with pytest.raises(ValueError, match=r"unknown model 'nope'; known models are \["):
            get_model("nope")
        with pytest.raises(ValueError, match=r"model 'fnn-random' has no module 'L3'; its modules are \['Enc L1'"):
            get_model("fnn-random").module("L3")
        with pytest.raises(ValueError, match=r"module 'x': hook must be one of \('output', 'input'\); got 'grad'"):
            ModuleSpec("x", "a", hook="grad")
        with pytest.raises(ValueError, match="module 'x': streams must be a positive int; got 0"):
            ModuleSpec("x", "a", streams=0)
        register(monkeypatch, "test-plain", SMALL_MODULE_SPECS, lambda: torch.nn.Linear(2, 2))
        with pytest.raises(TypeError, match=r"model 'test-plain' must have a reset\(\) method .* Linear has none"):
            get_model("test-plain").build(settings)


# ---------------------------------------------------------------------------------------------- extract
class TestExtractSmallModel:
    def test_response_sets_have_the_layout_and_labels(self, small, tmp_cache, settings):
        keys = run(cache=tmp_cache, settings=settings)
        assert list(keys) == ["Conv1", "Conv2", "Conv3", "Pool", "Output"]
        for module, key in keys.items():
            rs = tmp_cache.get_responses(key)
            assert rs.shape == (20, 1, 8, 3) and rs.responses.dtype == np.float32
            assert rs.responses.min() >= 0 and rs.responses.max() > 0
            np.testing.assert_allclose(rs.time, np.arange(3) / 30.0)
            assert rs.time_unit == "s" and rs.stimuli == ("neg1dotflow_D1_bg",)
            np.testing.assert_array_equal(rs.directions, np.arange(0, 360, 45))
            assert rs.provenance == {"label": f"test-small label / {module}", "model": "test-small",
                                     "weights_id": "test-small-weights", "module": module,
                                     "suite": SUITE.key_parts(), "seed": 0, "untrained": True,
                                     "sampling": SAMPLING.key_parts("output" if module == "Output" else
                                                                    "map" if module == "Pool" else "conv")}
            assert (rs.units["module"] == module).all()
            assert key == responses_key("test-small", module, suite=SUITE, sampling=SAMPLING, seed=0,
                                        weights_id="test-small-weights")
        conv1 = tmp_cache.get_responses(keys["Conv1"]).units  # 36 x 64 map, authors crop m = 9
        assert conv1["y"].min() >= 9 and conv1["x"].min() >= 9 and (conv1["stream"] == 0).all()
        pool = tmp_cache.get_responses(keys["Pool"]).units  # "authors": the first n_maps channels
        assert set(pool["channel"].tolist()) == {0, 1, 2, 3}
        output = tmp_cache.get_responses(keys["Output"]).units
        assert len(set(output["output_index"].tolist())) == 20 and (output["y"] == -1).all()

    @pytest.mark.parametrize("mode", ["all spilled", "partial", "disk full"])
    def test_spilled_and_recorded_responses_are_identical(self, small, mode, tmp_path, settings, monkeypatch):
        two = ArtifactCache(tmp_path / "two")
        with monkeypatch.context() as patch:
            disk_free(patch, 0)
            keys = run(cache=two, settings=settings)
        assert small == [1, 16, 16, 16, 16, 16, 16]  # probe frame, then 2 passes of 3 frames in one batch
        if mode == "partial":  # room for Conv1 only: 8 x 27 x 55 candidates (crop 9), 8 conditions x 3 frames
            disk_free(monkeypatch, 4 * 8 * 3 * 8 * 27 * 55)
        if mode == "disk full":  # Conv3's 5th row write (frame 0; Conv1, Conv2 done) finds the disk full
            write, writes = passes._write_at, itertools.count()

            def full_disk(file, data, offset):
                if next(writes) == 2 * 8 + 4:
                    raise OSError(errno.ENOSPC, "No space left on device")
                write(file, data, offset)

            monkeypatch.setattr(passes, "_write_at", full_disk)
        reports = []
        one = ArtifactCache(tmp_path / "one")
        assert run(cache=one, settings=settings, control=JobControl(progress=lambda f, text: reports.append(
            (f, text)))) == keys
        texts = {text.split(":")[0] for _, text in reports}
        spilled = {"all spilled": ["Conv1", "Conv2", "Conv3", "Pool", "Output"], "partial": ["Conv1"],
                   "disk full": ["Conv1", "Conv2", "Pool", "Output"]}[mode]
        assert {text for text in texts if text.startswith("reading back")} == {f"reading back {m}" for m in spilled}
        if mode == "all spilled":
            assert small[7:] == [1, 16, 16, 16] and "pass 1/1 (scores and responses)" in texts
        else:
            assert small[7:] == [1] + [16] * 6 and "pass 2/2 (responses)" in texts
            assert ("pass 1/2 (scores and responses)" if mode == "partial" else
                    "pass 1/1 (scores and responses)") in texts
        fractions = [f for f, _ in reports]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        for key in keys.values():
            assert one.get_responses(key).equals(two.get_responses(key))
        assert not list((settings.cache_dir / "tmp").iterdir())

    def test_a_second_call_computes_nothing(self, small, tmp_cache, settings):
        keys = run(cache=tmp_cache, settings=settings)
        n_calls = len(small)
        assert run(cache=tmp_cache, settings=settings) == keys and len(small) == n_calls
        rs = load_responses("test-small", "Conv2", suite=SUITE, sampling=SAMPLING, cache=tmp_cache,
                            settings=settings)
        assert rs.equals(tmp_cache.get_responses(keys["Conv2"]))

    def test_only_missing_modules_are_computed_and_a_sample_ignores_its_companions(self, small, tmp_path,
                                                                                   settings):
        alone, joint = ArtifactCache(tmp_path / "alone"), ArtifactCache(tmp_path / "joint")
        key = run(modules=["Conv2"], cache=alone, settings=settings)["Conv2"]
        stamp = alone.path(key).stat().st_mtime_ns
        before = len(small)
        keys = run(modules=["Conv1", "Conv2"], cache=alone, settings=settings)
        assert len(small) > before and alone.path(key).stat().st_mtime_ns == stamp
        run(modules=["Conv1", "Conv2", "Output"], cache=joint, settings=settings)
        for module in ("Conv1", "Conv2"):
            assert joint.get_responses(keys[module]).equals(alone.get_responses(keys[module]))

    def test_batching_does_not_change_the_result(self, small, two_passes, tmp_path, settings):
        whole = run(modules=["Pool"], cache=ArtifactCache(tmp_path / "a"), settings=settings)
        per_condition = run(modules=["Pool"], cache=ArtifactCache(tmp_path / "b"), settings=settings,
                            batch_size=3)  # rounded down to one condition (2 instances) per batch
        for module, key in whole.items():
            a = ArtifactCache(tmp_path / "a").get_responses(key)
            b = ArtifactCache(tmp_path / "b").get_responses(per_condition[module])
            np.testing.assert_array_equal(a.units["channel"], b.units["channel"])
            np.testing.assert_allclose(a.responses, b.responses, rtol=1e-5, atol=1e-6)

    def test_truncated_forwards_give_the_same_responses(self, monkeypatch, tmp_cache, settings):
        heads = register(monkeypatch, "test-full", SMALL_MODULE_SPECS, thin_small, counted="head")
        truncated_heads = register(monkeypatch, "test-truncated", SMALL_MODULE_SPECS, thin_small, counted="head",
                                   truncatable=True)
        full = tmp_cache.get_responses(run("test-full", ["Conv1"], cache=tmp_cache, settings=settings)["Conv1"])
        truncated = tmp_cache.get_responses(run("test-truncated", ["Conv1"], cache=tmp_cache,
                                                settings=settings)["Conv1"])
        np.testing.assert_array_equal(full.responses, truncated.responses)
        np.testing.assert_array_equal(full.units["channel"], truncated.units["channel"])
        # probe frame and the first frame (which learns the call order) reach the head; later frames stop
        assert len(heads) == 1 + 3 and len(truncated_heads) == 1 + 1

    @pytest.mark.parametrize("error", [Cancelled, RuntimeError])
    def test_cancel_or_error_leaves_nothing(self, small, tmp_cache, settings, error):
        def stop_once_spilled() -> bool:
            if any(f.stat().st_size for f in (settings.cache_dir / "tmp").glob("spill-*/*")):
                if error is Cancelled:
                    return True
                raise RuntimeError("planted failure")
            return False

        with pytest.raises(error):
            run(cache=tmp_cache, settings=settings, control=JobControl(cancelled=stop_once_spilled))
        assert not list(tmp_cache.root.glob("responses-*")) and not list(tmp_cache.root.glob("*.tmp"))
        assert not list((settings.cache_dir / "tmp").iterdir())
        assert len(run(cache=tmp_cache, settings=settings)) == 5  # the locks were released

    def test_spills_of_killed_extractions_are_removed(self, small, tmp_cache, settings):
        tmp = settings.cache_dir / "tmp"
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout.strip()
        folders = {"dead": tmp / f"spill-{dead}-a", "live": tmp / f"spill-{os.getpid()}-b",
                   "reused": tmp / f"spill-{os.getpid()}-c", "not a spill": tmp / "spill-notes"}
        for folder in folders.values():
            folder.mkdir(parents=True)
            (folder / "module-0.f32").write_bytes(b"\0" * 8)
        os.utime(folders["reused"], (0, 0))  # last written before this process started: its pid was reused
        run(modules=["Pool"], cache=tmp_cache, settings=settings)
        assert sorted(tmp.iterdir()) == sorted([folders["live"], folders["not a spill"]])


    def test_concurrent_identical_requests_compute_once(self, small, tmp_cache, settings):
        results, errors = [], []

        def job():
            try:
                results.append(run(modules=["Conv1", "Output"], cache=tmp_cache, settings=settings))
            except Exception as err:  # pragma: no cover - reported below
                errors.append(err)

        threads = [threading.Thread(target=job) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and results[0] == results[1]
        assert len(small) == 1 + 3  # one extraction's forward calls

    def test_progress_reports_both_passes(self, small, two_passes, tmp_cache, settings):
        reports = []
        run(modules=["Conv1"], cache=tmp_cache, settings=settings,
            control=JobControl(progress=lambda f, text: reports.append((f, text))))
        fractions = [f for f, _ in reports]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        assert any(text.startswith("pass 1/2 (scores): sequences 1-16/16, frame 2/3") for _, text in reports)
        assert any(text.startswith("pass 2/2 (responses)") for _, text in reports)

    def test_not_extracted_yet(self, small, tmp_cache, settings):
        with pytest.raises(KeyError, match=r"test-small label / Pool has not been extracted for these settings .*"
                                           r"python -m compute extract --model test-small --modules 'Pool'"):
            load_responses("test-small", "Pool", suite=SUITE, sampling=SAMPLING, cache=tmp_cache, settings=settings)

    @pytest.mark.parametrize("modules, kwargs, error, message", [
        ("Conv1", {}, TypeError, r"modules must be a sequence of module names, e.g. \['Conv1'\]"),
        (["Conv9"], {}, ValueError, r"model 'test-small' has no module 'Conv9'; its modules are \['Conv1'"),
        ([], {}, ValueError, r"no modules requested; choose from \['Conv1'"),
        (None, {"seed": -1}, ValueError, "seed must be an integer >= 0; got -1"),
        (None, {"suite": "all"}, TypeError, "suite must be a compute.stimuli.SuiteSpec; got str"),
        (None, {"sampling": {"n_maps": 4}}, TypeError, "sampling must be a compute.sampling.SamplingSettings"),
        (None, {"batch_size": 0}, ValueError, "batch_size must be an integer >= 1; got 0"),
    ], ids=["string", "unknown", "empty", "seed", "suite", "sampling", "batch"])
    def test_argument_errors(self, small, tmp_cache, settings, modules, kwargs, error, message):
        options = {"suite": SUITE, "sampling": SAMPLING, **kwargs}
        with pytest.raises(error, match=message):
            extract("test-small", modules, cache=tmp_cache, settings=settings, **options)
        assert small == []

    def test_registry_mistakes_are_reported(self, monkeypatch, tmp_cache, settings):
        register(monkeypatch, "test-bad-path", [ModuleSpec("Deep", "conv9")], thin_small)
        with pytest.raises(ValueError, match=r"module 'Deep': the model \(SmallConv3d\) has no submodule 'conv9'"):
            run("test-bad-path", cache=tmp_cache, settings=settings)
        register(monkeypatch, "test-bad-kind", [ModuleSpec("Rates", "")], thin_small)
        with pytest.raises(ValueError, match=r"module 'Rates' \(output of 'the model'\) gave a tensor of shape "
                                             r"\(1, 40\); kind 'conv' expects \[N, C, H, W\]"):
            run("test-bad-kind", cache=tmp_cache, settings=settings)
        assert not list(tmp_cache.root.glob("responses-*"))


# ---------------------------------------------------------------------------------------------- passes
class TestPasses:
    @pytest.fixture(scope="class")
    def model(self):
        return thin_small(seed=1)

    @pytest.fixture(scope="class")
    def units(self, model, frames):
        scores = activity_scores(model, SMALL_MODULE_SPECS[:4], frames, sampling=SAMPLING)
        units = {spec.name: sample_units(scores[spec.name], module=spec.name, settings=SAMPLING, random_state=0)
                 for spec in SMALL_MODULE_SPECS[:4]}
        units["Output"] = sample_outputs(40, module="Output", settings=SAMPLING, random_state=0)
        return units

    def test_responses_are_the_clipped_instance_average_of_the_hooked_units(self, model, frames, units):
        """clip(mean over instances) (METHODS v2 2.3); v1 stored the mean of the clipped instances, which
        differs wherever a unit's instances have opposite signs."""
        frames = frames[:, :2]  # 2 directions x 2 instances
        recorded = record_units(model, SMALL_MODULE_SPECS, frames, units)
        reference = manual_pass(model, frames, SMALL_MODULE_SPECS, clip=False)
        v1_differs = []
        for name, unit in units.items():
            maps = reference[name].reshape(reference[name].shape[:4] + (-1,))[..., unit.index]
            expected = np.clip(maps.mean(axis=2), 0, None).transpose(3, 0, 1, 2)  # (unit, class, direction, time)
            np.testing.assert_allclose(recorded[name], expected, rtol=1e-4, atol=1e-6)
            v1 = np.clip(maps, 0, None).mean(axis=2).transpose(3, 0, 1, 2)
            v1_differs.append(not np.allclose(recorded[name], v1, rtol=1e-4, atol=1e-6))
        assert any(v1_differs)

    def test_a_grating_runs_once_and_its_average_is_that_run(self, model, units, tmp_path):
        """Gratings have identical instances (METHODS v2 section 1): one run per direction, none per copy
        (v1 ran every instance: 8 x 3 + 8 x 3 sequences here instead of 8 + 8 x 3)."""
        mixed = get_suite(SuiteSpec(n_instances=3, n_frames=2, classes=(0, 3)), cache=ArtifactCache(tmp_path))
        batches = []
        handle = model.register_forward_pre_hook(lambda _m, args: batches.append(args[0].shape[0]))
        try:
            both = record_units(model, SMALL_MODULE_SPECS, mixed, units, batch_size=24)
        finally:
            handle.remove()
        assert batches == [8, 8, 24, 24]  # 8 grating runs, then 8 dot-flow conditions x 3, 2 frames each
        once = record_units(model, SMALL_MODULE_SPECS, mixed[:1, :, :1], units, batch_size=24)
        for name in units:
            np.testing.assert_array_equal(both[name][:, :1], once[name])

    def test_responses_are_causal(self, model, frames, units):
        changed = frames.copy()
        changed[:, :, :, 2] = 255 - changed[:, :, :, 2]
        a = record_units(model, SMALL_MODULE_SPECS, frames, units)
        b = record_units(model, SMALL_MODULE_SPECS, changed, units)
        for name in units:
            np.testing.assert_array_equal(a[name][..., :2], b[name][..., :2])
            assert not np.allclose(a[name][..., 2], b[name][..., 2])

    def test_errors(self, model, frames, units):
        with pytest.raises(ValueError, match=r"frames must be uint8 of shape \(n_classes, n_directions, "
                                             r"n_instances, n_frames, H, W\); got float64"):
            record_units(model, SMALL_MODULE_SPECS, frames / 255.0, units)
        with pytest.raises(ValueError, match=r"no units given for modules \['Output'\]"):
            record_units(model, SMALL_MODULE_SPECS, frames, {k: v for k, v in units.items() if k != "Output"})
        with pytest.raises(ValueError, match="output modules are drawn uniformly and have no scores"):
            activity_scores(model, SMALL_MODULE_SPECS, frames)
        wrong = {**units, "Pool": replace(units["Pool"], map_shape=(8, 3, 3))}
        with pytest.raises(ValueError, match=r"module 'Pool' gave maps of shape \(8, 9, 16\), but its units were "
                                             r"drawn from maps of shape \(8, 3, 3\)"):
            record_units(model, SMALL_MODULE_SPECS, frames, wrong)
        bottom = (slice(None), slice(35, None), slice(None))  # the units lie in rows 9-35 of 36
        with pytest.raises(ValueError, match=r"module 'Conv1': some units lie outside the region \(slice\(None, "
                                             r"None, None\), slice\(35, None, None\), .* of their maps \(8, 36, 64\)"):
            record_units(model, SMALL_MODULE_SPECS[:1], frames, units, regions={"Conv1": bottom})

    def test_a_truncated_spill_file_is_reported(self, tmp_path):
        (tmp_path / "module-0.f32").write_bytes(bytes(8))
        with (open(tmp_path / "module-0.f32", "rb", buffering=0) as file,
              pytest.raises(OSError, match=r"spill file .*module-0.f32 ended before byte 16; was it truncated")):
            spill._read_at(file, np.empty(4, np.float32), 0)


# ---------------------------------------------------------------------------------------------- FNN
@pytest.fixture(scope="module")
def fnn():
    return build_fnn(n_units=30, seed=0)


class TestFNN:
    @pytest.mark.slow
    def test_each_module_reads_what_the_methods_say(self, fnn, frames, rng):
        """Conv hooks: pre-activation, then scaled GELU; Rec: input of core.recurrent.out; Readout:
        readout_features at (channel, output unit); Output: the forward return."""
        clip = frames[:, :1, :1, :2]  # 1 sequence of 2 frames
        shapes = module_shapes(fnn, FNN_MODULE_SPECS, (144, 256))
        units = {spec.name: sample_units(rng.random(shapes[spec.name]) + 0.01, module=spec.name, streams=4,
                                         settings=SAMPLING, random_state=0)
                 for spec in FNN_MODULE_SPECS if spec.kind != "output"}
        units["Output"] = sample_outputs(30, module="Output", settings=SAMPLING, random_state=0)
        recorded = record_units(fnn, FNN_MODULE_SPECS, clip, units)
        raw_encoder = [replace(spec, name=f"raw {spec.name}", transform=None) for spec in FNN_MODULE_SPECS[:6]]
        reference = manual_pass(fnn, clip, FNN_MODULE_SPECS)
        raw = manual_pass(fnn, clip[:, :, :, :1], raw_encoder, clip=False)
        for name, unit in units.items():
            maps = reference[name].reshape(reference[name].shape[:4] + (-1,))[..., unit.index]
            np.testing.assert_allclose(recorded[name], maps[:, :, 0].transpose(3, 0, 1, 2), rtol=1e-4, atol=1e-6)
        # the encoder hooks see values no scaled GELU can produce (its minimum is about -0.29)
        assert all(raw[f"raw {name}"].min() < -0.3 for name in FNN_MODULES[:6])

    @pytest.mark.slow
    def test_truncated_forwards_keep_the_state(self, fnn, frames, rng):
        """Stopping a forward after Enc L2 (a causal temporal conv) or at Rec (the input of
        core.recurrent.out) must not skip the buffer or LSTM-state updates the next frame needs."""
        clip = frames[:, :1, :1]  # 1 sequence of 3 frames
        specs = [FNN_MODULE_SPECS[1], FNN_MODULE_SPECS[6]]
        shapes = module_shapes(fnn, specs, (144, 256))
        units = {spec.name: sample_units(rng.random(shapes[spec.name]) + 0.01, module=spec.name, streams=4,
                                         settings=SAMPLING, random_state=0) for spec in specs}
        full = record_units(fnn, specs, clip, units)
        for spec in specs:
            truncated = record_units(fnn, [spec], clip, units, truncate=True)
            np.testing.assert_array_equal(truncated[spec.name], full[spec.name])

    @pytest.mark.slow
    def test_extract_all_ten_modules(self, monkeypatch, tmp_cache, settings):
        calls = register(monkeypatch, "test-fnn", FNN_MODULE_SPECS, lambda: build_fnn(n_units=30, seed=0))
        suite = SuiteSpec(n_instances=1, n_frames=2, classes=(0,))
        keys = extract("test-fnn", suite=suite, sampling=SAMPLING, cache=tmp_cache, settings=settings)
        assert calls == [1, 8, 8]  # one pass: probe frame, then 2 frames of the 8 sequences
        assert list(keys) == list(FNN_MODULES)
        sets = {name: tmp_cache.get_responses(key) for name, key in keys.items()}
        for name, rs in sets.items():
            assert isinstance(rs, ResponseSet) and rs.shape[1:] == (1, 8, 2) and rs.responses.min() >= 0
            assert rs.provenance["untrained"] is True
            assert 0 < rs.n_units <= 20  # 4 maps x 5 positions at most (short maps give fewer); 20 outputs
        for name in ("Rec", "RecOut", "Readout"):  # "authors": first n_maps channels, all of stream 0
            assert (sets[name].units["stream"] == 0).all() and sets[name].units["channel"].max() < 4
        assert sets["Output"].n_units == 20 and sets["Enc L1"].n_units == 20
        assert (sets["Readout"].units["y"] == -1).all() and sets["Readout"].units["output_index"].max() < 30
        assert sets["Enc L7"].units["y"].min() >= 4 and sets["Enc L1"].units["x"].min() >= 16
        assert set(sets["Enc L8"].units["stream"].tolist()) <= {0, 1, 2, 3}

    @pytest.mark.slow
    def test_spilled_and_recorded_responses_are_identical(self, fnn, frames, tmp_path, monkeypatch):
        """The scaled GELU rounds differently in torch's vectorised and scalar kernels, so both passes must
        transform the same crop."""
        clip = frames[:, :1, :1, :2]  # 1 sequence of 2 frames

        def sample_and_record() -> tuple[dict, dict]:
            return passes._sample_and_record(fnn, list(FNN_MODULE_SPECS), clip, sampling=SAMPLING, seed=0,
                                             device=torch.device("cpu"), batch_size=1, truncate=False,
                                             spill_dir=tmp_path, control=JobControl())

        units, spilled = sample_and_record()
        disk_free(monkeypatch, 0)
        units_again, recorded = sample_and_record()
        for name in FNN_MODULES:
            np.testing.assert_array_equal(units[name].index, units_again[name].index)
            np.testing.assert_array_equal(spilled[name], recorded[name])
            assert spilled[name].shape == (units[name].n_units, 1, 1, 2)


# ---------------------------------------------------------------------------------------------- CLI
class TestCli:
    @pytest.mark.slow
    def test_extract_prints_key_and_file(self, tmp_path, monkeypatch, capsys):
        from compute.cli import main

        monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
        assert main(["extract", "--model", "conv3d-random", "--modules", "Conv1", "--instances", "1",
                     "--frames", "2", "--device", "cpu"]) == 0
        module, key, path = capsys.readouterr().out.strip().split("\t")
        assert module == "Conv1" and key.startswith("responses-") and path.endswith(f"{key}.npz")
        rs = ResponseSet.from_arrays(dict(np.load(path, allow_pickle=False)))
        assert rs.shape == (2000, 11, 8, 2) and rs.provenance["model"] == "conv3d-random"

    def test_errors_are_reported(self, tmp_path, monkeypatch, capsys):
        from compute.cli import main

        monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
        assert main(["extract", "--model", "conv3d-random", "--modules", "Conv9"]) == 2
        assert "error: model 'conv3d-random' has no module 'Conv9'" in capsys.readouterr().err
