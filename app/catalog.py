"""What the pages offer: models and their modules, datasets, stimulus classes and presets, colour-by
options, and the source tokens built from them.

``compute.models.registry`` imports torch, which the web process must not load; ``model_infos`` therefore
reads the registry in a short-lived subprocess and keeps the answer in the artefact cache, keyed by the
registry's source files and the weight files present (so downloading official weights shows them).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from compute.cache import ArtifactCache, content_key
from compute.config import REPO_ROOT, Settings

from app.profile import RunProfile, run_profile

# Colour-by options an encoding view may offer (``compute.views``); each view lists the ones it has.
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
    """

    models: dict
    datasets: tuple[str, ...]
    classes: tuple[str, ...]
    directions: tuple[int, ...]
    presets: dict
    profile: RunProfile
    color_choices: tuple[str, ...] = COLOR_CHOICES

    # ---------------------------------------------------------------- the Explore source picker
    @property
    def default_source(self) -> str:
        return f"model:{self.profile.model}"

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
        modules = self.modules_of(self.default_source)
        wanted = [m for m in ("Enc L1", "Enc L8", "Rec", "Output") if m in modules] or list(modules[:2])
        return [source_token("model", self.profile.model, m) for m in wanted]

    def default_comparison_tokens(self) -> list[str]:
        return self.default_model_tokens() + [source_token("bio", name) for name in self.datasets]

    def default_compare_tokens(self) -> list[str]:
        """The default module next to each dataset."""
        return (source_tokens(self.default_source, self.default_modules(self.default_source))
                + [source_token("bio", name) for name in self.datasets])


def source_token(kind: str, name: str, module: str | None = None) -> str:
    from compute.workflows import Source

    return Source(kind, name, module).to_token()


def split_token(token: str) -> tuple[str, str, str | None]:
    from compute.workflows import Source

    source = Source.parse(token)
    return source.kind, source.name, source.module


def source_tokens(source: str, modules: list[str]) -> list[str]:
    """Tokens of an Explore picker value: one per module for a model, one for a dataset."""
    kind, _, name = source.partition(":")
    return [source_token("bio", name)] if kind == "bio" else [source_token("model", name, m) for m in modules]


_PROBE = """
import json, sys
from compute.config import Settings
from compute.models.registry import MODELS
settings = Settings.from_env()

def available(entry):
    try:
        return entry.available(settings)
    except ImportError:  # a model whose code is not installed is simply not offered
        return False

json.dump([{"name": e.name, "label": e.label, "untrained": e.untrained, "modules": list(e.module_names),
            "available": available(e)} for e in MODELS.values()], sys.stdout)
"""


def _probe_key(settings: Settings) -> str:
    models = REPO_ROOT / "compute" / "models"
    code = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(models.glob("*.py"))}
    weights = settings.weights_dir
    files = ({p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(weights.iterdir()) if p.is_file()}
             if weights.is_dir() else {})
    return content_key("catalog", code=code, weights=files, weights_dir=str(weights))


def model_infos(settings: Settings, cache: ArtifactCache) -> dict[str, ModelInfo]:
    """Available registered models (name -> ModelInfo), read without importing torch here."""
    key = _probe_key(settings)

    def probe():
        env = {**os.environ, "TWINSCOPE_CACHE_DIR": str(settings.cache_dir),
               "TWINSCOPE_DATA_DIR": str(settings.data_dir)}
        done = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"could not read the model registry:\n{done.stderr[-2000:]}")
        return {}, {"models": json.loads(done.stdout)}

    _, meta = cache.get_or_compute(key, probe)
    return {m["name"]: ModelInfo(m["name"], m["label"], bool(m["untrained"]), tuple(m["modules"]))
            for m in meta["models"] if m["available"]}


@functools.lru_cache(maxsize=8)
def get_catalog(settings: Settings, cache_root: Path, profile: RunProfile | None = None) -> Catalog:
    """The catalogue for ``settings`` (memoised per process; ``cache_root`` holds the probe's answer)."""
    from compute.bio.datasets import DATASETS
    from compute.stimuli import CLASS_NAMES, DIRECTIONS, PRESETS

    profile = run_profile() if profile is None else profile
    models = model_infos(settings, ArtifactCache(cache_root))
    if profile.model not in models:
        raise ValueError(f"the profile's model {profile.model!r} is not available; available: {sorted(models)}")
    return Catalog(models=models, datasets=tuple(DATASETS), classes=tuple(CLASS_NAMES),
                   directions=tuple(int(d) for d in DIRECTIONS), presets=dict(PRESETS), profile=profile)
