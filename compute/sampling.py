"""Unit sampling: which 2000 units of a module are recorded (METHODS.md section 2.3).

A module's activity on one frame is a map of shape (n_channels, *spatial): (C, H, W) for convolutional
and recurrent layers, (C, P) for the readout (P = output units whose readout positions are sampled), or a
vector of output units. Sampling has two steps:

1. Scores (``ScoreAccumulator``, streamed frame by frame so that the whole suite never sits in memory):
   responses are averaged over instances, then clipped at 0; each frame of each condition is divided by
   its maximum over all candidate units (floor ``FRAME_MAX_FLOOR``); the position score of a unit is the
   maximum over conditions of its time-averaged normalised response; the score of a map is the mean of its
   position scores (METHODS v2, as the authors' FNN_sampling notebook).
2. Draws (``sample_units``): ``n_maps`` maps without replacement with probability proportional to the map
   score, then ``n_positions`` positions per map without replacement proportional to the position score.
   Output modules draw ``n_output`` output units uniformly (``sample_outputs``).

Only candidate units take part (``candidate_region``): conv layers lose a border of m = H // 4 (crop
"authors": rows [m:], columns [m:]; "symmetric": rows [m:H-m], columns [m:W-m]); recurrent-like maps keep
every position and either their first ``n_maps`` channels ("authors") or all channels ("all streams").
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from compute._validation import check_choice, check_int, check_random_state

if TYPE_CHECKING:  # torch is imported where scores are computed, so settings stay cheap to import
    import torch

CROPS = ("authors", "symmetric")
RECURRENT_CHANNELS = ("authors", "all streams")
KINDS = ("conv", "map", "output")
FRAME_MAX_FLOOR = 1e-8  # a silent frame divides by this and scores 0
_KIND_FIELDS = {"conv": ("n_maps", "n_positions", "crop"),
                "map": ("n_maps", "n_positions", "recurrent_channels"),
                "output": ("n_output",)}


@dataclass(frozen=True)
class SamplingSettings:
    """How units are drawn from a module (METHODS.md section 2.3).

    n_maps : int, default=40
        Feature maps (channels) drawn per spatial module.
    n_positions : int, default=50
        Positions drawn per map; a spatial module yields n_maps * n_positions units.
    crop : {"authors", "symmetric"}, default="authors"
        Border removed from conv-layer maps (m = H // 4): "authors" keeps rows [m:] and columns [m:],
        "symmetric" keeps rows [m:H-m] and columns [m:W-m].
    recurrent_channels : {"authors", "all streams"}, default="authors"
        Candidate maps of Rec, RecOut and Readout: the first n_maps channels (all of stream 0) or all.
    n_output : int, default=2000
        Output units drawn uniformly (without replacement) from an output module.
    """

    n_maps: int = 40
    n_positions: int = 50
    crop: str = "authors"
    recurrent_channels: str = "authors"
    n_output: int = 2000

    def __post_init__(self) -> None:
        for name in ("n_maps", "n_positions", "n_output"):
            object.__setattr__(self, name, check_int(getattr(self, name), name=name, low=1))
        check_choice(self.crop, CROPS, name="crop")
        check_choice(self.recurrent_channels, RECURRENT_CHANNELS, name="recurrent_channels")

    def key_parts(self, kind: str | None = None) -> dict:
        """JSON-able settings for a cache key; with ``kind`` only those that affect that module kind."""
        parts = asdict(self)
        if kind is None:
            return parts
        return {name: parts[name] for name in _KIND_FIELDS[check_choice(kind, KINDS, name="kind")]}

    def n_units(self, kind: str) -> int:
        """Units drawn from a module of ``kind`` (at most, for spatial modules: see ``sample_units``)."""
        return self.n_output if check_choice(kind, KINDS, name="kind") == "output" else self.n_maps * self.n_positions


def candidate_region(map_shape: tuple[int, ...], *, kind: str, settings: SamplingSettings) -> tuple[slice, ...]:
    """Slices of one frame's map that hold the candidate units.

    Parameters
    ----------
    map_shape : tuple (n_channels, H, W) or (n_channels, n_positions)
        Shape of one sample's activity map (batch axis excluded).
    kind : {"conv", "map"}
        "conv" crops the border (2-D maps only); "map" keeps all positions and restricts channels
        according to ``settings.recurrent_channels``.

    Returns
    -------
    tuple of slice, one per axis of ``map_shape``
    """
    check_choice(kind, ("conv", "map"), name="kind")
    n_channels, *spatial = map_shape
    if kind == "map":
        channels = slice(0, settings.n_maps) if settings.recurrent_channels == "authors" else slice(None)
        return (channels,) + (slice(None),) * len(spatial)
    if len(spatial) != 2:
        raise ValueError(f"a conv module must give (channels, H, W) maps; got a map of shape {tuple(map_shape)}")
    height, width = spatial
    m = height // 4
    if settings.crop == "authors":
        return slice(None), slice(m, None), slice(m, None)
    return slice(None), slice(m, height - m), slice(m, width - m)


def clipped_instance_mean(activity: torch.Tensor, n_instances: int) -> torch.Tensor:
    """clip(mean over instances), not the mean of clipped instances (METHODS v2 section 2.3, step 2).

    Parameters
    ----------
    activity : Tensor of shape (n_conditions * n_instances, *unit_shape)
        Condition-major: the instances of a condition are adjacent.
    n_instances : int

    Returns
    -------
    Tensor of shape (n_conditions, *unit_shape), >= 0
    """
    n_instances = check_int(n_instances, name="n_instances", low=1)
    return activity.reshape((-1, n_instances) + activity.shape[1:]).mean(dim=1).clamp(min=0)


def normalise_frames(activity: torch.Tensor) -> torch.Tensor:
    """Each condition's frame divided by its maximum over all candidate units (floor ``FRAME_MAX_FLOOR``).

    Parameters
    ----------
    activity : Tensor of shape (n_conditions, *unit_shape)
        One frame of clipped instance averages.

    Returns
    -------
    Tensor of shape (n_conditions, *unit_shape), values in [0, 1]
    """
    frame_max = activity.reshape(activity.shape[0], -1).amax(dim=1).clamp(min=FRAME_MAX_FLOOR)
    return activity / frame_max.reshape((-1,) + (1,) * (activity.ndim - 1))


class ScoreAccumulator:
    """Position scores of one module, accumulated over batches of conditions, one frame at a time.

    For each batch: ``start()``, then ``add(frame)`` once per frame with the clipped instance averages
    (``clipped_instance_mean``) of shape (n_conditions, *unit_shape), then ``end()``. ``scores()`` returns
    the position scores, shape unit_shape: max over conditions of the time-averaged frame-normalised
    response.
    """

    def __init__(self) -> None:
        self._best: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._n_time = 0

    def start(self) -> None:
        self._sum, self._n_time = None, 0

    def add(self, activity: torch.Tensor) -> None:
        normalised = normalise_frames(activity.float())
        if self._sum is None:
            self._sum = normalised
        else:
            self._sum += normalised
        self._n_time += 1

    def end(self) -> None:
        import torch

        if self._sum is None:
            raise ValueError("ScoreAccumulator.end called before any frame was added")
        best = (self._sum / self._n_time).amax(dim=0)
        self._best = best if self._best is None else torch.maximum(self._best, best)
        self._sum = None

    def scores(self) -> np.ndarray:
        if self._best is None:
            raise ValueError("no batch was accumulated")
        return self._best.cpu().numpy().astype(np.float64)


def position_scores(activity: np.ndarray) -> np.ndarray:
    """Position scores of candidate units from their full activity (small inputs; streaming uses
    ``ScoreAccumulator`` directly).

    Parameters
    ----------
    activity : ndarray of shape (n_conditions, n_instances, n_time, *unit_shape)
        Activity of the candidate units (averaged over instances, then clipped, here).

    Returns
    -------
    ndarray of shape unit_shape, float64
    """
    import torch

    activity = np.asarray(activity, dtype=np.float32)
    if activity.ndim < 4:
        raise ValueError("activity must be (condition, instance, time, *unit_shape) with at least one unit "
                         f"axis; got shape {activity.shape}")
    n_conditions, n_instances, n_time = activity.shape[:3]
    acc = ScoreAccumulator()
    acc.start()
    sequences = torch.from_numpy(activity).reshape((n_conditions * n_instances, n_time) + activity.shape[3:])
    for t in range(n_time):
        acc.add(clipped_instance_mean(sequences[:, t], n_instances))
    acc.end()
    return acc.scores()


@dataclass(frozen=True)
class UnitSample:
    """The units recorded from one module.

    Attributes
    ----------
    module : str
        Module name, e.g. "Enc L8".
    index : ndarray of shape (n_units,), int64
        Flat index of each unit into one sample's activity (C-order over ``map_shape``).
    map_shape : tuple of int
        Shape of one sample's activity: (C, H, W), (C, P) or (U,).
    stream, channel, y, x, output_index : ndarray of shape (n_units,), int64
        Coordinates of each unit; ``channel`` counts within its stream; -1 where not applicable
        (y and x for readout and output units, stream and channel for output units, output_index for
        units of a feature map).
    """

    module: str
    index: np.ndarray
    map_shape: tuple[int, ...]
    stream: np.ndarray
    channel: np.ndarray
    y: np.ndarray
    x: np.ndarray
    output_index: np.ndarray

    @property
    def n_units(self) -> int:
        return int(self.index.size)

    def columns(self) -> dict[str, np.ndarray]:
        """Per-unit metadata columns for a ``ResponseSet``."""
        return {"module": np.full(self.n_units, self.module), "stream": self.stream, "channel": self.channel,
                "y": self.y, "x": self.x, "output_index": self.output_index}


def module_rng(seed: int, module: str) -> np.random.Generator:
    """The generator that draws ``module``'s units: depends on the seed and the module name only, so a
    module's sample does not change with the other modules extracted in the same run."""
    return np.random.default_rng([check_int(seed, name="seed", low=0), zlib.crc32(module.encode())])


def _draw(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    return rng.choice(weights.size, size=size, replace=False, p=weights / weights.sum())


def sample_units(scores: np.ndarray, *, module: str, streams: int = 1,
                 settings: SamplingSettings = SamplingSettings(),
                 random_state: int | np.random.Generator | None = None) -> UnitSample:
    """Draw maps, then positions, proportionally to their scores (without replacement).

    Maps and positions with a zero score are never drawn (METHODS v2 2.3): a map with fewer non-zero
    positions than ``n_positions`` gives all of them, and when fewer maps score above zero than ``n_maps``
    all of them are taken, so a module can yield fewer than n_maps * n_positions units (e.g. the random
    FNN's Rec with the "authors" channels).

    Parameters
    ----------
    scores : ndarray of shape (n_channels, H, W) or (n_channels, n_positions)
        Position scores over the whole map, 0 outside the candidate region (``candidate_region``).
    module : str
        Module name stored with the units.
    streams : int, default=1
        Stream-major channel groups: channel c belongs to stream c // (n_channels // streams).
    settings : SamplingSettings
        n_maps and n_positions are used.
    random_state : int, Generator or None

    Returns
    -------
    UnitSample
        At most n_maps * n_positions units, map by map in draw order.
    """
    rng = check_random_state(random_state)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim not in (2, 3):
        raise ValueError("scores must be (channel, H, W) or (channel, position); "
                         f"got shape {scores.shape}")
    if not np.all(np.isfinite(scores)) or scores.min() < 0:
        raise ValueError("scores must be finite and non-negative")
    streams = check_int(streams, name="streams", low=1)
    n_channels = scores.shape[0]
    if n_channels % streams:
        raise ValueError(f"{n_channels} channels cannot form {streams} equal streams")
    flat = scores.reshape(n_channels, -1)
    map_score = flat.mean(axis=1)
    n_responding = int(np.count_nonzero(map_score))
    if n_responding == 0:
        raise ValueError(f"module {module!r}: no candidate unit responds to any stimulus of the suite; "
                         "nothing can be sampled (check the module, or use a larger suite)")
    maps = _draw(rng, map_score, min(settings.n_maps, n_responding))
    positions = [_draw(rng, flat[c], min(settings.n_positions, int(np.count_nonzero(flat[c])))) for c in maps]
    channel = np.repeat(maps, [p.size for p in positions]).astype(np.int64)
    position = np.concatenate(positions).astype(np.int64)
    per_stream = n_channels // streams
    none = np.full(channel.size, -1, dtype=np.int64)
    if scores.ndim == 3:
        y, x = np.unravel_index(position, scores.shape[1:])
        y, x, output_index = y.astype(np.int64), x.astype(np.int64), none
    else:
        y, x, output_index = none, none.copy(), position
    return UnitSample(module=module, index=channel * flat.shape[1] + position, map_shape=scores.shape,
                      stream=channel // per_stream, channel=channel % per_stream, y=y, x=x,
                      output_index=output_index)


def sample_outputs(n_outputs: int, *, module: str, settings: SamplingSettings = SamplingSettings(),
                   random_state: int | np.random.Generator | None = None) -> UnitSample:
    """Draw ``settings.n_output`` of ``n_outputs`` output units uniformly without replacement (sorted)."""
    rng = check_random_state(random_state)
    n_outputs = check_int(n_outputs, name="n_outputs", low=1)
    if settings.n_output > n_outputs:
        raise ValueError(f"module {module!r} has {n_outputs} output units; n_output={settings.n_output} "
                         "cannot be drawn without replacement; reduce n_output")
    index = np.sort(rng.choice(n_outputs, size=settings.n_output, replace=False)).astype(np.int64)
    none = np.full(index.size, -1, dtype=np.int64)
    return UnitSample(module=module, index=index, map_shape=(n_outputs,), stream=none, channel=none.copy(),
                      y=none.copy(), x=none.copy(), output_index=index.copy())
