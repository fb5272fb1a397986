"""Run a model on the stimulus suite and cache the responses of 2000 sampled units per module
(METHODS.md sections 2.2 and 2.3).

Every sequence runs from a reset state with neutral behaviour, frames / 255, batches of whole conditions
(all instances of a (class, direction) together), under ``torch.inference_mode``. A condition whose instances
are identical (a grating) runs once: its instance average is that run (``compute.stimuli.runs_per_condition``;
the full suite is 3 x 8 + 8 x 8 x 3 = 216 sequences). Responses are clip(mean over instances). Full
activations of a module over the suite do not fit in memory (Enc L1 alone is 128 x 64 x 96 values per frame,
7992 frames),
so extraction makes one pass over the suite that records every requested module through hooks:

- per spatial module, the streamed sampling scores (``compute.sampling.ScoreAccumulator``), which keep only
  per-batch time sums and a running max over conditions;
- per module, the instance-averaged time courses of every candidate unit, spilled to a file on disk (float32
  rows laid out (n_conditions, n_time, candidate_size), written with positional writes so that nothing of it
  counts in the resident memory) under ``settings.cache_dir / "tmp"``.

Units are drawn once the scores of the whole suite are known, and their responses are read back from the
spill files chunk by chunk. A module whose spill does not fit on the disk (free space minus
``SPILL_MARGIN_BYTES``; the full suite spills 28 GB for the ten FNN modules: Enc L1 and Enc L2 6.4 GB each,
Enc L4 and Enc L5 3.2 GB, Enc L7 and Enc L8 1.6 GB, Readout 5.2 GB (40 maps x 9941 output units), Rec and
RecOut 0.2 GB, Output 0.13 GB) is recorded in a second pass over the suite (``record_units``: only the
sampled units); results are bit-identical either way. Output modules draw their units
uniformly and need no scores (alone, they take one ``record_units`` pass). For models registered as
``truncatable`` each forward call stops after the last module read (Enc L1 alone costs a fraction of a full
forward).

``extract`` adds the content-addressed cache: modules already cached are skipped, each module is written
atomically when its responses are complete, concurrent identical requests compute once (per-module locks),
and CUDA work holds a cross-process lock.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import torch

from compute.cache import ArtifactCache, content_key, default_cache, writer_is_gone
from compute.config import Settings
from compute.jobs import JobControl, ensure_control
from compute.models.registry import ModuleSpec, get_model, select_device
from compute.responses import ResponseSet
from compute.sampling import (SamplingSettings, ScoreAccumulator, UnitSample, candidate_region,
                              clipped_instance_mean, module_rng, sample_outputs, sample_units)
from compute.stimuli import DIRECTIONS, FRAME_RATE, SuiteSpec, get_suite, runs_per_condition

# Bump when a change in this module alters extracted responses; part of every responses key.
# 2: channels-last FNN feedforward (float32 rounding differs); 3: gratings run once, clip(mean over instances)
# and per-frame score normalisation (METHODS v2)
EXTRACTION_VERSION = 3
DEFAULT_BATCH = {"cpu": 9, "cuda": 96}  # CPU cost per frame-sample grows past ~8 (benchmarks/bench_fnn.py)
SPILL_MARGIN_BYTES = 2 * 2**30  # disk space that spill files leave free (cache writes, other programs)
READ_CHUNK_BYTES = 2**26  # spill read-back buffer
GPU_LOCK = "device-cuda"
_ELEMENTWISE = (None, "scaled_gelu")
_CHANNELWISE = ("readout",)  # each output channel depends on its input channel alone
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
    """What one pass does with the hooked tensors; ``_run_suite`` sets ``t`` (the frame) before each forward.
    A batch holds ``n_instances`` runs of each of its conditions, condition-major."""

    t: int

    def start(self, conditions: range, n_instances: int) -> None: ...
    def sink(self, spec: ModuleSpec, tensor: torch.Tensor) -> None: ...
    def end(self, conditions: range, n_instances: int) -> None: ...


class _StopForward(Exception):
    """Raised by a hook to end a forward call early (``truncate``)."""


def _batches(runs: np.ndarray, batch_size: int) -> list[tuple[range, int]]:
    """Consecutive conditions with the same number of runs, at most ``batch_size`` sequences (at least one
    condition) per batch: [(conditions, runs per condition)]."""
    batches, first = [], 0
    while first < runs.size:
        n_runs = int(runs[first])
        stop = first + 1
        while stop < runs.size and runs[stop] == n_runs and (stop - first + 1) * n_runs <= batch_size:
            stop += 1
        batches.append((range(first, stop), n_runs))
        first = stop
    return batches


def _run_suite(model: torch.nn.Module, specs: Sequence[ModuleSpec], frames: np.ndarray, step: _Pass, *,
               device: torch.device, batch_size: int, control: JobControl, stage: str,
               truncate: bool = False) -> None:
    """Run every distinct sequence (batches of whole conditions, reset before each), feeding the hooks to
    ``step``; a condition with identical instances runs once.

    With ``truncate``, each forward call stops right after the last hooked module (in call order, learnt
    on the first frame); only valid when no module's state depends on modules that run after it.
    """
    n_classes, n_directions, n_instances, n_time = frames.shape[:4]
    conditions_frames = frames.reshape((n_classes * n_directions, n_instances, n_time) + frames.shape[4:])
    runs = runs_per_condition(frames).ravel()
    total, done = int(runs.sum()), 0
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
        for conditions, n_runs in _batches(runs, batch_size):
            batch = conditions_frames[conditions.start:conditions.stop, :n_runs]
            batch = torch.from_numpy(np.ascontiguousarray(batch.reshape((-1,) + batch.shape[2:]))).to(device)
            model.reset()
            step.start(conditions, n_runs)
            for t in range(n_time):
                control.check()
                control.report((done * n_time + batch.shape[0] * t) / (total * n_time),
                               f"{stage}: sequences {done + 1}-{done + batch.shape[0]}/{total}, "
                               f"frame {t + 1}/{n_time}")
                step.t = t
                try:
                    model(batch[:, t].unsqueeze(1).float() / 255.0)
                except _StopForward:
                    pass
                if truncate and not last and order:
                    last.append(order[-1])
            step.end(conditions, n_runs)
            done += batch.shape[0]
    control.report(1.0, f"{stage}: done")


def _region(spec: ModuleSpec, map_shape: tuple[int, ...], sampling: SamplingSettings) -> tuple[slice, ...]:
    """Candidate slices of one sample's map; every unit of an output module."""
    if spec.kind == "output":
        return (slice(None),)
    return candidate_region(map_shape, kind=spec.kind, settings=sampling)


def _region_shape(map_shape: tuple[int, ...], region: tuple[slice, ...]) -> tuple[int, ...]:
    return tuple(len(range(n)[s]) for n, s in zip(map_shape, region))


def _region_index(unit: UnitSample, region: tuple[slice, ...]) -> np.ndarray:
    """Flat indices of ``unit``'s units within the crop ``region`` of their maps: (n_units,)."""
    coords = np.unravel_index(unit.index, unit.map_shape)
    local = [c - range(n)[s].start for c, n, s in zip(coords, unit.map_shape, region)]
    shape = _region_shape(unit.map_shape, region)
    if any(((axis < 0) | (axis >= n)).any() for axis, n in zip(local, shape)):
        raise ValueError(f"module {unit.module!r}: some units lie outside the region {region} of their maps "
                         f"{unit.map_shape}; record them with a region that holds them")
    return np.ravel_multi_index(local, shape)


def _full(spec: ModuleSpec, tensor: torch.Tensor, model: torch.nn.Module,
          region: tuple[slice, ...] | None = None) -> torch.Tensor:
    """The hooked tensor, transformed unless the transform is elementwise (``_crop`` applies it then).

    A channelwise transform given the candidate ``region`` transforms only the leading channels the region
    keeps (Readout: 40 of 512 RecOut channels sampled at 9941 positions, not all 512), so the region's
    channel slice still selects the same maps afterwards.
    """
    if spec.transform in _ELEMENTWISE:
        return tensor
    if _precrops(spec, region):
        tensor = tensor[:, region[0]]
    return _transform(spec, tensor, model)


def _precrops(spec: ModuleSpec, region: tuple[slice, ...] | None) -> bool:
    """Whether ``_full`` transforms only the leading channels of ``region``."""
    channels = None if region is None else region[0]
    return (spec.transform in _CHANNELWISE and channels is not None and channels.start in (None, 0)
            and channels.step in (None, 1))


def _full_shape(spec: ModuleSpec, map_shape: tuple[int, ...], region: tuple[slice, ...]) -> tuple[int, ...]:
    """Shape of one sample's ``_full`` maps for units drawn from maps of ``map_shape``."""
    if _precrops(spec, region):
        return _region_shape(map_shape[:1], region[:1]) + tuple(map_shape[1:])
    return tuple(map_shape)


def _crop(spec: ModuleSpec, full: torch.Tensor, region: tuple[slice, ...], model: torch.nn.Module) -> torch.Tensor:
    """Transformed (unclipped) activity in ``region`` of ``_full``'s maps: (N, *region_shape). Elementwise
    transforms commute with cropping, so they apply to fewer values here; both passes transform the same crop
    because torch's vectorised and scalar kernels round differently (the position of a value in the tensor
    matters)."""
    activity = full[(slice(None),) + region]
    return _transform(spec, activity, model) if spec.transform in _ELEMENTWISE else activity


def _write_at(file: io.FileIO, data: np.ndarray, offset: int) -> None:
    file.seek(offset)
    view = memoryview(np.ascontiguousarray(data)).cast("B")
    while view:
        view = view[file.write(view):]


def _read_at(file: io.FileIO, out: np.ndarray, offset: int) -> None:
    """Fill the C-contiguous array ``out`` with the bytes of ``file`` from ``offset``."""
    file.seek(offset)
    view = memoryview(out).cast("B")
    while view:
        n = file.readinto(view)
        if not n:
            raise OSError(f"spill file {file.name} ended before byte {offset + out.nbytes}; was it truncated?")
        view = view[n:]


class _ScorePass(_Pass):
    """Pass 1: streamed position scores of the spatial modules; for the modules in ``spill`` (name -> an
    empty file opened "w+b" unbuffered), also the instance-averaged time courses of every candidate unit,
    written as float32 rows of shape (n_conditions, n_time, candidate_size), so that these modules need no
    second pass. A module whose file runs out of disk leaves ``spill`` (its file is emptied). Output modules
    take part only when spilled."""

    def __init__(self, model: torch.nn.Module, specs: Sequence[ModuleSpec], sampling: SamplingSettings, *,
                 spill: Mapping[str, io.FileIO] | None = None, n_conditions: int = 0, n_time: int = 0) -> None:
        self.model, self.sampling, self.t = model, sampling, 0
        self.spill, self.n_conditions, self.n_time = dict(spill or {}), n_conditions, n_time
        self.acc = {spec.name: ScoreAccumulator() for spec in specs if spec.kind != "output"}
        self.region: dict[str, tuple[slice, ...]] = {}
        self.map_shape: dict[str, tuple[int, ...]] = {}
        self.conditions, self.n_instances = range(0), 1

    def start(self, conditions: range, n_instances: int) -> None:
        self.conditions, self.n_instances = conditions, n_instances
        for acc in self.acc.values():
            acc.start()

    def sink(self, spec: ModuleSpec, tensor: torch.Tensor) -> None:
        full = _full(spec, tensor, self.model, self.region.get(spec.name))
        if spec.name not in self.region:
            _check_rank(spec, full)
            self.map_shape[spec.name] = tuple(full.shape[1:])
            self.region[spec.name] = _region(spec, self.map_shape[spec.name], self.sampling)
        mean = clipped_instance_mean(_crop(spec, full, self.region[spec.name], self.model), self.n_instances)
        if spec.kind != "output":
            self.acc[spec.name].add(mean)
        if spec.name in self.spill:
            self._write(spec.name, mean.reshape(len(self.conditions), -1).cpu().numpy())

    def _write(self, name: str, rows: np.ndarray) -> None:
        """Rows (len(conditions), candidate_size) of frame ``t``, each at its (condition, t) offset."""
        file = self.spill[name]
        try:
            for i, row in enumerate(rows):
                _write_at(file, row, ((self.conditions.start + i) * self.n_time + self.t) * row.nbytes)
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            file.truncate(0)
            del self.spill[name]

    def end(self, conditions: range, n_instances: int) -> None:
        for acc in self.acc.values():
            acc.end()

    def scores(self) -> dict[str, np.ndarray]:
        out = {}
        for name, acc in self.acc.items():
            full = np.zeros(self.map_shape[name])
            full[self.region[name]] = acc.scores()
            out[name] = full
        return out

    def responses(self, name: str, unit: UnitSample, control: JobControl) -> np.ndarray:
        """Spilled responses of ``unit``'s units, read back READ_CHUNK_BYTES at a time:
        (n_units, n_conditions, n_time)."""
        columns = _region_index(unit, self.region[name])
        n_rows = self.n_conditions * self.n_time
        row_size = int(np.prod(_region_shape(self.map_shape[name], self.region[name])))
        per_chunk = max(1, READ_CHUNK_BYTES // (4 * row_size))
        buffer = np.empty((min(per_chunk, n_rows), row_size), np.float32)
        out = np.empty((len(columns), n_rows), np.float32)
        for first in range(0, n_rows, per_chunk):
            control.check()
            control.report(first / n_rows, f"reading back {name}")
            block = buffer[:min(per_chunk, n_rows - first)]
            _read_at(self.spill[name], block, first * buffer.itemsize * row_size)
            out[:, first:first + len(block)] = block[:, columns].T
        return out.reshape(len(columns), self.n_conditions, self.n_time)


class _RecordPass(_Pass):
    def __init__(self, model: torch.nn.Module, units: Mapping[str, UnitSample],
                 regions: Mapping[str, tuple[slice, ...]], n_conditions: int, n_time: int,
                 device: torch.device) -> None:
        self.model, self.device, self.t, self.units, self.regions = model, device, 0, units, regions
        self.index: dict[str, torch.Tensor] = {}
        self.out = {name: np.zeros((u.n_units, n_conditions, n_time), np.float32) for name, u in units.items()}
        self.batch: dict[str, torch.Tensor] = {}

    def start(self, conditions: range, n_instances: int) -> None:
        n_sequences = len(conditions) * n_instances
        self.batch = {name: torch.zeros((n_sequences, out.shape[0], out.shape[2]), device=self.device)
                      for name, out in self.out.items()}

    def sink(self, spec: ModuleSpec, tensor: torch.Tensor) -> None:
        full, unit = _full(spec, tensor, self.model, self.regions[spec.name]), self.units[spec.name]
        if spec.name not in self.index:
            if tuple(full.shape[1:]) != _full_shape(spec, unit.map_shape, self.regions[spec.name]):
                _check_rank(spec, full)
                raise ValueError(f"module {spec.name!r} gave maps of shape {tuple(full.shape[1:])}, but its "
                                 f"units were drawn from maps of shape {unit.map_shape}")
            self.index[spec.name] = torch.as_tensor(_region_index(unit, self.regions[spec.name]),
                                                    device=self.device)
        activity = _crop(spec, full, self.regions[spec.name], self.model)
        self.batch[spec.name][:, :, self.t] = activity.reshape(activity.shape[0], -1)[:, self.index[spec.name]]

    def end(self, conditions: range, n_instances: int) -> None:
        for name, batch in self.batch.items():
            mean = clipped_instance_mean(batch, n_instances)
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
                 units: Mapping[str, UnitSample], *, regions: Mapping[str, tuple[slice, ...]] | None = None,
                 device: torch.device = torch.device("cpu"),
                 batch_size: int | None = None, control: JobControl | None = None,
                 stage: str = "pass 2/2 (responses)", truncate: bool = False) -> dict[str, np.ndarray]:
    """Pass 2: responses of the given units, averaged over instances and then clipped at 0.

    Parameters
    ----------
    frames : ndarray of shape (n_classes, n_directions, n_instances, n_frames, H, W), uint8
    units : dict of module name -> UnitSample, one per spec
    regions : dict of module name -> tuple of slice, optional
        The part of each map that is transformed and clipped before the units are picked (default: the whole
        map). Elementwise transforms round with the tensor layout, so extraction passes the candidate regions
        of pass 1 (``compute.sampling.candidate_region``) to get the same bits as a spilled pass 1.
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
    regions = {spec.name: (regions or {}).get(spec.name, (slice(None),) * len(units[spec.name].map_shape))
               for spec in specs}
    step = _RecordPass(model, {spec.name: units[spec.name] for spec in specs}, regions, n_classes * n_directions,
                       n_time, device)
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
    if frames.shape[:4] != (len(suite.names), len(DIRECTIONS), suite.n_instances, suite.n_frames):
        raise ValueError(f"the suite gave frames of shape {frames.shape}, which does not match {suite}")
    with _spill_folder(settings) as spill_dir:
        units, responses = _sample_and_record(model, specs, frames, sampling=sampling, seed=seed, device=device,
                                              batch_size=batch_size, truncate=entry.truncatable,
                                              spill_dir=spill_dir, control=control.sub(0.05, 1.0))
    stimuli = suite.names
    time = np.arange(suite.n_frames) / FRAME_RATE
    return {spec.name: ResponseSet(
        responses=responses[spec.name], stimuli=stimuli, directions=np.asarray(DIRECTIONS, dtype=np.float64),
        time=time, time_unit="s", onset_index=0, units=units[spec.name].columns(),
        provenance={"label": f"{entry.label} / {spec.name}", "model": entry.name, "weights_id": weights,
                    "module": spec.name, "suite": suite.key_parts(), "sampling": sampling.key_parts(spec.kind),
                    "seed": int(seed), "untrained": entry.untrained})
        for spec in specs}


@contextlib.contextmanager
def _spill_folder(settings: Settings) -> Iterator[Path]:
    """A fresh folder ``spill-<pid>-<random>`` under ``settings.cache_dir / "tmp"``, removed on exit. Folders
    that killed extractions left behind are removed first."""
    root = settings.cache_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.glob("spill-*"):
        if _is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"spill-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _is_stale(folder: Path) -> bool:
    """Whether the process named in a spill folder (``spill-<pid>-...``) is gone (``writer_is_gone``)."""
    pid = folder.name.split("-")[1]
    return pid.isdigit() and writer_is_gone(int(pid), folder)


def _fits_on_disk(sizes: Mapping[str, int], folder: Path) -> list[str]:
    """Names whose sizes (bytes) fit in the free space of ``folder``'s disk less SPILL_MARGIN_BYTES, greedily in
    order."""
    budget = shutil.disk_usage(folder).free - SPILL_MARGIN_BYTES
    chosen = []
    for name, size in sizes.items():
        if size <= budget:
            chosen.append(name)
            budget -= size
    return chosen


def _sample_and_record(model: torch.nn.Module, specs: list[ModuleSpec], frames: np.ndarray, *,
                       sampling: SamplingSettings, seed: int, device: torch.device, batch_size: int,
                       truncate: bool, spill_dir: Path,
                       control: JobControl) -> tuple[dict[str, UnitSample], dict[str, np.ndarray]]:
    """Units of every module and their responses (n_units, n_classes, n_directions, n_frames): one pass that
    scores the spatial modules and spills every module that fits on the disk of ``spill_dir``, then a second
    pass (``record_units``) for the modules that did not fit."""
    shapes = module_shapes(model, specs, frames.shape[4:], device=device)
    n_conditions, n_time = frames.shape[0] * frames.shape[1], frames.shape[3]
    spatial = [spec for spec in specs if spec.kind != "output"]
    regions = {spec.name: _region(spec, shapes[spec.name], sampling) for spec in specs}
    sizes = {name: 4 * n_conditions * n_time * int(np.prod(_region_shape(shapes[name], region)))
             for name, region in regions.items()}
    spilled = set(_fits_on_disk(sizes, spill_dir)) if spatial else set()
    single = len(spilled) == len(specs)
    with contextlib.ExitStack() as files:
        first = _ScorePass(model, spatial, sampling, n_conditions=n_conditions, n_time=n_time, spill={
            spec.name: files.enter_context(open(spill_dir / f"module-{i}.f32", "w+b", buffering=0))
            for i, spec in enumerate(specs) if spec.name in spilled})
        split = (0.95, 1.0) if single else (0.45, 0.5)
        if spatial:
            _run_suite(model, [spec for spec in specs if spec.kind != "output" or spec.name in spilled], frames,
                       first, device=device, batch_size=batch_size, control=control.sub(0.0, split[0]),
                       stage="pass 1/1 (scores and responses)" if single else
                       "pass 1/2 (scores and responses)" if spilled else "pass 1/2 (scores)", truncate=truncate)
        scores = first.scores()
        units = {spec.name: sample_outputs(shapes[spec.name][0], module=spec.name, settings=sampling,
                                           random_state=module_rng(seed, spec.name))
                 if spec.kind == "output" else
                 sample_units(scores[spec.name], module=spec.name, streams=spec.streams, settings=sampling,
                              random_state=module_rng(seed, spec.name))
                 for spec in specs}
        read = control.sub(*split)
        responses = {name: first.responses(name, units[name], read.sub(i / len(first.spill),
                                                                       (i + 1) / len(first.spill)))
                     for i, name in enumerate(first.spill)}
    rest = [spec for spec in specs if spec.name not in responses]
    if rest:
        responses.update(record_units(model, rest, frames, units, regions=regions, device=device,
                                      batch_size=batch_size,
                                      control=control.sub(split[1] if spatial else 0.0, 1.0),
                                      stage="pass 2/2 (responses)" if spatial else "pass 1/1 (responses)",
                                      truncate=truncate))
    return units, {spec.name: responses[spec.name].reshape((-1,) + frames.shape[:2] + (n_time,))
                   for spec in specs}


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
