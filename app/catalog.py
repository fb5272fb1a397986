"""What the pages offer: models and their modules, datasets, stimulus classes and presets, colour-by
options, and the source tokens built from them.

The model list is read once per process: a model whose weights are downloaded later appears after a restart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from compute.config import Settings
from compute.profiles import RunProfile, run_profile
from compute.seed_ranks import default_rank

# CP rank of a model module with no seed-study rank in a profile without one: the most common seed-study
# rank of the FNN modules (``compute.seed_ranks.MODULE_RANKS``).
FALLBACK_RANK = 11
# Colour-by options an encoding view may offer (``compute.views``); each view lists the ones it has.
# Models whose extraction takes seconds on a CPU: a page may select them by default.
QUICK_MODELS = ("conv3d-random",)
# First colouring of a dataset's encoding manifold: what the figure is about (cell type, cortical layer).
BIO_COLOR_DEFAULTS = {"retina": "cell_type", "V1": "layer"}
COLOR_CHOICES = ("cluster", "OSI", "DSI", "intensity arm", "preferred direction", "feature map", "stream",
                 "channel", "y", "x", "module", "cell_type", "layer")


@dataclass(frozen=True)
class ModelInfo:
    """A registered model as the UI shows it: ``modules`` are UI names ("Enc L1", ..., "Output")."""

    name: str
    label: str
    untrained: bool
    modules: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """Choices of every picker.

    models : dict name -> ModelInfo (only models available now, e.g. official FNN only with its weights)
    datasets : tuple of str ("retina", "V1")
    classes : tuple of str, the 11 class names in canonical order; directions : tuple of int (degrees)
    presets : dict preset name -> tuple of class indices
    profile : RunProfile (default model and run settings)
    bio_notice : str, why biology is unavailable and how to fetch it ("" when present; datasets is then empty)
    """

    models: dict
    datasets: tuple[str, ...]
    classes: tuple[str, ...]
    directions: tuple[int, ...]
    presets: dict
    profile: RunProfile
    color_choices: tuple[str, ...] = COLOR_CHOICES
    bio_notice: str = ""
    ready: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)
    """token -> whether its responses are cached now (None: nothing counts as cached)."""
    clip_classes: Callable[[], tuple[str, ...]] | None = field(default=None, compare=False, repr=False)
    """() -> the class names of the clip set chosen now on the Stimuli page (``compute.clips``)."""

    @property
    def stimuli(self) -> tuple[str, ...]:
        """Every stimulus a model source can show now: ``classes``, then the chosen clip classes."""
        return self.classes + (() if self.clip_classes is None else self.clip_classes())

    def is_cheap(self, token: str) -> bool:
        """A source a page may select by default: a dataset, a quick model, or a module already extracted."""
        kind, name, _ = split_token(token)
        return kind == "bio" or name in QUICK_MODELS or (self.ready is not None and self.ready(token))

    # ---------------------------------------------------------------- the Explore source picker
    @property
    def default_source(self) -> str:
        """The profile's model when its default module is cheap (``is_cheap``), else the last dataset (V1)."""
        model = f"model:{self.profile.model}"
        if any(self.is_cheap(t) for t in source_tokens(model, self.default_modules(model))):
            return model
        return f"bio:{self.datasets[-1]}"

    def default_color(self, source: str) -> str:
        return BIO_COLOR_DEFAULTS.get(source.partition(":")[2], "cluster") if source.startswith("bio:") else "cluster"

    def source_choices(self) -> list[str]:
        """Picker values: 'model:<name>' for each model, 'bio:<dataset>' for each dataset."""
        return [f"model:{name}" for name in self.models] + [f"bio:{name}" for name in self.datasets]

    def source_options(self) -> list[dict]:
        return ([{"label": info.label, "value": f"model:{name}"} for name, info in self.models.items()]
                + [{"label": f"{name} (biology)", "value": f"bio:{name}"} for name in self.datasets])

    def modules_of(self, source: str) -> tuple[str, ...]:
        """Modules of a picker value; () for a dataset or an unknown value."""
        kind, _, name = source.partition(":")
        return self.models[name].modules if kind == "model" and name in self.models else ()

    def default_modules(self, source: str) -> list[str]:
        modules = self.modules_of(source)
        return ["Rec"] if "Rec" in modules else list(modules[:1])

    def default_rank(self, source: str, module: str | None) -> int | None:
        """Default permuted-CP rank of the encoding manifold of ``module`` of picker value ``source``: the
        seed study's rank of the module, else the profile's encoding rank, else ``FALLBACK_RANK``; None for a
        dataset (its manifold comes from the published factors, whose rank is fixed)."""
        kind = source.partition(":")[0]
        rank = default_rank(kind, module)
        if rank is not None or kind != "model":
            return rank
        rank = self.profile.options_for("encoding").get("rank")
        return FALLBACK_RANK if rank is None else int(rank)

    def preset_names(self, preset: str) -> list[str]:
        return [self.classes[i] for i in self.presets[preset]]

    # ---------------------------------------------------------------- source tokens (Compare, Tubularity, ...)
    def model_tokens(self) -> list[str]:
        return [source_token("model", name, module) for name, info in self.models.items()
                for module in info.modules]

    def all_tokens(self) -> list[str]:
        return self.model_tokens() + [source_token("bio", name) for name in self.datasets]

    def token_label(self, token: str) -> str:
        kind, name, module = split_token(token)
        if kind == "bio":
            return f"{name} (biology)"
        info = self.models.get(name)
        return f"{info.label if info else name} / {module}"

    def token_options(self, tokens: list[str] | None = None) -> list[dict]:
        return [{"label": self.token_label(t), "value": t} for t in (self.all_tokens() if tokens is None else tokens)]

    def default_model_tokens(self) -> list[str]:
        """Up to four representative modules of the profile's model that are cheap to compute now."""
        modules = self.modules_of(f"model:{self.profile.model}")
        wanted = [m for m in ("Enc L1", "Enc L8", "Rec", "Output") if m in modules] or list(modules[:2])
        tokens = [source_token("model", self.profile.model, m) for m in wanted]
        return [t for t in tokens if self.is_cheap(t)]

    def default_comparison_tokens(self) -> list[str]:
        return self.default_model_tokens() + [source_token("bio", name) for name in self.datasets]

    def default_compare_tokens(self) -> list[str]:
        """The default module (when cheap) next to each dataset."""
        model = f"model:{self.profile.model}"
        tokens = [t for t in source_tokens(model, self.default_modules(model)) if self.is_cheap(t)]
        return tokens + [source_token("bio", name) for name in self.datasets]


def source_token(kind: str, name: str, module: str | None = None) -> str:
    from compute.sources import Source

    return Source(kind, name, module).to_token()


def split_token(token: str) -> tuple[str, str, str | None]:
    from compute.sources import Source

    source = Source.parse(token)
    return source.kind, source.name, source.module


def source_tokens(source: str, modules: list[str]) -> list[str]:
    """Tokens of an Explore picker value: one per module for a model, one for a dataset."""
    kind, _, name = source.partition(":")
    return [source_token("bio", name)] if kind == "bio" else [source_token("model", name, m) for m in modules]


def model_infos(settings: Settings) -> dict[str, ModelInfo]:
    """Available registered models (name -> ModelInfo); the registry loads no torch."""
    from compute.models.registry import MODELS

    return {e.name: ModelInfo(e.name, e.label, e.untrained, e.module_names)
            for e in MODELS.values() if e.available(settings)}


@functools.lru_cache(maxsize=8)
def get_catalog(settings: Settings, profile: RunProfile | None = None) -> Catalog:
    """The catalogue for ``settings`` (memoised per process)."""
    from compute.bio.datasets import DATASETS
    from compute.bio.fetch import missing_notice
    from compute.stimuli import CLASS_NAMES, DIRECTIONS, PRESETS

    profile = run_profile() if profile is None else profile
    models = model_infos(settings)
    if profile.model not in models:
        raise ValueError(f"the profile's model {profile.model!r} is not available; available: {sorted(models)}")
    bio_notice = missing_notice(settings.bio_dir)
    return Catalog(models=models, datasets=() if bio_notice else tuple(DATASETS), classes=tuple(CLASS_NAMES),
                   directions=tuple(int(d) for d in DIRECTIONS), presets=dict(PRESETS), profile=profile,
                   bio_notice=bio_notice, ready=functools.partial(_ready, settings, profile),
                   clip_classes=functools.partial(_clip_classes, settings))


def _clip_classes(settings: Settings) -> tuple[str, ...]:
    from compute.clips import active_clips

    clips = active_clips(settings)
    try:
        return () if clips is None else clips.names
    except ValueError:  # the chosen folder was emptied since: no clip classes
        return ()


def responses_ready(token: str, *, cache, run, settings: Settings) -> bool:
    """Whether the responses of source ``token`` are in ``cache`` for run settings ``run``."""
    from compute.sources import Source, source_key

    source = Source.parse(token)
    key = source_key(source, run=run, settings=settings)
    if key not in cache:
        return False
    return source.kind != "model" or cache.meta(key).get("responses_key", "") in cache


def _ready(settings: Settings, profile: RunProfile, token: str) -> bool:
    from compute.cache import ArtifactCache

    return responses_ready(token, cache=ArtifactCache(settings.cache_dir / "artifacts"), run=profile.run,
                           settings=settings)
