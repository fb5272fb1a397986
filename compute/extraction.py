"""Run a model on the stimulus suite and cache the responses of 2000 sampled units per module
(METHODS.md sections 2.2 and 2.3).

Every sequence runs from a reset state with neutral behaviour, frames / 255, batches of whole conditions
(all instances of a (class, direction) together), under ``torch.inference_mode``. Full activations of a
module over the suite do not fit in memory (Enc L1 alone is 128 x 64 x 96 values per frame, 9768 frames),
so extraction makes two passes over the suite, each one recording every requested module through hooks:

1. ``activity_scores``: per module, the streamed sampling scores (``compute.sampling.ScoreAccumulator``),
   which keep only per-batch time sums and a running max over conditions;
2. ``record_units``: only the sampled units, averaged over instances.

Shortcuts with identical results: output modules draw their units uniformly and need no first pass; when
the instance-averaged time courses of every candidate unit of the requested modules fit in
``SINGLE_PASS_BYTES`` (e.g. Rec, RecOut, Enc L7 or Enc L8 alone), pass 1 keeps them and pass 2 is skipped;
for models registered as ``truncatable`` each forward call stops after the last module read (Enc L1 alone
costs a fraction of a full forward).

``extract`` adds the content-addressed cache: modules already cached are skipped, each module is written
atomically when its responses are complete, concurrent identical requests compute once (per-module locks),
and CUDA work holds a cross-process lock.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import torch

from compute.cache import ArtifactCache, content_key, default_cache
from compute.config import Settings
from compute.jobs import JobControl, ensure_control
from compute.models.registry import ModuleSpec, get_model, select_device
from compute.responses import ResponseSet
from compute.sampling import (SamplingSettings, ScoreAccumulator, UnitSample, candidate_region, module_rng,
                              sample_outputs, sample_units)
from compute.stimuli import CLASS_NAMES, DIRECTIONS, FRAME_RATE, SuiteSpec, get_suite

# Bump when a change in this module alters extracted responses; part of every responses key.
EXTRACTION_VERSION = 1
DEFAULT_BATCH = {"cpu": 9, "cuda": 96}  # CPU cost per frame-sample grows past ~8 (benchmarks/bench_fnn.py)
# One pass when all kept candidate time courses fit here (2.5 GiB; full suite: Rec or RecOut 0.2 GB,
# Enc L7 or Enc L8 1.4 GB, Output 0.13 GB; Enc L1 5.8 GB does not), which keeps the peak RSS under 6 GB.
SINGLE_PASS_BYTES = 5 * 2**29
GPU_LOCK = "device-cuda"
_ELEMENTWISE = (None, "scaled_gelu")
_RANKS = {"conv": (4,), "map": (3, 4), "output": (2,)}


# ------------------------------------------------------------------------------------------- hooks
def _transform(spec: ModuleSpec, tensor: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    if spec.transform == "scaled_gelu":
        from compute.models.fnn import scaled_gelu

        return scaled_gelu(tensor)
    if spec.transform == "readout":
        return model.readout_features(tensor)
    return tensor


def _check_rank(spec: ModuleSpec, tensor: torch.Tensor) -> None:
    if tensor.ndim not in _RANKS[spec.kind]:
        expected = {"conv": "[N, C, H, W]", "map": "[N, C, H, W] or [N, C, P]", "output": "[N, U]"}[spec.kind]
        raise ValueError(f"module {spec.name!r} ({spec.hook} of {spec.path or 'the model'!r}) gave a tensor of "
                         f"shape {tuple(tensor.shape)}; kind {spec.kind!r} expects {expected}; fix the "
                         "registry entry (path, hook, transform or kind)")


@contextlib.contextmanager
def _hooks(model: torch.nn.Module, specs: Sequence[ModuleSpec],
           sink: Callable[[ModuleSpec, torch.Tensor], None]) -> Iterator[None]:
    """Call ``sink(spec, hooked tensor)`` for every spec on every forward call (raw, untransformed)."""
    handles = []
    try:
        for spec in specs:
            try:
                module = model.get_submodule(spec.path)
            except AttributeError:
                raise ValueError(f"module {spec.name!r}: the model ({type(model).__name__}) has no submodule "
                                 f"{spec.path!r}; fix the registry entry") from None
            if spec.hook == "output":
                handles.append(module.register_forward_hook(
                    lambda _m, _args, out, spec=spec: sink(spec, out)))
            else:
                handles.append(module.register_forward_pre_hook(
                    lambda _m, args, spec=spec: sink(spec, args[0])))
        yield
    finally:
        for handle in handles:
            handle.remove()


# ------------------------------------------------------------------------------------------- engine
def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 6 or frames.dtype != np.uint8:
        raise ValueError("frames must be uint8 of shape (n_classes, n_directions, n_instances, n_frames, H, W); "
                         f"got {frames.dtype} of shape {frames.shape}")
    return frames


def _batch_size(batch_size: int | None, device: torch.device) -> int:
    if batch_size is None:
        return DEFAULT_BATCH.get(device.type, DEFAULT_BATCH["cpu"])
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int or None; got {batch_size!r}")
    return int(batch_size)


class _Pass(Protocol):
    """What one pass does with the hooked tensors; ``_run_suite`` sets ``t`` (the frame) before each forward."""

    t: int

    def start(self, conditions: range, n_instances: int) -> None: ...
    def sink(self, spec: ModuleSpec, tensor: torch.Tensor) -> None: ...
    def end(self, conditions: range, n_instances: int) -> None: ...


class _StopForward(Exception):
    """Raised by a hook to end a forward call early (``truncate``)."""


def _run_suite(model: torch.nn.Module, specs: Sequence[ModuleSpec], frames: np.ndarray, step: _Pass, *,
               device: torch.device, batch_size: int, control: JobControl, stage: str,
               truncate: bool = False) -> None:
    """Run every sequence (batches of whole conditions, reset before each), feeding the hooks to ``step``.

    With ``truncate``, each forward call stops right after the last hooked module (in call order, learnt
    on the first frame); only valid when no module's state depends on modules that run after it.
    """
    n_classes, n_directions, n_instances, n_time = frames.shape[:4]
    sequences = frames.reshape((n_classes * n_directions * n_instances, n_time) + frames.shape[4:])
    n_conditions = n_classes * n_directions
    per_batch = max(1, batch_size // n_instances)
    total = n_conditions * n_instances
    order: list[str] = []
    last: list[str] = []

    def sink(spec: ModuleSpec, tensor: torch.Tensor) -> None:
        step.sink(spec, tensor)
        if not last and spec.name not in order:
            order.append(spec.name)
        if last and spec.name == last[0]:
            raise _StopForward

    model.eval()
    with torch.inference_mode(), _hooks(model, specs, sink):
        for first in range(0, n_conditions, per_batch):
            conditions = range(first, min(first + per_batch, n_conditions))
            batch = torch.from_numpy(np.array(sequences[first * n_instances: conditions.stop * n_instances]))
            batch = batch.to(device)
            model.reset()
            step.start(conditions, n_instances)
            for t in range(n_time):
                control.check()
                control.report((first * n_instances * n_time + batch.shape[0] * t) / (total * n_time),
                               f"{stage}: sequences {first * n_instances + 1}-{conditions.stop * n_instances}"
                               f"/{total}, frame {t + 1}/{n_time}")
                step.t = t
                try:
                    model(batch[:, t].unsqueeze(1).float() / 255.0)
                except _StopForward:
                    pass
                if truncate and not last and order:
                    last.append(order[-1])
            step.end(conditions, n_instances)
    control.report(1.0, f"{stage}: done")


def _region(spec: ModuleSpec, map_shape: tuple[int, ...], sampling: SamplingSettings) -> tuple[slice, ...]:
    """Candidate slices of one sample's map; every unit of an output module."""
    if spec.kind == "output":
        return (slice(None),)
    return candidate_region(map_shape, kind=spec.kind, settings=sampling)


def _region_size(map_shape: tuple[int, ...], region: tuple[slice, ...]) -> int:
    return int(np.prod([len(range(n)[s]) for n, s in zip(map_shape, region)]))


class _ScorePass(_Pass):
    """Pass 1: streamed position scores; with ``keep``, also the instance-averaged time courses of every
    candidate unit (``kept[name]`` of shape (n_conditions, n_time, *candidate_shape)), so that no second
    pass is needed. Output modules take part only with ``keep``."""

    def __init__(self, model: torch.nn.Module, specs: Sequence[ModuleSpec], sampling: SamplingSettings, *,
                 keep: bool = False, n_conditions: int = 0, n_time: int = 0) -> None:
        self.model, self.sampling, self.t = model, sampling, 0
        self.keep, self.n_conditions, self.n_time = keep, n_conditions, n_time
        self.acc = {spec.name: ScoreAccumulator() for spec in specs if spec.kind != "output"}
        self.region: dict[str, tuple[slice, ...]] = {}
        self.map_shape: dict[str, tuple[int, ...]] = {}
        self.kept: dict[str, np.ndarray] = {}
        self.conditions, self.n_instances = range(0), 1

    def start(self, conditions: range, n_instances: int) -> None:
        self.conditions, self.n_instances = conditions, n_instances
        for acc in self.acc.values():
            acc.start()

    def sink(self, spec: ModuleSpec, tensor: torch.Tensor) -> None:
        # Elementwise transforms commute with cropping: crop first, transform fewer values.
        crop_first = spec.transform in _ELEMENTWISE
        full = tensor if crop_first else _transform(spec, tensor, self.model)
        if spec.name not in self.region:
            _check_rank(spec, full)
            self.map_shape[spec.name] = tuple(full.shape[1:])
            self.region[spec.name] = _region(spec, self.map_shape[spec.name], self.sampling)
        activity = full[(slice(None),) + self.region[spec.name]]
        activity = (_transform(spec, activity, self.model) if crop_first else activity).clamp(min=0)
        if spec.kind != "output":
            self.acc[spec.name].add(activity)
        if self.keep:
            if spec.name not in self.kept:
                self.kept[spec.name] = np.zeros((self.n_conditions, self.n_time) + tuple(activity.shape[1:]),
                                                np.float32)
            mean = activity.reshape((len(self.conditions), self.n_instances) + activity.shape[1:]).mean(dim=1)
            self.kept[spec.name][self.conditions.start:self.conditions.stop, self.t] = mean.cpu().numpy()

    def end(self, conditions: range, n_instances: int) -> None:
        for acc in self.acc.values():
            acc.end(n_instances)

    def scores(self) -> dict[str, np.ndarray]:
        out = {}
        for name, acc in self.acc.items():
            full = np.zeros(self.map_shape[name])
            full[self.region[name]] = acc.scores()
            out[name] = full
        return out

    def responses(self, name: str, unit: UnitSample) -> np.ndarray:
        """Kept responses of ``unit``'s units: (n_units, n_conditions, n_time)."""
        region, kept = self.region[name], self.kept[name]
        coords = np.unravel_index(unit.index, unit.map_shape)
        local = [c - (s.start or 0) for c, s in zip(coords, region)]
        flat = np.ravel_multi_index(local, kept.shape[2:])
        return np.ascontiguousarray(kept.reshape(kept.shape[:2] + (-1,))[:, :, flat].transpose(2, 0, 1))


class _RecordPass(_Pass):
    def __init__(self, model: torch.nn.Module, units: Mapping[str, UnitSample], n_conditions: int,
                 n_time: int, device: torch.device) -> None:
        self.model, self.device, self.t = model, device, 0
        self.index = {name: torch.as_tensor(u.index, device=device) for name, u in units.items()}
        self.map_shape = {name: u.map_shape for name, u in units.items()}
        self.out = {name: np.zeros((u.n_units, n_conditions, n_time), np.float32) for name, u in units.items()}
        self.batch: dict[str, torch.Tensor] = {}

    def start(self, conditions: range, n_instances: int) -> None:
        n_sequences = len(conditions) * n_instances
        self.batch = {name: torch.zeros((n_sequences, out.shape[0], out.shape[2]), device=self.device)
                      for name, out in self.out.items()}

    def sink(self, spec: ModuleSpec, tensor: torch.Tensor) -> None:
        # Elementwise transforms commute with picking units, so pick first and transform 2000 values.
        gather_first = spec.transform in _ELEMENTWISE
        activity = tensor if gather_first else _transform(spec, tensor, self.model)
        if tuple(activity.shape[1:]) != self.map_shape[spec.name]:
            _check_rank(spec, activity)
            raise ValueError(f"module {spec.name!r} gave maps of shape {tuple(activity.shape[1:])}, but its "
                             f"units were drawn from maps of shape {self.map_shape[spec.name]}")
        values = activity.reshape(activity.shape[0], -1)[:, self.index[spec.name]]
        if gather_first:
            values = _transform(spec, values, self.model)
        self.batch[spec.name][:, :, self.t] = values.clamp(min=0)

    def end(self, conditions: range, n_instances: int) -> None:
        for name, batch in self.batch.items():
            mean = batch.reshape((len(conditions), n_instances) + batch.shape[1:]).mean(dim=1)
            self.out[name][:, conditions.start:conditions.stop] = mean.permute(1, 0, 2).cpu().numpy()


def module_shapes(model: torch.nn.Module, specs: Sequence[ModuleSpec], frame_shape: tuple[int, int], *,
                  device: torch.device = torch.device("cpu")) -> dict[str, tuple[int, ...]]:
    """Shape of one sample's activity map in each module, from one grey frame after a reset.

    Returns
    -------
    dict of module name -> (C, H, W), (C, P) or (U,)
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def sink(spec: ModuleSpec, tensor: torch.Tensor) -> None:
        activity = _transform(spec, tensor, model)
        _check_rank(spec, activity)
        shapes[spec.name] = tuple(activity.shape[1:])

    model.eval()
    with torch.inference_mode(), _hooks(model, specs, sink):
        model.reset()
        model(torch.full((1, 1) + tuple(frame_shape), 0.5, device=device))
    model.reset()
    missing = [spec.name for spec in specs if spec.name not in shapes]
    if missing:
        raise ValueError(f"modules {missing} were never called in a forward pass; fix their registry paths")
    return shapes


def activity_scores(model: torch.nn.Module, specs: Sequence[ModuleSpec], frames: np.ndarray, *,
                    sampling: SamplingSettings = SamplingSettings(), device: torch.device = torch.device("cpu"),
                    batch_size: int | None = None, control: JobControl | None = None,
                    truncate: bool = False) -> dict[str, np.ndarray]:
    """Pass 1: position scores of every unit of the spatial modules ``specs`` over the suite.

    Parameters
    ----------
    frames : ndarray of shape (n_classes, n_directions, n_instances, n_frames, H, W), uint8
    truncate : bool, default=False
        Stop each forward call after the last hooked module (``ModelEntry.truncatable`` models only).

    Returns
    -------
    dict of module name -> ndarray of shape (C, H, W) or (C, P)
        Position scores (``compute.sampling``), 0 outside the candidate region.
    """
    frames = _check_frames(frames)
    if any(spec.kind == "output" for spec in specs):
        raise ValueError("output modules are drawn uniformly and have no scores; pass only spatial modules")
    step = _ScorePass(model, specs, sampling)
    _run_suite(model, specs, frames, step, device=device, batch_size=_batch_size(batch_size, device),
               control=ensure_control(control), stage="pass 1/2 (scores)", truncate=truncate)
    return step.scores()


def record_units(model: torch.nn.Module, specs: Sequence[ModuleSpec], frames: np.ndarray,
                 units: Mapping[str, UnitSample], *, device: torch.device = torch.device("cpu"),
                 batch_size: int | None = None, control: JobControl | None = None,
                 stage: str = "pass 2/2 (responses)", truncate: bool = False) -> dict[str, np.ndarray]:
    """Pass 2: responses of the given units, clipped at 0 and averaged over instances.

    Parameters
    ----------
    frames : ndarray of shape (n_classes, n_directions, n_instances, n_frames, H, W), uint8
    units : dict of module name -> UnitSample, one per spec
    truncate : bool, default=False
        Stop each forward call after the last hooked module (``ModelEntry.truncatable`` models only).

    Returns
    -------
    dict of module name -> ndarray of shape (n_units, n_classes, n_directions, n_frames), float32
    """
    frames = _check_frames(frames)
    missing = [spec.name for spec in specs if spec.name not in units]
    if missing:
        raise ValueError(f"no units given for modules {missing}")
    n_classes, n_directions, _, n_time = frames.shape[:4]
    step = _RecordPass(model, {spec.name: units[spec.name] for spec in specs}, n_classes * n_directions, n_time,
                       device)
    _run_suite(model, specs, frames, step, device=device, batch_size=_batch_size(batch_size, device),
               control=ensure_control(control), stage=stage, truncate=truncate)
    return {name: out.reshape(out.shape[0], n_classes, n_directions, n_time) for name, out in step.out.items()}


# ------------------------------------------------------------------------------------------- cache
def responses_key(model_name: str, module: str, *, suite: SuiteSpec, sampling: SamplingSettings, seed: int,
                  weights_id: str) -> str:
    """Cache key of a module's ResponseSet (code version, weights, model, module, suite, the sampling
    settings that matter for the module's kind, seed)."""
    spec = get_model(model_name).module(module)
    return content_key("responses", extraction=EXTRACTION_VERSION, weights_id=weights_id, model=model_name,
                       module=module, suite=suite.key_parts(), sampling=sampling.key_parts(spec.kind),
                       seed=int(seed))


def _check_options(suite: SuiteSpec, sampling: SamplingSettings, seed: int) -> None:
    if not isinstance(suite, SuiteSpec):
        raise TypeError(f"suite must be a compute.stimuli.SuiteSpec; got {type(suite).__name__}")
    if not isinstance(sampling, SamplingSettings):
        raise TypeError(f"sampling must be a compute.sampling.SamplingSettings; got {type(sampling).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")


def _module_names(entry, modules: Sequence[str] | None) -> list[str]:
    if modules is None:
        return list(entry.module_names)
    if isinstance(modules, str):
        raise TypeError(f"modules must be a sequence of module names, e.g. [{modules!r}]; got the string "
                        f"{modules!r}")
    names = list(dict.fromkeys(modules))
    if not names:
        raise ValueError(f"no modules requested; choose from {list(entry.module_names)}")
    for name in names:
        entry.module(name)
    return names


def extract(model_name: str, modules: Sequence[str] | None = None, *, suite: SuiteSpec = SuiteSpec(),
            sampling: SamplingSettings = SamplingSettings(), seed: int = 0, cache: ArtifactCache | None = None,
            settings: Settings | None = None, control: JobControl | None = None,
            batch_size: int | None = None) -> dict[str, str]:
    """Extract the responses of sampled units of a model's modules and cache one ResponseSet per module.

    Parameters
    ----------
    model_name : str
        A key of ``compute.models.registry.MODELS``.
    modules : sequence of str or None
        Module names (None = all of the model's modules).
    suite : SuiteSpec
        Stimulus suite; responses are averaged over its instances.
    sampling : SamplingSettings
        How units are drawn (METHODS 2.3).
    seed : int, default=0
        Unit-sampling seed; each module draws from its own generator (``compute.sampling.module_rng``).
    cache, settings : default ``default_cache()`` and ``Settings.from_env()``
    control : JobControl or None
        Progress and cooperative cancel (``compute.jobs.Cancelled``; nothing partial is written).
    batch_size : int or None
        Sequences per batch, rounded down to whole conditions (default 9 on CPU, 96 on CUDA).

    Returns
    -------
    dict of module name -> cache key of its ResponseSet, shape (n_units, n_classes, 8, n_frames), float32,
    clipped >= 0, time = arange(n_frames) / 30 s.
    """
    entry = get_model(model_name)
    names = _module_names(entry, modules)
    _check_options(suite, sampling, seed)
    settings = Settings.from_env() if settings is None else settings
    cache = default_cache() if cache is None else cache
    control = ensure_control(control)
    device = select_device(settings.device)
    batch_size = _batch_size(batch_size, device)
    weights = entry.memoised_weights_id(settings)
    model = None
    if weights is None:
        model, weights = entry.build(settings)
    keys = {name: responses_key(model_name, name, suite=suite, sampling=sampling, seed=seed, weights_id=weights)
            for name in names}
    if all(key in cache for key in keys.values()):
        control.report(1.0, "all modules already extracted")
        return keys
    with contextlib.ExitStack() as locks:
        for key in sorted(set(keys.values())):
            locks.enter_context(cache.lock(key))
        todo = [entry.module(name) for name in names if keys[name] not in cache]
        if todo:
            if device.type == "cuda":
                locks.enter_context(cache.lock(GPU_LOCK))
            sets = _extract_modules(entry, model, todo, suite=suite, sampling=sampling, seed=seed, settings=settings,
                                    cache=cache, device=device, batch_size=batch_size, control=control)
            for name, rs in sets.items():
                cache.put_responses(keys[name], rs)
    control.report(1.0, "extraction done")
    return keys


def _extract_modules(entry, model: torch.nn.Module | None, specs: list[ModuleSpec], *, suite: SuiteSpec,
                     sampling: SamplingSettings, seed: int, settings: Settings, cache: ArtifactCache,
                     device: torch.device, batch_size: int, control: JobControl) -> dict[str, ResponseSet]:
    if model is None:
        control.report(0.0, f"building {entry.label}")
        model, _ = entry.build(settings)
    weights = entry.weights_id(settings)
    model = model.to(device)
    frames = _check_frames(get_suite(suite, cache=cache, control=control.sub(0.0, 0.05)))
    if frames.shape[:4] != (len(suite.classes), len(DIRECTIONS), suite.n_instances, suite.n_frames):
        raise ValueError(f"the suite gave frames of shape {frames.shape}, which does not match {suite}")
    units, responses = _sample_and_record(model, specs, frames, sampling=sampling, seed=seed, device=device,
                                          batch_size=batch_size, truncate=entry.truncatable,
                                          control=control.sub(0.05, 1.0))
    stimuli = tuple(CLASS_NAMES[c] for c in suite.classes)
    time = np.arange(suite.n_frames) / FRAME_RATE
    return {spec.name: ResponseSet(
        responses=responses[spec.name], stimuli=stimuli, directions=np.asarray(DIRECTIONS, dtype=np.float64),
        time=time, time_unit="s", onset_index=0, units=units[spec.name].columns(),
        provenance={"label": f"{entry.label} / {spec.name}", "model": entry.name, "weights_id": weights,
                    "module": spec.name, "suite": suite.key_parts(), "sampling": sampling.key_parts(spec.kind),
                    "seed": int(seed), "untrained": entry.untrained})
        for spec in specs}


def _sample_and_record(model: torch.nn.Module, specs: list[ModuleSpec], frames: np.ndarray, *,
                       sampling: SamplingSettings, seed: int, device: torch.device, batch_size: int,
                       truncate: bool, control: JobControl) -> tuple[dict[str, UnitSample], dict[str, np.ndarray]]:
    """Units of every module and their responses (n_units, n_classes, n_directions, n_frames), in one pass
    (scores and kept candidate responses, when they fit in SINGLE_PASS_BYTES), or in two."""
    shapes = module_shapes(model, specs, frames.shape[4:], device=device)
    n_conditions, n_time = frames.shape[0] * frames.shape[1], frames.shape[3]
    spatial = [spec for spec in specs if spec.kind != "output"]
    kept_bytes = 4 * n_conditions * n_time * sum(
        _region_size(shapes[spec.name], _region(spec, shapes[spec.name], sampling)) for spec in specs)
    single = bool(spatial) and kept_bytes <= SINGLE_PASS_BYTES
    first = _ScorePass(model, specs if single else spatial, sampling, keep=single, n_conditions=n_conditions,
                       n_time=n_time)
    if spatial:
        _run_suite(model, specs if single else spatial, frames, first, device=device,
                   batch_size=batch_size, control=control.sub(0.0, 1.0 if single else 0.5),
                   stage="pass 1/1 (scores and responses)" if single else "pass 1/2 (scores)", truncate=truncate)
    scores = first.scores()
    units = {spec.name: sample_outputs(shapes[spec.name][0], module=spec.name, settings=sampling,
                                       random_state=module_rng(seed, spec.name))
             if spec.kind == "output" else
             sample_units(scores[spec.name], module=spec.name, streams=spec.streams, settings=sampling,
                          random_state=module_rng(seed, spec.name))
             for spec in specs}
    if single:
        return units, {spec.name: first.responses(spec.name, units[spec.name]).reshape(
            (-1,) + frames.shape[:2] + (n_time,)) for spec in specs}
    return units, record_units(model, specs, frames, units, device=device, batch_size=batch_size,
                               control=control.sub(0.5 if spatial else 0.0, 1.0),
                               stage="pass 2/2 (responses)" if spatial else "pass 1/1 (responses)",
                               truncate=truncate)


def load_responses(model_name: str, module: str, *, suite: SuiteSpec = SuiteSpec(),
                   sampling: SamplingSettings = SamplingSettings(), seed: int = 0,
                   cache: ArtifactCache | None = None, settings: Settings | None = None) -> ResponseSet:
    """The cached ResponseSet of one module; KeyError (saying how to extract it) if it is not cached."""
    entry = get_model(model_name)
    entry.module(module)
    _check_options(suite, sampling, seed)
    settings = Settings.from_env() if settings is None else settings
    cache = default_cache() if cache is None else cache
    key = responses_key(model_name, module, suite=suite, sampling=sampling, seed=seed,
                        weights_id=entry.weights_id(settings))
    if key not in cache:
        raise KeyError(f"{entry.label} / {module} has not been extracted for these settings (key {key}); run "
                       f"`python -m compute extract --model {model_name} --modules {module!r}` or extract it "
                       "from the app first")
    return cache.get_responses(key)
