"""Where data comes from: a source (model module or biological dataset), the run settings that produce a
model's responses, the source's content key, and loading (once, then from the cache) its response set.

``source_key`` is computable in the web process without data or torch, so a page can ask ``key in cache``
before offering to run anything; a model's responses are found through a small pointer artefact written when
they were extracted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from compute._validation import check_instance, check_int
from compute.bio import datasets as bio_datasets
from compute.cache import ArtifactCache, content_key, default_cache
from compute.clips import ClipSet, active_clips
from compute.config import Settings
from compute.jobs import JobControl, ensure_control
from compute.models.registry import get_model
from compute.responses import ResponseSet
from compute.sampling import SamplingSettings
from compute.stimuli import SuiteSpec

KINDS = ("model", "bio")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
_RECONSTRUCTED = "reconstructed from published factors"


@dataclass(frozen=True)
class Source:
    """What a view is computed on: a model module or a biological dataset.

    kind : "model" | "bio"
    name : model registry name ("fnn-random", "fnn-official", "conv3d-random") or dataset ("retina", "V1")
    module : module name of a model ("Enc L1", ..., "Output"); None for biology

    Names may hold letters, digits, space, '.', '_' and '-' (never a path); whether a name exists is
    checked by the registry / loader when data is first needed.
    """

    kind: str
    name: str
    module: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"source kind must be one of {KINDS}; got {self.kind!r}")
        for what, value in (("name", self.name), ("module", self.module)):
            if value is None and what == "module":
                continue
            if not isinstance(value, str) or not _NAME.match(value):
                raise ValueError(f"source {what} must be 1-64 letters, digits, spaces, '.', '_' or '-'; "
                                 f"got {value!r}")
        if self.kind == "model" and self.module is None:
            raise ValueError(f"a model source needs a module, e.g. 'model:{self.name}:Rec'")
        if self.kind == "bio" and self.module is not None:
            raise ValueError(f"a biological source has no module; use 'bio:{self.name}'")

    def to_token(self) -> str:
        """URL-safe token: 'model:fnn-random:Enc+L1' or 'bio:V1' (spaces become '+')."""
        parts = [self.kind, self.name] + ([] if self.module is None else [self.module])
        return ":".join(quote_plus(p) for p in parts)

    @classmethod
    def parse(cls, token: str) -> "Source":
        """Inverse of ``to_token``; also accepts spaces in place of '+'."""
        if not isinstance(token, str):
            raise TypeError(f"source token must be a str; got {type(token).__name__}")
        parts = [unquote_plus(p) for p in token.split(":")]
        if len(parts) not in (2, 3) or parts[0] not in KINDS:
            raise ValueError(f"cannot read source {token!r}; expected 'model:<model>:<module>' "
                             "(e.g. 'model:fnn-random:Rec') or 'bio:<dataset>' (e.g. 'bio:V1')")
        return cls(*parts)

    @property
    def label(self) -> str:
        """Human label, e.g. 'FNN (untrained, random weights) / Rec' or
        'V1 (reconstructed from published factors)'. For a model this asks the model registry (which may
        probe weight files); in the web process read ``view_summary(key)["label"]`` instead."""
        if self.kind == "bio":
            return _bio_label(self.name, Settings.from_env().bio_traces_dir is None)
        return f"{get_model(self.name).label} / {self.module}"


def _bio_label(name: str, reconstructed: bool) -> str:
    return f"{name} ({_RECONSTRUCTED})" if reconstructed else name


@dataclass(frozen=True)
class RunSettings:
    """How a model's responses are produced (stimulus suite + unit sampling) and the seeds.

    instances : stimulus instances per condition (3 = the study; 1 = "quick look")
    n_frames, classes, suite_seed : the stimulus suite (``compute.stimuli.SuiteSpec``)
    seed : unit-sampling seed for models; direction-offset seed of reconstructed biology
    crop, recurrent_channels, n_maps, n_positions, n_output : ``compute.sampling.SamplingSettings``
    clips : ``compute.clips.ClipSet`` or None, the user's clips as extra classes (their content hash enters
        every key through ``key_parts``)
    """

    instances: int = 3
    n_frames: int = 37
    classes: tuple[int, ...] = tuple(range(11))
    suite_seed: int = 0
    seed: int = 0
    crop: str = "authors"
    recurrent_channels: str = "authors"
    n_maps: int = 40
    n_positions: int = 50
    n_output: int = 2000
    clips: ClipSet | None = None

    def __post_init__(self) -> None:
        for name in ("instances", "n_frames", "suite_seed", "seed", "n_maps", "n_positions", "n_output"):
            check_int(getattr(self, name), name=f"RunSettings.{name}", low=0 if "seed" in name else 1)
        classes = tuple(int(c) for c in self.classes)
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"RunSettings.classes must be distinct class indices; got {self.classes}")
        object.__setattr__(self, "classes", classes)
        if self.clips is not None:
            check_instance(self.clips, ClipSet, name="RunSettings.clips", what="a compute.clips.ClipSet or None")

    @classmethod
    def quick_look(cls, **changes: Any) -> "RunSettings":
        """One stimulus instance per condition: 88 sequences instead of 216 (gratings run once either way)."""
        return cls(**{"instances": 1, **changes})

    def key_parts(self) -> dict[str, Any]:
        # Clips enter by their content hash (a folder path would serve stale responses after an edit),
        # and only when set, so clip-free keys are unchanged.
        parts = {k: v for k, v in asdict(self).items() if k != "clips"}
        if self.clips is not None:
            parts["clips"] = self.clips.key_parts()
        return parts

    def to_json(self) -> dict[str, Any]:
        """JSON-able settings that ``from_json`` turns back into these (clips by folder, options and hash)."""
        return {**asdict(self), "clips": None if self.clips is None else self.clips.record()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunSettings":
        """Inverse of ``to_json``; ValueError when recorded clips have changed since."""
        clips = data.get("clips")
        return cls(**{**data, "classes": tuple(data["classes"]),
                      "clips": None if clips is None else ClipSet.from_record(clips)})

    @property
    def names(self) -> tuple[str, ...]:
        """The stimulus names of a model's responses: the chosen classes, then the clips."""
        return self.suite_spec().names

    def suite_spec(self) -> SuiteSpec:
        return SuiteSpec(n_instances=self.instances, n_frames=self.n_frames, seed=self.suite_seed,
                         classes=self.classes, clips=self.clips)

    def sampling_settings(self) -> SamplingSettings:
        return SamplingSettings(n_maps=self.n_maps, n_positions=self.n_positions, crop=self.crop,
                                recurrent_channels=self.recurrent_channels, n_output=self.n_output)


def with_active_clips(run: RunSettings, settings: Settings) -> RunSettings:
    """``run`` with the clip set this server uses (chosen on the Stimuli page or by ``python -m compute clips
    use``; ``compute.clips.active_clips``), so the app and the command line compute under the same keys."""
    clips = active_clips(settings)
    return run if clips is None else replace(run, clips=clips)


def resolve_defaults(cache: ArtifactCache | None, settings: Settings | None) -> tuple[ArtifactCache, Settings]:
    """``cache`` and ``settings``, with None replaced by the default cache / the environment's settings."""
    return (default_cache() if cache is None else cache), (Settings.from_env() if settings is None else settings)


def source_key(source: Source, *, run: RunSettings = RunSettings(), settings: Settings | None = None) -> str:
    """Content key of a source's response set (for a model: of the pointer to its extraction)."""
    settings = Settings.from_env() if settings is None else settings
    if source.kind == "model":
        # Size and mtime of the weight files (official FNN): replaced weights give new keys, without torch here.
        files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else (p.name, None, None)
                 for p in map(Path, get_model(source.name).source_files(settings))]
        parts: dict[str, Any] = {"run": run.key_parts(), "weights_files": files}
    else:
        traces = settings.bio_traces_dir
        parts = {"seed": run.seed, "traces": None if traces is None else str(traces)}
    return content_key("source", source=source.to_token(), **parts)


@functools.lru_cache(maxsize=4)
def _read_responses(root: str, key: str) -> ResponseSet:
    # Memo for repeated unit clicks; artefacts are content-addressed, so an entry never goes stale.
    return ArtifactCache(root).get_responses(key)


def cached_responses(source: Source, run: RunSettings, cache: ArtifactCache, settings: Settings
                     ) -> ResponseSet | None:
    """The source's response set if the cache holds it, else None (never computes; no torch)."""
    key = source_key(source, run=run, settings=settings)
    if key not in cache:
        return None
    if source.kind == "model":
        key = cache.meta(key)["responses_key"]
        if key not in cache:
            return None
    return _read_responses(str(cache.root), key)


def source_responses(source: Source, *, run: RunSettings = RunSettings(), cache: ArtifactCache | None = None,
                     settings: Settings | None = None, control: JobControl | None = None) -> ResponseSet:
    """The response set of a source, computed once and then read from the cache.

    Model: extracts the module (``compute.extraction.extract``, progress through ``control``) unless cached,
    then records a pointer to the extraction's key. Biology: ``compute.bio.datasets.load_dataset`` with
    ``random_state=run.seed`` (the traces folder of ``settings`` when set), stored in the cache.

    Returns
    -------
    ResponseSet of shape (n_units, n_stimuli, 8, n_time)
    """
    cache, settings = resolve_defaults(cache, settings)
    control = ensure_control(control)
    found = cached_responses(source, run, cache, settings)
    if found is not None:
        control.report(1.0, "responses from cache")
        return found
    key = source_key(source, run=run, settings=settings)
    if source.kind == "bio":
        def load() -> ResponseSet:
            control.report(0.0, f"loading {source.name}")
            return bio_datasets.load_dataset(source.name, data_dir=settings.bio_dir, random_state=run.seed)

        rs = cache.get_or_compute_responses(key, load)
        control.report(1.0, f"{source.name} loaded")
        return rs
    from compute.extraction import extract

    keys = extract(source.name, [source.module], suite=run.suite_spec(), sampling=run.sampling_settings(),
                   seed=run.seed, cache=cache, settings=settings, control=control)
    cache.put(key, {}, {"type": "pointer", "responses_key": keys[source.module], "source": source.to_token()})
    return _read_responses(str(cache.root), keys[source.module])
