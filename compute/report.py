"""The replication report's science side (issue 14): which views it holds, computing them through
``compute.workflows.compute_view``, the tables against the seed study's published numbers, the data files
and the manifest that regenerates every cache key. The HTML (plotly) is rendered by ``app.report``.

Sections: per model module and per biological dataset the "decoding" (manifold, trajectories), "accuracy"
(logistic, 3-NN, time windows), "tubularity" and "encoding" views; "alignment" of every module with every
dataset. Item ids are ``<view>|<source token>`` (alignment: ``alignment|<module token>|<dataset>``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from compute.cache import ArtifactCache, default_cache
from compute.config import Settings
from compute.jobs import JobControl, ensure_control
from compute.seed_values import PUBLISHED_ACCURACY, PUBLISHED_TUBULARITY
from compute.sources import RunSettings, Source
from compute.views import View
from compute.workflows import compute_view, load_typed, load_view, view_key

REPORT_VERSION = 1
DATASETS = ("retina", "V1")
SOURCE_VIEWS = ("decoding", "accuracy", "tubularity", "encoding")
PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "dash", "plotly", "dsa-metric", "tqdm")

UNTRAINED_NOTE = ("The model has random (untrained) weights: the published column refers to the trained FNN, "
                  "so disagreements are expected and are not failures of the replication.")


@dataclass(frozen=True)
class ReportPlan:
    """Everything that decides a report's cache keys.

    model : registry name; modules : its modules in hierarchy order; profile : the run profile's name
    (recorded only); run : RunSettings; view_options : view -> options (defaults filled in by compute_view);
    datasets : biological references.
    """

    model: str
    modules: tuple[str, ...]
    profile: str = "default"
    run: RunSettings = RunSettings()
    view_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    datasets: tuple[str, ...] = DATASETS

    def sources(self) -> list[Source]:
        """Model modules first, then the datasets."""
        return ([Source("model", self.model, m) for m in self.modules]
                + [Source("bio", d) for d in self.datasets])

    def items(self) -> dict[str, tuple[str, Source, dict[str, Any]]]:
        """item id -> (view, source, options), in the order they are computed."""
        out = {}
        for source in self.sources():
            for view in SOURCE_VIEWS:
                out[f"{view}|{source.to_token()}"] = (view, source, dict(self.view_options.get(view, {})))
        for source in self.sources()[:len(self.modules)]:
            for dataset in self.datasets:
                options = {**self.view_options.get("alignment", {}), "dataset": dataset}
                out[f"alignment|{source.to_token()}|{dataset}"] = ("alignment", source, options)
        return out

    def keys(self, settings: Settings | None = None) -> dict[str, str]:
        """item id -> view key (cheap: no data, no torch)."""
        return {item: view_key(view, source, run=self.run, settings=settings, **options)
                for item, (view, source, options) in self.items().items()}

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "modules": list(self.modules), "profile": self.profile,
                "run": self.run.to_json(), "view_options": {v: dict(o) for v, o in self.view_options.items()},
                "datasets": list(self.datasets)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ReportPlan":
        return cls(model=data["model"], modules=tuple(data["modules"]), profile=data["profile"],
                   run=RunSettings.from_json(data["run"]), view_options=data["view_options"], datasets=tuple(data["datasets"]))


def plan_for(model: str, *, profile: str = "default", run: RunSettings = RunSettings(),
             view_options: Mapping[str, Mapping[str, Any]] | None = None,
             modules: tuple[str, ...] | None = None) -> ReportPlan:
    """The plan of a model's report: all its modules unless ``modules`` is given."""
    from compute.models.registry import get_model

    entry = get_model(model)
    chosen = entry.module_names if modules is None else tuple(modules)
    for name in chosen:
        entry.module(name)                       # ValueError listing the model's modules
    return ReportPlan(model=model, modules=chosen, profile=profile, run=run, view_options=dict(view_options or {}))


# ---------------------------------------------------------------------------------------------- manifest
def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, text=True,
                             capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights(model: str, settings: Settings) -> dict[str, Any]:
    from compute.models.registry import get_model

    entry = get_model(model)
    files = [{"name": p.name, "bytes": p.stat().st_size, "md5": _md5(p)}
             for p in map(Path, entry.source_files(settings)) if p.exists()]
    return {"label": entry.label, "untrained": entry.untrained, "weights_id": entry.weights_id(settings),
            "files": files}


def _suite_hash(run: RunSettings, cache: ArtifactCache) -> str:
    from compute.stimuli import get_suite

    frames = get_suite(run.suite_spec(), cache=cache)
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:32]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def keys_from_manifest(manifest: Mapping[str, Any], settings: Settings | None = None) -> dict[str, str]:
    """Regenerate every cache key of a report from its manifest (equal to ``manifest["keys"]`` when code,
    data and weights files are unchanged)."""
    return ReportPlan.from_json(_readable(manifest)["plan"]).keys(settings)


def _readable(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    """``manifest`` when this code reads its report version; else ValueError."""
    if manifest.get("report_version") != REPORT_VERSION:
        raise ValueError(f"manifest has report_version {manifest.get('report_version')!r}; this twinscope "
                         f"reads version {REPORT_VERSION}; regenerate the report")
    return manifest


# ---------------------------------------------------------------------------------------------- compute
@dataclass
class ReportResult:
    """plan, keys (item id -> view key), manifest (JSON-able) and the cache they live in."""

    plan: ReportPlan
    keys: dict[str, str]
    manifest: dict[str, Any]
    cache: ArtifactCache


def compute_report(plan: ReportPlan, *, cache: ArtifactCache | None = None, settings: Settings | None = None,
                   control: JobControl | None = None) -> ReportResult:
    """Compute (or read from the cache) every view of ``plan``; cancellable through ``control``.

    The model's modules are extracted in one pass first (0-40 % of the progress); each view then finds its
    responses in the cache.
    """
    from compute.extraction import extract

    cache = default_cache() if cache is None else cache
    settings = Settings.from_env() if settings is None else settings
    control = ensure_control(control)
    started = _now()
    control.report(0.0, f"extracting {len(plan.modules)} modules of {plan.model}")
    extract(plan.model, list(plan.modules), suite=plan.run.suite_spec(), sampling=plan.run.sampling_settings(),
            seed=plan.run.seed, cache=cache, settings=settings, control=control.sub(0.0, 0.4))
    items = plan.items()
    keys = {}
    for i, (item, (view, source, options)) in enumerate(items.items()):
        control.check()
        control.report(0.4 + 0.6 * i / len(items), f"{view}: {source.to_token()} ({i + 1}/{len(items)})")
        keys[item] = compute_view(view, source, run=plan.run, cache=cache, settings=settings,
                                  control=control.sub(0.4 + 0.6 * i / len(items), 0.4 + 0.6 * (i + 1) / len(items)),
                                  **options)
    manifest = {"report_version": REPORT_VERSION, "plan": plan.to_json(), "twinscope_commit": _git_commit(),
                "packages": _versions(), "python": platform.python_version(),
                "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                            "cpus": _cpu_count(), "device": settings.device},
                "weights": _weights(plan.model, settings), "stimulus_suite_sha256": _suite_hash(plan.run, cache),
                "started": started, "finished": _now(), "keys": keys}
    control.report(1.0, "report computed")
    return ReportResult(plan=plan, keys=keys, manifest=manifest, cache=cache)


def written_result(out: str | Path, *, cache: ArtifactCache | None = None) -> ReportResult:
    """The ReportResult of a report written under ``out`` (``write_data``): plan, keys and manifest from its
    ``manifest.json``, the views from ``cache``; ValueError when it is missing or of another report version."""
    path = Path(out) / "manifest.json"
    if not path.is_file():
        raise ValueError(f"no manifest.json in {out}; write the report first: python -m compute report --out {out}")
    manifest = _readable(json.loads(path.read_text()))
    return ReportResult(plan=ReportPlan.from_json(manifest["plan"]), keys=dict(manifest["keys"]), manifest=manifest,
                        cache=default_cache() if cache is None else cache)


def _cpu_count() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# ---------------------------------------------------------------------------------------------- tables
def _disagrees(ours: float, spread: float, published: float, rounding: float) -> bool:
    """Beyond the stated uncertainty: more than 2 x our spread plus the published value's rounding."""
    return bool(abs(ours - published) > 2.0 * spread + rounding)


def _rounding(value: float) -> float:
    """Half a unit in the last of the 2-3 significant digits the study prints."""
    exponent = np.floor(np.log10(abs(value))) if value else 0
    digits = 2 if abs(value) / 10 ** exponent < 1.5 else 1
    return 0.5 * 10 ** (exponent - digits)


def comparison_tables(result: ReportResult) -> dict[str, list[dict[str, Any]]]:
    """Rows per analysis: twinscope's value next to the seed study's published value.

    decoding: logistic accuracy (mean +- SD over the 5 CV repeats) per module; tubularity: S_tight and
    S_cross (mean +- SE over bootstraps) per source; alignment: the published pattern, checked. A row's
    ``disagrees`` is True when the values differ by more than 2 x our spread plus the published rounding.
    """
    arts = {item: load_typed(key, cache=result.cache) for item, key in result.keys.items()}
    names = {s.to_token(): (s.module or s.name) for s in result.plan.sources()}
    decoding, tubularity = [], []
    for token, name in names.items():
        acc = arts[f"accuracy|{token}"]
        if name in PUBLISHED_ACCURACY and token.startswith("model:"):
            published = PUBLISHED_ACCURACY[name]
            decoding.append({"source": name, "twinscope": acc.logistic, "spread": acc.logistic_sd,
                             "published": published, "knn": acc.knn, "chance": acc.chance,
                             "disagrees": _disagrees(acc.logistic, acc.logistic_sd, published, 0.005)})
        tub = arts[f"tubularity|{token}"]
        if name in PUBLISHED_TUBULARITY:
            for i, metric in enumerate(("s_tight", "s_cross")):
                published = PUBLISHED_TUBULARITY[name][i]
                value, spread = getattr(tub, metric), getattr(tub, f"{metric}_se")
                tubularity.append({"source": name, "metric": metric, "twinscope": value, "spread": spread,
                                   "published": published,
                                   "disagrees": _disagrees(value, spread, published, _rounding(published))})
    return {"decoding": decoding, "tubularity": tubularity, "alignment": _alignment_pattern(result, arts)}


def _alignment_pattern(result: ReportResult, arts: Mapping[str, View]) -> list[dict[str, Any]]:
    modules = list(result.plan.modules)
    token = {m: Source("model", result.plan.model, m).to_token() for m in modules}
    means = {(m, d): arts[f"alignment|{token[m]}|{d}"].mean_alignment for m in modules for d in result.plan.datasets}
    rows = []
    for dataset in result.plan.datasets:
        best = max(modules, key=lambda m: means[(m, dataset)])
        rows.append({"claim": f"Rec is the most aligned module with {dataset}", "twinscope": f"most aligned: {best}",
                     "published": "Rec", "disagrees": "Rec" in modules and best != "Rec"})
    if {"retina", "V1"} <= set(result.plan.datasets) and "Rec" in modules:
        later = modules[modules.index("Rec"):]
        lower = [m for m in later if means[(m, "V1")] <= means[(m, "retina")]]
        rows.append({"claim": "alignment with V1 exceeds retina from Rec on",
                     "twinscope": "holds" if not lower else f"not for {', '.join(lower)}",
                     "published": "holds", "disagrees": bool(lower)})
    return rows


# ---------------------------------------------------------------------------------------------- files
def write_data(result: ReportResult, out: Path) -> None:
    """Write the arrays (``data/<stem>.npz``) and metadata (``data/<stem>.json``, ``data_stem``) of every
    view, the tables (``tables.json``) and ``manifest.json`` under ``out``."""
    data = Path(out) / "data"
    data.mkdir(parents=True, exist_ok=True)
    for item, key in result.keys.items():
        arrays, meta = load_view(key, cache=result.cache)
        np.savez_compressed(data / f"{data_stem(item)}.npz", **arrays)
        (data / f"{data_stem(item)}.json").write_text(json.dumps({"key": key, **meta}, indent=1,
                                                                 default=_json_default))
    (Path(out) / "tables.json").write_text(json.dumps(comparison_tables(result), indent=1, default=_json_default))
    (Path(out) / "manifest.json").write_text(json.dumps(result.manifest, indent=1, default=_json_default))


def data_stem(item: str) -> str:
    """File name stem (no folder, no suffix) of a report item's data files: its id made path-safe."""
    return item.replace("|", "__").replace(":", "_").replace("+", "_").replace(" ", "_")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
