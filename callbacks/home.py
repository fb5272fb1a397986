"""Home and Methods page callbacks: the data status of this machine and the table of decisions with the
settings read from the code."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import MISSING, fields, is_dataclass

from dash import Input, Output, html

from app.catalog import responses_ready
from app.ids import HomeIds, MethodsIds
from callbacks.context import AppContext
from compute.bio.datasets import resolve_bio_dir
from compute.bio.fetch import FILES
from compute.models.registry import MODELS
from compute.sources import Source, source_key

NOT_FOUND = "(not in this version)"


# ---------------------------------------------------------------------------------------------- data status
def bio_status(ctx: AppContext) -> tuple[bool, str]:
    """(present, text): the published retina / V1 files, or the command that fetches them."""
    folder = resolve_bio_dir(ctx.settings.bio_dir)
    missing = [name for name in FILES if not (folder / name).exists()]
    if not missing:
        return True, f"Biology (retina, V1): present in {folder}."
    return False, (f"Biology: {len(missing)} of {len(FILES)} files missing in {folder}; fetch them with "
                   "`python -m compute bio fetch` (checksum-verified).")


def weights_status(ctx: AppContext) -> tuple[bool, str]:
    """(present, text): the official FNN weights, or the command that downloads them."""
    if MODELS["fnn-official"].available(ctx.settings):
        return True, "Official FNN weights: present (model 'FNN (official weights ...)' in the pickers)."
    return False, ("Official FNN weights: not downloaded; the FNN runs with seeded random weights. Download "
                   "them with `python -m compute weights download` and restart.")


def extracted_modules(ctx: AppContext) -> list[tuple[str, int]]:
    """(token label, bytes on disk) of every model module whose responses are cached for this profile."""
    found = []
    for token in ctx.catalog.model_tokens():
        if responses_ready(token, cache=ctx.cache, run=ctx.run, settings=ctx.settings):
            pointer = ctx.cache.meta(source_key(Source.parse(token), run=ctx.run, settings=ctx.settings))
            found.append((ctx.catalog.token_label(token), ctx.cache.path(pointer["responses_key"]).stat().st_size))
    return found


def status_children(ctx: AppContext) -> list:
    items = [html.Li(text, className="ok" if ok else "missing") for ok, text in (bio_status(ctx), weights_status(ctx))]
    modules = extracted_modules(ctx)
    if modules:
        total = sum(size for _, size in modules)
        items.append(html.Li(f"Extracted model modules ({len(modules)}, {total / 1e6:.0f} MB in the cache): "
                             + ", ".join(f"{label} ({size / 1e6:.0f} MB)" for label, size in modules) + ".",
                             className="ok"))
    else:
        items.append(html.Li("No model module extracted yet in this profile: the first Run on a module extracts "
                             "it (each page states how long that takes before you press Run).", className="missing"))
    return [html.Ul(items, id=HomeIds.STATUS + "-list")]


# ---------------------------------------------------------------------------------------------- decisions
def code_setting(path: str) -> str:
    """The current value of a setting in the code, as text. ``path`` is "module:attr" (a constant),
    "module:func(param)" (a keyword default), "module:Class.field" (a dataclass field default) or
    "module:CONST[key]"; a missing name gives ``NOT_FOUND`` (the page never breaks on a rename)."""
    module_name, _, name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        if name.endswith(")"):
            func, _, param = name[:-1].partition("(")
            value = inspect.signature(getattr(module, func)).parameters[param].default
            if value is inspect.Parameter.empty:
                return "required"
        elif "[" in name:
            const, _, key = name[:-1].partition("[")
            value = getattr(module, const)[key]
        elif "." in name:
            cls, _, attr = name.partition(".")
            value = {f.name: f.default for f in fields(getattr(module, cls))
                     if is_dataclass(getattr(module, cls)) and f.default is not MISSING}[attr]
        else:
            value = getattr(module, name)
    except (ImportError, AttributeError, KeyError, TypeError, ValueError):
        return NOT_FOUND
    return _text(value)


def _text(value, nested: bool = False) -> str:
    """Readable setting: dicts as "key=value, ..." (inner ones in parentheses), a required option (a bare
    ``object()``) as "required"."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={_text(v, True)}" for k, v in value.items())
        return f"({inner})" if nested else inner
    if type(value) is object:
        return "required"
    return repr(value)


# (METHODS section, decision, [(setting label, code path)], where to change it)
DECISIONS = (
    ("1", "Render the suite at the authors' canvas, resize and centre-crop (spatial scales as in their images).",
     [("canvas (H, W)", "compute.stimuli:CANVAS_SHAPE"), ("resize", "compute.stimuli:RESIZE_FACTOR"),
      ("frame (H, W)", "compute.stimuli:FRAME_SHAPE"), ("frames", "compute.stimuli:N_FRAMES")],
     "compute/stimuli.py"),
    ("1 [v2]", "Gratings: the 3 instances are one sequence, run once per direction; dot flows keep 3 seeded "
     "layouts.", [("instances per condition", "compute.sources:RunSettings.instances")],
     "compute/stimuli.py, compute/sources.py RunSettings; TWINSCOPE_PROFILE=quick: 1 instance"),
    ("1", "Model-vs-biology comparisons use the bio-matched six classes; 'authors-lowsf' / 'authors-highsf' "
     "presets for replication.", [("presets", "compute.stimuli:PRESETS")],
     "compute/stimuli.py PRESETS; the Explore page's class picker"),
    ("2.1", "Untrained FNN: core initialised as the package does, readout positions uniform, weights "
     "N(0, 1/128), biases N(0, 0.1^2), one seed.", [("seed", "compute.sources:RunSettings.seed")],
     "compute/models/registry.py; official weights with `python -m compute weights download`"),
    ("2.3", "Conv-layer crop 'authors' (top/left margins only); Rec/RecOut/Readout: first 40 channels "
     "('authors'); clip(mean over instances) [v2].",
     [("crop", "compute.sampling:SamplingSettings.crop"),
      ("recurrent channels", "compute.sampling:SamplingSettings.recurrent_channels"),
      ("maps", "compute.sampling:SamplingSettings.n_maps"),
      ("positions", "compute.sampling:SamplingSettings.n_positions"),
      ("output units", "compute.sampling:SamplingSettings.n_output")],
     "compute/sampling.py SamplingSettings; compute/sources.py RunSettings"),
    ("3", "Biology without the authors' traces is reconstructed from the published factors, each neuron with a "
     "seeded direction offset; labelled 'reconstructed'.", [("seed", "compute.sources:RunSettings.seed")],
     "TWINSCOPE_BIO_TRACES (folder with the full traces) replaces the reconstruction"),
    ("4", "Decoding accuracy: all 11 classes, logistic (5 seeds) and 3-NN; increasing / decreasing windows.",
     [("view options", "compute.workflows:VIEW_OPTIONS[accuracy]")], "compute/workflows.py VIEW_OPTIONS"),
    ("5.2 [v2]", "Encoding stimuli of model units: 'optSF' (the better-driven low-SF or high-SF set per unit); "
     "option 'bio-matched'.", [("stimuli", "compute.encoding.manifold:encoding_manifold(stimuli)")],
     "compute/encoding/manifold.py encoding_manifold"),
    ("5.4 [v2]", "IAN neighbourhoods by the linear program (as the authors ran it); greedy is the quick option.",
     [("IAN", "compute.encoding.manifold:encoding_manifold(ian_objective)"),
      ("k_far", "compute.encoding.manifold:encoding_manifold(k_far)"),
      ("k_near", "compute.encoding.manifold:encoding_manifold(k_near)")],
     "compute/encoding/manifold.py encoding_manifold"),
    ("5.7 [v2]", "Permuted CP restarts (authors' L-BFGS-B tolerances); rank per module from the seed study.",
     [("restarts", "compute.encoding.manifold:encoding_manifold(n_restarts)"),
      ("view options", "compute.workflows:VIEW_OPTIONS[encoding]"),
      ("ranks", "compute.seed_ranks:MODULE_RANKS")],
     "compute/encoding/manifold.py; the Explore page's CP rank field; compute/profiles.py"),
    ("6", "Tubularity: smoothing s = 2.0 (s = 0.01 reproduces the older figure), q = 0.9, 30 bootstraps.",
     [("view options", "compute.workflows:VIEW_OPTIONS[tubularity]")], "compute/workflows.py VIEW_OPTIONS"),
    ("6.4 [v2]", "Scale eps as the authors compute it (first other-curve point among 9 neighbours); 'exact' "
     "as an option.", [("eps rule", "compute.analysis.tubularity:tubularity(eps_rule)")],
     "compute/analysis/tubularity.py tubularity"),
    ("7 [v2]", "Alignment: linear predictivity clips each brain PC's R^2 to [0, 1]; DSA score 'angular', "
     "X = biology, Y = model.",
     [("DSA score", "compute.analysis.alignment:dsa_score(score_method)"),
      ("view options", "compute.workflows:VIEW_OPTIONS[alignment]"), ("presets", "compute.analysis.alignment:PRESETS")],
     "compute/analysis/alignment.py; compute/workflows.py VIEW_OPTIONS"),
)


def decision_rows() -> list[dict]:
    """One table row per decision with its current settings."""
    return [{"section": section, "decision": text,
             "setting": "; ".join(f"{label} = {code_setting(path)}" for label, path in settings),
             "where": where}
            for section, text, settings, where in DECISIONS]


DECISION_COLUMNS = [{"name": "METHODS section", "id": "section"}, {"name": "decision", "id": "decision"},
                    {"name": "current setting (from the code)", "id": "setting"},
                    {"name": "where to change it", "id": "where"}]


def register(app, ctx: AppContext) -> None:
    @app.callback(Output(HomeIds.STATUS, "children"), Input(HomeIds.LOADED, "data"))
    def show_status(_):
        return status_children(ctx)

    @app.callback(Output(MethodsIds.TABLE, "data"), Output(MethodsIds.TABLE, "columns"),
                  Input(MethodsIds.LOADED, "data"))
    def show_decisions(_):
        return decision_rows(), DECISION_COLUMNS
