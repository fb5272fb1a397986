"""What extraction reads from a model: forward hooks on the registry's module paths, the module transforms
(scaled GELU, readout features) and the candidate region of each map (``compute.sampling.candidate_region``)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from compute.models.registry import ModuleSpec
from compute.sampling import SamplingSettings, UnitSample, candidate_region

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


