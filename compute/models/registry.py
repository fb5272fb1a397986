"""Models that twinscope can analyse, and where their modules are read.

A module is a dotted ``torch`` module path plus a hook ("output": what the module returns; "input": the
first positional input, via a forward pre-hook) and an optional transform. Path "" is the model itself,
so "Output" reads the model's forward return. Any ``torch.nn.Module`` with the frame-by-frame API
(``reset()`` before a sequence, then ``forward(frame [N, 1, H, W] in [0, 1])`` once per frame, state kept
inside) can be registered here and analysed without other code changes.

FNN modules follow METHODS.md section 2.2 and ARCHITECTURE.md section 6: the six encoder convolutions are
read before their nonlinearity and get the model's scaled GELU; Rec is the CvT-LSTM hidden state h (the
input of ``core.recurrent.out``); RecOut its output; Readout the RecOut map sampled at every output
unit's readout position (``model.readout_features``); Output the predicted rates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from compute.config import Settings
from compute.sampling import KINDS

if TYPE_CHECKING:  # the registry is read by the web process, which never loads torch
    import torch

HOOKS = ("output", "input")
TRANSFORMS = (None, "scaled_gelu", "readout")


@dataclass(frozen=True)
class ModuleSpec:
    """Where and how a module's units are read.

    name : str
        UI name, e.g. "Enc L1".
    path : str
        Dotted torch module path, e.g. "core.feedforward.inputs.0"; "" is the model itself.
    hook : {"output", "input"}
        Read the module's output, or its first positional input (forward pre-hook).
    transform : {None, "scaled_gelu", "readout"}
        Applied to the hooked tensor: the FNN's scaled GELU, or ``model.readout_features``.
    kind : {"conv", "map", "output"}
        "conv": spatial map [N, C, H, W], border cropped before sampling; "map": [N, C, H, W] or
        [N, C, P] (P = output units, e.g. readout features), no crop; "output": [N, U] vector of units.
    streams : int
        Stream-major channel groups (channels [s*C, (s+1)*C) belong to stream s).
    """

    name: str
    path: str
    hook: str = "output"
    transform: str | None = None
    kind: str = "conv"
    streams: int = 1

    def __post_init__(self) -> None:
        for option, value, allowed in (("hook", self.hook, HOOKS), ("transform", self.transform, TRANSFORMS),
                                       ("kind", self.kind, KINDS)):
            if value not in allowed:
                raise ValueError(f"module {self.name!r}: {option} must be one of {allowed}; got {value!r}")
        if isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise ValueError(f"module {self.name!r}: streams must be a positive int; got {self.streams!r}")


def _always(settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    name : str
        Registry key, e.g. "fnn-random".
    label : str
        Human label shown in the UI and stored in provenance.
    untrained : bool
        True for random weights (every view says so).
    modules : tuple of ModuleSpec
        Its analysable modules, in hierarchy order.
    builder : callable(Settings) -> (torch.nn.Module, weights_id)
        Builds the model; ``build`` puts it in eval mode.
    is_available : callable(Settings) -> bool
        Whether ``build`` can run (e.g. official weights downloaded).
    source_files : callable(Settings) -> list of Path
        Files the weights come from; their size and mtime decide when a memoised weights id is stale.
    truncatable : bool
        True when no module's state depends on modules that run after it within a frame (no top-down
        feedback), so extraction may stop a forward call after the last module it reads.
    """

    name: str
    label: str
    untrained: bool
    modules: tuple[ModuleSpec, ...]
    builder: Callable[[Settings], tuple[torch.nn.Module, str]] = field(repr=False, compare=False)
    is_available: Callable[[Settings], bool] = field(repr=False, compare=False, default=_always)
    source_files: Callable[[Settings], list[Path]] = field(repr=False, compare=False, default=lambda s: [])
    truncatable: bool = False

    @property
    def module_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.modules)

    def module(self, name: str) -> ModuleSpec:
        """The spec of module ``name``; ValueError listing this model's modules otherwise."""
        for spec in self.modules:
            if spec.name == name:
                return spec
        raise ValueError(f"model {self.name!r} has no module {name!r}; its modules are {list(self.module_names)}")

    def available(self, settings: Settings) -> bool:
        return bool(self.is_available(settings))

    def build(self, settings: Settings) -> tuple[torch.nn.Module, str]:
        """(model in eval mode, weights_id); ValueError when the model is not available."""
        if not self.available(settings):
            raise ValueError(f"model {self.name!r} ({self.label}) is not available: its weights are missing; "
                             "download them with `python -m compute weights download`")
        model, weights = self.builder(settings)
        if not callable(getattr(model, "reset", None)):
            raise TypeError(f"model {self.name!r} must have a reset() method (frame-by-frame API); "
                            f"{type(model).__name__} has none")
        _WEIGHTS_IDS[self._memo_key(settings)] = weights
        return model.eval(), weights

    def weights_id(self, settings: Settings) -> str:
        """The weights id, memoised per process (the model is built again only when its files change)."""
        weights = self.memoised_weights_id(settings)
        return self.build(settings)[1] if weights is None else weights

    def memoised_weights_id(self, settings: Settings) -> str | None:
        """The weights id if this process has built the model from the current files, else None."""
        return _WEIGHTS_IDS.get(self._memo_key(settings))

    def _memo_key(self, settings: Settings) -> tuple:
        stats = []
        for path in self.source_files(settings):
            st = Path(path).stat() if Path(path).exists() else None
            stats.append((str(path), None if st is None else (st.st_size, st.st_mtime_ns)))
        return self.name, self.builder, tuple(stats)


_WEIGHTS_IDS: dict[tuple, str] = {}

_FNN_TABLE = (  # name, path, hook, transform, kind
    ("Enc L1", "core.feedforward.inputs.0", "output", "scaled_gelu", "conv"),
    ("Enc L2", "core.feedforward.blocks.0.convs.0", "output", "scaled_gelu", "conv"),
    ("Enc L4", "core.feedforward.inputs.1", "output", "scaled_gelu", "conv"),
    ("Enc L5", "core.feedforward.blocks.1.convs.0", "output", "scaled_gelu", "conv"),
    ("Enc L7", "core.feedforward.inputs.2", "output", "scaled_gelu", "conv"),
    ("Enc L8", "core.feedforward.blocks.2.convs.0", "output", "scaled_gelu", "conv"),
    ("Rec", "core.recurrent.out", "input", None, "map"),
    ("RecOut", "core.recurrent.out", "output", None, "map"),
    ("Readout", "core.recurrent.out", "output", "readout", "map"),
    ("Output", "", "output", None, "output"),
)
FNN_MODULE_SPECS = tuple(ModuleSpec(name, path, hook, transform, kind, streams=1 if kind == "output" else 4)
                         for name, path, hook, transform, kind in _FNN_TABLE)
FNN_MODULES: tuple[str, ...] = tuple(spec.name for spec in FNN_MODULE_SPECS)

SMALL_MODULE_SPECS = (
    ModuleSpec("Conv1", "act0"),
    ModuleSpec("Conv2", "act1"),
    ModuleSpec("Conv3", "act2"),
    ModuleSpec("Pool", "head", hook="input", kind="map"),
    ModuleSpec("Output", "", kind="output"),
)

FNN_SESSION, FNN_SCAN = 8, 5
FNN_UNITS = 9941


def _fnn_random(settings: Settings) -> tuple[torch.nn.Module, str]:
    from compute.models.fnn import build_fnn
    from compute.models.weights import weights_id

    model = build_fnn(n_units=FNN_UNITS, seed=0)
    return model, weights_id(model.state_dict())


def _fnn_official(settings: Settings) -> tuple[torch.nn.Module, str]:
    from compute.models.weights import load_official_fnn

    return load_official_fnn(settings.weights_dir, session=FNN_SESSION, scan=FNN_SCAN)


def _fnn_official_available(settings: Settings) -> bool:
    from compute.models.weights import has_official_weights

    return has_official_weights(settings.weights_dir, session=FNN_SESSION, scan=FNN_SCAN)


def _fnn_official_files(settings: Settings) -> list[Path]:
    return [settings.weights_dir / "params_core.pt", settings.weights_dir / f"params_{FNN_SESSION}_{FNN_SCAN}.pt"]


def _small_random(settings: Settings) -> tuple[torch.nn.Module, str]:
    from compute.models.small import build_small
    from compute.models.weights import weights_id

    model = build_small(seed=0)
    return model, weights_id(model.state_dict())


MODELS: dict[str, ModelEntry] = {
    entry.name: entry for entry in (
        # The FNN and the small CNN are feedforward within a frame: the state of a module (temporal buffers,
        # LSTM states) depends only on earlier modules and its own past, so forwards may be truncated.
        ModelEntry("fnn-random", "FNN (untrained, random weights)", True, FNN_MODULE_SPECS, _fnn_random,
                   truncatable=True),
        ModelEntry("fnn-official", f"FNN (official weights, session {FNN_SESSION} scan {FNN_SCAN})", False,
                   FNN_MODULE_SPECS, _fnn_official, _fnn_official_available, _fnn_official_files,
                   truncatable=True),
        ModelEntry("conv3d-random", "Small causal 3-D CNN (untrained, random weights)", True,
                   SMALL_MODULE_SPECS, _small_random, truncatable=True),
    )
}


def get_model(name: str) -> ModelEntry:
    """The registry entry ``name``; ValueError listing the known names otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models are {sorted(MODELS)}")
    return MODELS[name]


def configure_tf32() -> bool:
    """Allow TF32 matmuls and convolutions on CUDA only when ``TWINSCOPE_TF32=1`` (off by default: TF32
    rounds inputs to 10 mantissa bits, far beyond float32 rounding). Returns whether TF32 is allowed."""
    import torch

    allowed = os.environ.get("TWINSCOPE_TF32", "0") == "1"
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed
    return allowed


def select_device(setting: str = "auto") -> torch.device:
    """``torch.device`` for a device setting: "auto" (CUDA when present, else CPU), "cpu" or "cuda".
    CUDA comes with TF32 as ``configure_tf32`` sets it."""
    import torch

    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was requested but CUDA is not available here; "
                             "use 'auto' or 'cpu' (or install a CUDA build of torch)")
        configure_tf32()
        return torch.device("cuda")
    raise ValueError(f"device must be one of ('auto', 'cpu', 'cuda'); got {setting!r}")
