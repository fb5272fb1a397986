"""Cost before Run: what a page's job will compute, what is cached, and how long the rest should take.

Estimates come from throughput measured on this machine: every job records how long each extraction (per
frame-sample) and each view took into ``<cache>/throughput.json``; until a kind of work was measured here,
the reference 2-core machine's numbers (README "Performance") stand in and the text says so.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.catalog import responses_ready
from callbacks.context import AppContext
from callbacks.jobs import parse_request
from compute import workflows
from compute.stimuli import DIRECTIONS
from compute.workflows import view_key, view_summary

THROUGHPUT_FILE = "throughput.json"
# Reference 2-core CPU machine (README "Performance"): seconds per frame-sample of a module's extraction.
REFERENCE_FRAME_SECONDS = {"fnn-random": 0.054, "fnn-official": 0.054, "conv3d-random": 0.002}
# Seconds of a view of a 2000-unit model module / of a dataset, once the responses exist.
REFERENCE_VIEW_SECONDS = {"model": {"decoding": 2.0, "accuracy": 20.0, "tubularity": 15.0, "alignment": 60.0,
                                    "encoding": 450.0},
                          "bio": {"decoding": 2.0, "accuracy": 60.0, "tubularity": 9.0, "encoding": 10.0}}
REFERENCE_UNITS = 2000
LONG_SECONDS = 60.0  # a plan above this is "long": the page says so before Run
_lock = threading.Lock()


@dataclass(frozen=True)
class PlanItem:
    """One requested view: ``text`` for the user, ``seconds`` still to spend (0 when cached), whether the
    estimate was ``measured`` on this machine."""

    text: str
    seconds: float
    measured: bool


def _log_path(ctx: AppContext) -> Path:
    return Path(ctx.settings.cache_dir) / THROUGHPUT_FILE


def read_throughput(ctx: AppContext) -> dict[str, float]:
    """Measured seconds by kind of work (``extract|<model>|<module>`` per frame-sample, ``view|<view>|<model
    or bio>`` per view); {} before any job ran here."""
    try:
        return {k: float(v) for k, v in json.loads(_log_path(ctx).read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def record_throughput(ctx: AppContext, name: str, seconds: float) -> None:
    """Store one measurement (the latest wins), written atomically so readers never see half a file."""
    with _lock:
        log = read_throughput(ctx)
        log[name] = round(float(seconds), 6)
        path = _log_path(ctx)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(log, sort_keys=True))
        os.replace(tmp, path)


def _frame_samples(ctx: AppContext) -> int:
    """Frame-samples of one module's extraction in this profile (sequences x instances x frames)."""
    run = ctx.run
    return len(run.names) * len(DIRECTIONS) * run.instances * run.n_frames


def _responses_cached(source, ctx: AppContext) -> bool:
    return responses_ready(source.to_token(), cache=ctx.cache, run=ctx.run, settings=ctx.settings)


def _view_seconds(view: str, source, ctx: AppContext, log: dict) -> tuple[float, bool]:
    name = f"view|{view}|{source.name if source.kind == 'model' else 'bio'}"
    if name in log:
        return log[name], True
    base = REFERENCE_VIEW_SECONDS[source.kind].get(view, 10.0)
    return base * (ctx.run.n_output / REFERENCE_UNITS if source.kind == "model" else 1.0), False


def _extract_seconds(source, ctx: AppContext, log: dict) -> tuple[float, bool]:
    per_frame = log.get(f"extract|{source.name}|{source.module}")
    measured = per_frame is not None
    if not measured:  # another module of the same model measured here beats the reference machine
        same_model = [v for k, v in log.items() if k.startswith(f"extract|{source.name}|")]
        per_frame = max(same_model) if same_model else REFERENCE_FRAME_SECONDS.get(source.name, 0.113)
    return per_frame * _frame_samples(ctx), measured


def plan_request(request, *, ctx: AppContext) -> list[PlanItem]:
    """One ``PlanItem`` per view of a page's job request (``callbacks.jobs.parse_request``'s format); an
    extraction is counted once per module. Malformed requests plan nothing."""
    try:
        items = parse_request(request)
    except (ValueError, TypeError):
        return []
    log, extracted, plan = read_throughput(ctx), set(), []
    for view, source, options in items:
        label = f"{view} of {ctx.catalog.token_label(source.to_token())}"
        try:
            key = view_key(view, source, run=ctx.run, settings=ctx.settings,
                           **{**ctx.catalog.profile.options_for(view), **options})
        except (ValueError, TypeError) as error:
            plan.append(PlanItem(f"{label}: {error}", 0.0, True))
            continue
        if key in ctx.cache:
            plan.append(PlanItem(f"{label}: cached", 0.0, True))
            continue
        seconds, measured = _view_seconds(view, source, ctx, log)
        needs_extraction = (source.kind == "model" and source.to_token() not in extracted
                            and not _responses_cached(source, ctx))
        if needs_extraction:
            extracted.add(source.to_token())
            more, more_measured = _extract_seconds(source, ctx, log)
            seconds, measured = seconds + more, measured and more_measured
            label = f"extract {source.module} + {label}"
        plan.append(PlanItem(f"{label}: about {duration_text(seconds)} (not cached yet)", seconds, measured))
    return plan


def cached_result(request, *, ctx: AppContext) -> dict | None:
    """The part of a request that is already in the cache, in the job's result format
    (``callbacks.jobs.run_views``): a shared URL, a running job's finished views and the views done before a
    Cancel are shown without (re)running anything. None for a malformed request."""
    try:
        items = parse_request(request)
    except (ValueError, TypeError):
        return None
    views = []
    for (view, source, options), raw in zip(items, request["views"]):
        try:
            key = view_key(view, source, run=ctx.run, settings=ctx.settings,
                           **{**ctx.catalog.profile.options_for(view), **options})
        except (ValueError, TypeError):
            continue
        if key in ctx.cache:
            views.append({**view_summary(key, cache=ctx.cache), "options": raw.get("options") or {}})
    return {"page": request.get("page"), "views": views}


def same_views(a: dict | None, b: dict | None) -> bool:
    """Whether two results hold the same view artefacts (by key, in order)."""
    keys = [[v.get("key") for v in (r or {}).get("views", [])] for r in (a, b)]
    return keys[0] == keys[1]


def duration_text(seconds: float) -> str:
    """'under 5 s', '40 s', '19 min', '1.5 h'."""
    if seconds < 5:
        return "under 5 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_summary(request, *, ctx: AppContext) -> tuple[str, float]:
    """(one line for the page: total estimate and each item, total seconds)."""
    plan = plan_request(request, ctx=ctx)
    if not plan:
        return "", 0.0
    total = sum(item.seconds for item in plan)
    if total == 0:
        head = "Run: everything selected is cached (instant)."
    else:
        source = "measured on this machine" if all(i.measured for i in plan) else "estimate; not measured here yet"
        head = f"Run will take about {duration_text(total)} ({source})" + (
            ": long, pick fewer or cached sources for a quick look." if total > LONG_SECONDS else ".")
    return head + " " + "; ".join(item.text for item in plan), total


def compute_and_record(view: str, source, *, ctx: AppContext, control, **options) -> str:
    """``compute_view`` that records how long the extraction (per frame-sample) and the view took."""
    cached = view_key(view, source, run=ctx.run, settings=ctx.settings, **options) in ctx.cache
    extracting = source.kind == "model" and not _responses_cached(source, ctx)
    start = time.monotonic()
    key = workflows.compute_view(view, source, run=ctx.run, cache=ctx.cache, settings=ctx.settings,
                                 control=control, **options)
    seconds = time.monotonic() - start
    if cached:
        return key
    view_name = f"view|{view}|{source.name if source.kind == 'model' else 'bio'}"
    if extracting:
        # The view itself is a small part of a first visit; its own time is known from earlier runs.
        view_part = read_throughput(ctx).get(view_name, 0.0)
        record_throughput(ctx, f"extract|{source.name}|{source.module}",
                          max(seconds - view_part, 0.0) / _frame_samples(ctx))
    else:
        record_throughput(ctx, view_name, seconds)
    return key
