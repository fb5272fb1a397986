"""The one background job every page runs, and the data export of what a page shows.

A page puts a request into its ``JobIds.request(page)`` store: ``{"page": str, "views": [{"view": str,
"source": token, "options": dict}, ...]}``. The job computes each view once (``compute_view``; cached
views cost nothing), reporting progress into the shell's job bar, and returns only keys and small
summaries into ``JobIds.result(page)``. Cancel kills the job process; cache writes are atomic.

The final stage text is a regular output of the job, not a progress update: Dash keeps only the latest
progress value and drops it when the result lands in the same poll, so a job that ends fast would
otherwise leave the bar showing its previous state.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Callable

import numpy as np
from dash import Input, Output, State, dcc, no_update
from dash.exceptions import PreventUpdate

from app.ids import JobIds, ShellIds
from callbacks.context import AppContext
from callbacks.export import csv_table
from compute.jobs import JobControl
from compute.sources import Source
from compute.workflows import VIEWS, load_view, normalise_options, view_summary

log = logging.getLogger(__name__)
MAX_VIEWS = 40
PROGRESS_INTERVAL_S = 0.25
PAGE_VIEWS = {"explore": ("decoding", "encoding"), "compare": ("decoding", "encoding"),
              "tubularity": ("tubularity",), "alignment": ("alignment",), "accuracy": ("accuracy",)}
"""The views each page's job computes (and so the only artefacts its export serves)."""
JOB_PAGES = tuple(PAGE_VIEWS)
EXPORT_MAX_BYTES = 64 * 2**20  # NPZ: array bytes before compression
EXPORT_MAX_CSV_VALUES = 500_000  # CSV: rows of about 50 bytes


def parse_request(request) -> list[tuple[str, object, dict]]:
    """(view, Source, options) per requested view; ValueError / TypeError on a malformed request or an option
    outside ``compute.workflows.OPTION_BOUNDS`` (the browser's stores are not trusted)."""
    if request is None:
        raise ValueError("the page is still preparing its selection; press Run again in a moment")
    if not isinstance(request, dict) or not isinstance(request.get("views"), list):
        raise TypeError(f"a job request must be a dict with a 'views' list; got {type(request).__name__}")
    if request.get("page") is not None and request["page"] not in PAGE_VIEWS:
        raise ValueError(f"a job request's page must be one of {list(PAGE_VIEWS)}; got {request['page']!r}")
    views = request["views"]
    if not views:
        raise ValueError("nothing to compute: select at least one module or dataset (and stimuli)")
    if len(views) > MAX_VIEWS:
        raise ValueError(f"at most {MAX_VIEWS} views per job; got {len(views)}. Select fewer sources.")
    parsed = []
    for item in views:
        if not isinstance(item, dict) or item.get("view") not in VIEWS:
            raise ValueError(f"each requested view needs 'view' in {list(VIEWS)}; got {item!r}")
        options = {} if item.get("options") is None else item["options"]
        if not isinstance(options, dict):
            raise TypeError(f"view options must be a dict; got {type(options).__name__}")
        normalise_options(item["view"], options)  # the bounds of OPTION_BOUNDS, before any work starts
        parsed.append((item["view"], Source.parse(item.get("source")), options))
    return parsed


def _throttled(set_progress: Callable, start: float, span: float, prefix: str) -> Callable[[float, str], None]:
    last = [0.0]

    def progress(fraction: float, text: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        set_progress((f"{start + span * fraction:.4f}", f"{prefix}: {text}"))

    return progress


def run_views(set_progress: Callable, request, *, ctx: AppContext) -> tuple[dict | None, str, tuple[str, str]]:
    """Compute every view of ``request``; returns (result for the page's store, error text or "",
    final (progress value, stage text)).

    The result is ``{"page": str, "views": [view_summary(key) + {"options": dict}, ...]}`` (a few kB) with
    the views that succeeded. A malformed request gives no result; a view that fails does not stop the
    others: compute's ValueError / TypeError / KeyError texts are shown as written, anything else is
    logged with its traceback and named in the error text.
    """
    from callbacks.plan import compute_and_record  # plan reads this module's parse_request

    try:
        items = parse_request(request)
    except (ValueError, TypeError) as error:
        return None, f"Job not started: {error}", ("0", "failed")
    set_progress(("0", f"starting {len(items)} view(s)"))
    results, errors = [], []
    for i, (view, source, options) in enumerate(items):
        prefix = f"{i + 1}/{len(items)} {view} of {source.to_token()}"
        control = JobControl(progress=_throttled(set_progress, i / len(items), 1 / len(items), prefix))
        try:
            key = compute_and_record(view, source, ctx=ctx, control=control,
                                     **{**ctx.catalog.profile.options_for(view), **options})
        except (ValueError, TypeError, KeyError) as error:
            errors.append(f"{prefix}: {str(error).strip(chr(39))}")
            continue
        except Exception as error:  # noqa: BLE001 - logged in full, named to the user, other views go on
            log.exception("view job failed: %s", prefix)
            errors.append(f"{prefix}: internal error {type(error).__name__}: {error} (see the server log)")
            continue
        results.append({**view_summary(key, cache=ctx.cache), "options": options})
    done = ("1", f"done: {len(results)} of {len(items)} view(s)")
    return {"page": request.get("page"), "views": results}, " | ".join(errors), done


def _shown_arrays(result, page: str | None, *, ctx: AppContext) -> dict[str, np.ndarray]:
    """``"view|source|array" -> array`` of the view artefacts listed in a page's job result; ValueError for
    anything else (a key of another kind or page, a malformed entry, an artefact no longer cached)."""
    if not isinstance(result, dict) or not result.get("views"):
        raise ValueError("nothing to export yet: press Run first (Export saves the data of the views shown)")
    shown_page = result.get("page") or page
    if shown_page not in PAGE_VIEWS or (page is not None and shown_page != page):
        raise ValueError(f"this result belongs to page {shown_page!r}, not {page!r}; run the page's job again")
    if not isinstance(result["views"], list) or len(result["views"]) > MAX_VIEWS:
        raise ValueError(f"a job result lists at most {MAX_VIEWS} views; run the page's job again")
    arrays: dict[str, np.ndarray] = {}
    for entry in result["views"]:
        view = entry.get("view") if isinstance(entry, dict) else None
        key = entry.get("key") if view in PAGE_VIEWS[shown_page] else None
        if not isinstance(key, str) or not key.startswith(f"view-{view}-"):
            raise ValueError(f"cannot export {repr(entry)[:120]}: not a {' or '.join(PAGE_VIEWS[shown_page])} view of "
                             "this page's result; run the page's job again")
        try:
            data, meta = load_view(key, cache=ctx.cache)
        except KeyError:
            raise ValueError("a view of this result is no longer in the cache; run the page's job again") from None
        for name, array in data.items():
            if array.dtype.kind in "biufU" and array.size:
                arrays[f"{view}|{meta.get('source')}|{name}"] = array
    return arrays


def export_views(result: dict | None, fmt: str, *, ctx: AppContext, page: str | None = None) -> dict:
    """The arrays of the views a page shows, as a ``dcc.Download`` payload (NPZ, or CSV in long format:
    one row per array element with its view, source, array name, named axes and indices, and value).

    Only view artefacts of ``page``'s job (``PAGE_VIEWS``) are served, up to ``EXPORT_MAX_BYTES`` (NPZ) or
    ``EXPORT_MAX_CSV_VALUES`` (CSV); ValueError otherwise.
    """
    if fmt not in ("npz", "csv"):
        raise ValueError(f"export format must be 'npz' or 'csv'; got {fmt!r}")
    arrays = _shown_arrays(result, page, ctx=ctx)
    name = f"twinscope-{result.get('page') or 'views'}"
    n_bytes, n_values = sum(a.nbytes for a in arrays.values()), sum(a.size for a in arrays.values())
    if fmt == "npz":
        if n_bytes > EXPORT_MAX_BYTES:
            raise ValueError(f"the shown data holds {n_bytes / 2**20:.0f} MiB; export is capped at "
                             f"{EXPORT_MAX_BYTES / 2**20:.0f} MiB. Select fewer sources, or use the CLI")
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return dcc.send_bytes(buf.getvalue(), f"{name}.npz")
    if n_values > EXPORT_MAX_CSV_VALUES:
        raise ValueError(f"the shown data holds {n_values:,} values; CSV export is capped at "
                         f"{EXPORT_MAX_CSV_VALUES:,}. Export NPZ, or select fewer sources")
    return dcc.send_string(csv_table(arrays), f"{name}.csv")


def job_failed(error: Exception) -> tuple:
    """Outputs of a job that ended without a result (its Celery worker died): the reason in the error bar."""
    reason = str(error).removeprefix("An error occurred inside a background callback: ").split("\n")[0]
    return no_update, f"Job failed: {reason}", "0", "failed"


def job_bar_callback(app, result: Output, *inputs: Input | State) -> Callable:
    """``app.callback`` of a background job that reports into the shell's job bar: it outputs ``result``, the
    bar's error text, progress value and stage text; it sets progress (value, stage, live flag), the running
    flags and Cancel, and ``job_failed`` answers for a job that ended without a result."""
    return app.callback(
        result,
        Output(ShellIds.ERROR, "children", allow_duplicate=True),
        Output(ShellIds.PROGRESS, "value", allow_duplicate=True),
        Output(ShellIds.STAGE, "children", allow_duplicate=True),
        *inputs,
        background=True,
        running=[(Output(ShellIds.RUNNING, "data"), True, False), (Output(ShellIds.LIVE, "data"), False, False)],
        progress=[Output(ShellIds.PROGRESS, "value"), Output(ShellIds.STAGE, "children"),
                  Output(ShellIds.LIVE, "data")],
        cancel=[Input(ShellIds.CANCEL, "n_clicks")],
        on_error=job_failed,
        prevent_initial_call=True,
    )


def register_page_job(app, page: str, ctx: AppContext) -> None:
    """The background job and the export of one page (the same engine for every page).

    Dash keys a job's result slot by its arguments and empties the slot on the first poll that reads it, so
    the job also takes the page load's nonce (``ShellIds.SESSION``): two sessions that run the same request
    get a slot each, while ``compute_view`` still computes identical work once.

    Every progress update also sets ``ShellIds.LIVE``: the browser knows a job's id (and can cancel it)
    only from its first poll on, so Cancel is enabled from the first progress update, not from the click.
    """

    @job_bar_callback(app, Output(JobIds.result(page), "data"), Input(JobIds.run(page), "n_clicks"),
                      State(JobIds.request(page), "data"), State(ShellIds.SESSION, "data"))
    def run_job(set_progress, clicks, request, _session):
        if not clicks:
            raise PreventUpdate
        result, error, (value, stage) = run_views(lambda update: set_progress((*update, True)), request, ctx=ctx)
        return (no_update if result is None else result), error, value, stage

    @app.callback(
        Output(JobIds.download(page), "data"),
        Output(ShellIds.ERROR, "children", allow_duplicate=True),
        Input(JobIds.export(page), "n_clicks"),
        State(JobIds.result(page), "data"),
        State(JobIds.export_format(page), "value"),
        prevent_initial_call=True,
    )
    def export(clicks, result, fmt):
        if not clicks:
            raise PreventUpdate
        try:
            return export_views(result, fmt, ctx=ctx, page=page), ""
        except (ValueError, TypeError) as error:
            return no_update, f"Export: {error}"


def register(app, ctx: AppContext) -> None:
    for page in JOB_PAGES:
        register_page_job(app, page, ctx)
