"""Passes over the stimulus suite: every distinct sequence runs from a reset state in batches of whole
conditions, feeding the hooked tensors to a pass (``_ScorePass``: streamed scores and spills; ``_RecordPass``:
the sampled units), and the two-pass scheme that draws the units between them."""

from __future__ import annotations

import contextlib
import errno
import io
from pathlib import Path
from typing import Callable, Mapping, Protocol, Sequence

import numpy as np
import torch

from compute._validation import check_int
from compute.extraction.hooks import (_check_rank, _crop, _full, _full_shape, _hooks, _region, _region_index,
                                      _region_shape, _transform)
from compute.extraction.spill import READ_CHUNK_BYTES, _fits_on_disk, _read_at, _write_at
from compute.extraction.workers import run_in_workers
from compute.jobs import JobControl, ensure_control
from compute.models.registry import ModuleSpec
from compute.sampling import (SamplingSettings, ScoreAccumulator, UnitSample, clipped_instance_mean, module_rng,
                              sample_outputs, sample_units)
from compute.stimuli import runs_per_condition

DEFAULT_BATCH = {"cpu": 9, "cuda": 96}  # CPU cost per frame-sample grows past ~8 (benchmarks/bench_fnn.py)


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
    return check_int(batch_size, name="batch_size", low=1)


class _Pass(Protocol):
    """What one pass does with the hooked tensors; ``_run_suite`` sets ``t`` (the frame) before each forward.
    A batch holds ``n_instances`` runs of each of its conditions, condition-major. With worker processes
    (``compute.extraction.workers``), each worker's copy returns ``state()`` and the parent's ``merge``s them
    all; the result equals one process running every batch."""

    t: int

    def start(self, conditions: range, n_instances: int) -> None: ...
    def sink(self, spec: ModuleSpec, tensor: torch.Tensor) -> None: ...
    def end(self, conditions: range, n_instances: int) -> None: ...
    def state(self) -> dict: ...
    def merge(self, states: Sequence[dict]) -> None: ...


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
               truncate: bool = False, workers: int = 1) -> None:
    """Run every distinct sequence (batches of whole conditions, reset before each), feeding the hooks to
    ``step``; a condition with identical instances runs once.

    With ``truncate``, each forward call stops right after the last hooked module (in call order, learnt
    on the first frame); only valid when no module's state depends on modules that run after it. With
    ``workers`` > 1 (and more than one batch) the batches run in that many forked processes
    (``compute.extraction.workers``).
    """
    n_classes, n_directions, n_instances, n_time = frames.shape[:4]
    conditions_frames = frames.reshape((n_classes * n_directions, n_instances, n_time) + frames.shape[4:])
    runs = runs_per_condition(frames).ravel()
    batches = _batches(runs, batch_size)
    sizes = [len(conditions) * n_runs for conditions, n_runs in batches]
    order: list[str] = []
    last: list[str] = []

    def sink(spec: ModuleSpec, tensor: torch.Tensor) -> None:
        step.sink(spec, tensor)
        if not last and spec.name not in order:
            order.append(spec.name)
        if last and spec.name == last[0]:
            raise _StopForward

    def run_batch(index: int, report: Callable[[int], None]) -> None:
        conditions, n_runs = batches[index]
        batch = conditions_frames[conditions.start:conditions.stop, :n_runs]
        batch = torch.from_numpy(np.ascontiguousarray(batch.reshape((-1,) + batch.shape[2:]))).to(device)
        model.reset()
        step.start(conditions, n_runs)
        for t in range(n_time):
            report(t)
            step.t = t
            try:
                model(batch[:, t].unsqueeze(1).float() / 255.0)
            except _StopForward:
                pass
            if truncate and not last and order:
                last.append(order[-1])
        step.end(conditions, n_runs)

    def reporter(done: int, size: int) -> Callable[[int], None]:
        def report(t: int) -> None:
            control.check()
            control.report((done * n_time + size * t) / (sum(sizes) * n_time),
                           f"{stage}: sequences {done + 1}-{done + size}/{sum(sizes)}, frame {t + 1}/{n_time}")
        return report

    model.eval()
    with torch.inference_mode(), _hooks(model, specs, sink):
        if min(workers, len(batches)) > 1:
            run_in_workers(sizes, run_batch, step, workers=min(workers, len(batches)), n_time=n_time,
                           control=control, stage=stage)
        else:
            for index, size in enumerate(sizes):
                run_batch(index, reporter(sum(sizes[:index]), size))
    control.report(1.0, f"{stage}: done")


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
        self.n_batches, self.merged = 0, {}

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
            self.spill.pop(name).truncate(0)

    def end(self, conditions: range, n_instances: int) -> None:
        for acc in self.acc.values():
            acc.end()
        self.n_batches += 1

    def state(self) -> dict:
        """A worker's scores so far (none before its first batch), map shapes, regions and spilled modules."""
        scores = {name: acc.scores() for name, acc in self.acc.items()} if self.n_batches else {}
        return {"scores": scores, "map_shape": self.map_shape, "region": self.region, "spill": set(self.spill)}

    def merge(self, states: Sequence[dict]) -> None:
        """Scores: the max over the workers' running maxes (exact: each worker's max is over whole conditions,
        and float32 -> float64 is exact); a module that ran out of disk in any worker leaves ``spill``."""
        for state in states:
            self.map_shape.update(state["map_shape"])
            self.region.update(state["region"])
            for name, scores in state["scores"].items():
                self.merged[name] = np.maximum(self.merged[name], scores) if name in self.merged else scores
        for name in set(self.spill).difference(*(state["spill"] for state in states)):
            self.spill.pop(name).truncate(0)

    def scores(self) -> dict[str, np.ndarray]:
        out = {}
        for name, acc in self.acc.items():
            full = np.zeros(self.map_shape[name])
            full[self.region[name]] = self.merged[name] if self.merged else acc.scores()
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
        self.done: list[range] = []

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
        self.done.append(conditions)

    def state(self) -> dict:
        """The conditions a worker ran and their rows of ``out``."""
        return {"done": self.done, "out": {name: [out[:, c.start:c.stop] for c in self.done]
                                           for name, out in self.out.items()}}

    def merge(self, states: Sequence[dict]) -> None:
        for state in states:
            for name, blocks in state["out"].items():
                for conditions, block in zip(state["done"], blocks):
                    self.out[name][:, conditions.start:conditions.stop] = block


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
                    truncate: bool = False, workers: int = 1) -> dict[str, np.ndarray]:
    """Pass 1: position scores of every unit of the spatial modules ``specs`` over the suite.

    Parameters
    ----------
    frames : ndarray of shape (n_classes, n_directions, n_instances, n_frames, H, W), uint8
    truncate : bool, default=False
        Stop each forward call after the last hooked module (``ModelEntry.truncatable`` models only).
    workers : int, default=1
        Worker processes (forked, one torch thread each; ``compute.extraction.workers``); same results.

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
               control=ensure_control(control), stage="pass 1/2 (scores)", truncate=truncate, workers=workers)
    return step.scores()


def record_units(model: torch.nn.Module, specs: Sequence[ModuleSpec], frames: np.ndarray,
                 units: Mapping[str, UnitSample], *, regions: Mapping[str, tuple[slice, ...]] | None = None,
                 device: torch.device = torch.device("cpu"),
                 batch_size: int | None = None, control: JobControl | None = None,
                 stage: str = "pass 2/2 (responses)", truncate: bool = False,
                 workers: int = 1) -> dict[str, np.ndarray]:
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
    workers : int, default=1
        Worker processes (forked, one torch thread each; ``compute.extraction.workers``); same results.

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
               control=ensure_control(control), stage=stage, truncate=truncate, workers=workers)
    return {name: out.reshape(out.shape[0], n_classes, n_directions, n_time) for name, out in step.out.items()}


def _sample_and_record(model: torch.nn.Module, specs: list[ModuleSpec], frames: np.ndarray, *,
                       sampling: SamplingSettings, seed: int, device: torch.device, batch_size: int,
                       truncate: bool, spill_dir: Path, control: JobControl,
                       workers: int = 1) -> tuple[dict[str, UnitSample], dict[str, np.ndarray]]:
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
                       "pass 1/2 (scores and responses)" if spilled else "pass 1/2 (scores)", truncate=truncate,
                       workers=workers)
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
                                      truncate=truncate, workers=workers))
    return units, {spec.name: responses[spec.name].reshape((-1,) + frames.shape[:2] + (n_time,))
                   for spec in specs}


