"""The content-addressed cache of extracted responses: one ResponseSet per module, keyed by code version,
weights, model, module, suite, sampling settings and seed."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from compute._validation import check_instance, check_int
from compute.cache import ArtifactCache, content_key, default_cache
from compute.config import Settings
from compute.extraction.passes import _batch_size, _check_frames, _sample_and_record
from compute.extraction.spill import _spill_folder
from compute.extraction.workers import n_workers
from compute.jobs import JobControl, ensure_control
from compute.models.registry import ModuleSpec, get_model, select_device
from compute.responses import ResponseSet
from compute.sampling import SamplingSettings
from compute.stimuli import DIRECTIONS, FRAME_RATE, SuiteSpec, get_suite

# Bump when a change in this package alters extracted responses; part of every responses key.
# 2: channels-last FNN feedforward (float32 rounding differs); 3: gratings run once, clip(mean over instances)
# and per-frame score normalisation (METHODS v2)
EXTRACTION_VERSION = 3
GPU_LOCK = "device-cuda"


def responses_key(model_name: str, module: str, *, suite: SuiteSpec, sampling: SamplingSettings, seed: int,
                  weights_id: str) -> str:
    """Cache key of a module's ResponseSet (code version, weights, model, module, suite, the sampling
    settings that matter for the module's kind, seed)."""
    spec = get_model(model_name).module(module)
    return content_key("responses", extraction=EXTRACTION_VERSION, weights_id=weights_id, model=model_name,
                       module=module, suite=suite.key_parts(), sampling=sampling.key_parts(spec.kind),
                       seed=int(seed))


def _check_options(suite: SuiteSpec, sampling: SamplingSettings, seed: int) -> None:
    check_instance(suite, SuiteSpec, name="suite", what="a compute.stimuli.SuiteSpec")
    check_instance(sampling, SamplingSettings, name="sampling", what="a compute.sampling.SamplingSettings")
    check_int(seed, name="seed", low=0)


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
        ``settings.extract_workers``: worker processes on CPU (``compute.extraction.workers.n_workers``).
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
                                    cache=cache, device=device, batch_size=batch_size, control=control,
                                    workers=n_workers(settings.extract_workers, device))
            for name, rs in sets.items():
                cache.put_responses(keys[name], rs)
    control.report(1.0, "extraction done")
    return keys


def _extract_modules(entry, model: torch.nn.Module | None, specs: list[ModuleSpec], *, suite: SuiteSpec,
                     sampling: SamplingSettings, seed: int, settings: Settings, cache: ArtifactCache,
                     device: torch.device, batch_size: int, control: JobControl,
                     workers: int) -> dict[str, ResponseSet]:
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
                                              spill_dir=spill_dir, control=control.sub(0.05, 1.0),
                                              workers=workers)
    stimuli = suite.names
    time = np.arange(suite.n_frames) / FRAME_RATE
    return {spec.name: ResponseSet(
        responses=responses[spec.name], stimuli=stimuli, directions=np.asarray(DIRECTIONS, dtype=np.float64),
        time=time, time_unit="s", onset_index=0, units=units[spec.name].columns(),
        provenance={"label": f"{entry.label} / {spec.name}", "model": entry.name, "weights_id": weights,
                    "module": spec.name, "suite": suite.key_parts(), "sampling": sampling.key_parts(spec.kind),
                    "seed": int(seed), "untrained": entry.untrained})
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
