"""Render a computed replication report (``compute.report``) as ONE self-contained HTML file: plotly.js
inline once, every figure built by ``app.figures`` from the cached views, the comparison tables and the
manifest; the data behind every figure next to it (``compute.report.write_data``).

``python -m app.report OUT`` renders ``OUT/report.html`` of a report whose data is written under OUT; it is
how ``python -m compute report`` renders (compute never imports app/, where plotly lives)."""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from app import figures
from app.collect import accuracy_windows, alignment_series, alignment_table_data
from compute.report import (SOURCE_VIEWS, UNTRAINED_NOTE, ReportResult, comparison_tables, data_stem, write_data,
                            written_result)
from compute.workflows import load_typed

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}.bad{background:#fde2e2}.note{background:#fff6d6;padding:0.6em;border-left:4px solid #e0b000}
.figs{display:flex;flex-wrap:wrap;gap:8px}.figs>div{flex:1 1 560px}
pre{background:#f7f7f7;padding:0.8em;overflow:auto}"""


def _figure_html(fig: go.Figure) -> str:
    return f"<div>{fig.to_html(full_html=False, include_plotlyjs=False, config={'displaylogo': False})}</div>"


def view_figures(view: str, key: str, result: ReportResult) -> list[go.Figure]:
    """The figures of one source's view (the app's own builders)."""
    art = load_typed(key, cache=result.cache)
    if view == "decoding":
        return [figures.decoding_manifold_figure(art.coords, art.labels, art.stimuli,
                                                 explained_variance=art.manifold_evr, **art.flags()),
                figures.trajectories_figure(art.curves, art.labels, art.stimuli, time=art.time,
                                            explained_variance=art.trajectory_evr, **art.flags())]
    if view == "accuracy":
        return [figures.accuracy_figure(**accuracy_windows(key, cache=result.cache))]
    if view == "tubularity":
        out = [figures.tube_figure(art.bundle_curves, art.bundle_labels, art.centerlines, art.stimuli, **art.flags())]
        if art.sensitivity_s_tight is not None:
            out.append(figures.sensitivity_heatmap(art.sensitivity_qs, art.sensitivity_smoothings,
                                                   art.sensitivity_s_tight))
        return out
    if view == "encoding":
        options = art.color_options
        name = "cluster" if "cluster" in options else next(iter(options), "")
        return [figures.encoding_figure(art.coords, color=art.colors.get(name), color_name=name,
                                        categorical=options.get(name) == "categorical", unit_index=art.unit_index,
                                        **art.flags())]
    raise ValueError(f"no report figures for view {view!r}; views are {list(SOURCE_VIEWS)}")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p>No published value for these sources.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in columns)
        body.append(f"<tr class='{'bad' if row.get('disagrees') else ''}'>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "DISAGREES" if value else "agrees"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _tables_html(result: ReportResult) -> str:
    tables = comparison_tables(result)
    note = (f"<p class='note'>{html.escape(UNTRAINED_NOTE)}</p>" if result.manifest["weights"]["untrained"] else "")
    return (f"<section id='tables'><h2>twinscope vs the seed study's published values</h2>{note}"
            "<p>Disagrees = differs by more than 2 x twinscope's spread (SD over CV repeats; SE over bootstraps) "
            "plus the published value's rounding. Published values: METHODS.md sections 4, 6 and 7.</p>"
            "<h3>Decoding accuracy (logistic)</h3>"
            + _table(tables["decoding"], ["source", "twinscope", "spread", "published", "knn", "chance", "disagrees"])
            + "<h3>Tubularity</h3>"
            + _table(tables["tubularity"], ["source", "metric", "twinscope", "spread", "published", "disagrees"])
            + "<h3>Alignment pattern</h3>"
            + _table(tables["alignment"], ["claim", "twinscope", "published", "disagrees"]) + "</section>")


def _alignment_html(result: ReportResult) -> str:
    keys: dict[str, dict[str, str]] = {}
    for item, key in result.keys.items():
        if item.startswith("alignment|"):
            _, token, dataset = item.split("|")
            keys.setdefault(token.split(":")[-1].replace("+", " "), {})[dataset] = key
    figs = [figures.alignment_figure(**alignment_series(keys, cache=result.cache)),
            figures.alignment_table_figure(**alignment_table_data(keys, cache=result.cache))]
    return ("<section id='alignment'><h2>Alignment with retina and V1 (RSA, CCA, LP, DSA, mean)</h2>"
            f"{''.join(map(_figure_html, figs))}</section>")     # stacked: the four panels need the full width


def _sources_html(result: ReportResult) -> str:
    parts = []
    for view in SOURCE_VIEWS:
        parts.append(f"<section id='{view}'><h2>{html.escape(view.capitalize())}</h2>")
        for source in result.plan.sources():
            item = f"{view}|{source.to_token()}"
            key = result.keys[item]
            art = load_typed(key, cache=result.cache)
            extra = ""
            if view == "encoding" and art.diagnostics:
                extra = f"<pre>rank diagnostics: {html.escape(json.dumps(art.diagnostics, default=str))}</pre>"
            parts.append(f"<h3>{html.escape(art.label)}</h3><p>data: <code>data/{data_stem(item)}.npz</code>, "
                         f"<code>data/{data_stem(item)}.json</code>; key <code>{key}</code></p>{extra}"
                         f"<div class='figs'>{''.join(map(_figure_html, view_figures(view, key, result)))}</div>")
        parts.append("</section>")
    return "".join(parts)


def render_report(result: ReportResult, out: str | Path) -> Path:
    """Write ``report.html`` plus ``manifest.json``, ``tables.json`` and ``data/`` under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_data(result, out)
    return render_html(result, out)


def render_html(result: ReportResult, out: Path) -> Path:
    """Write ``out/report.html`` (its data files are ``write_data``'s); returns its path."""
    manifest = result.manifest
    plan = manifest["plan"]
    title = f"twinscope replication report: {plan['model']} ({plan['profile']} profile)"
    body = (f"<h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(manifest['weights']['label'])}; started {manifest['started']}, "
            f"finished {manifest['finished']}; twinscope {manifest['twinscope_commit']}.</p>"
            f"<section id='manifest'><h2>Manifest</h2><p>Regenerate: <code>python -m compute report --manifest "
            f"manifest.json</code> recomputes the same keys (served from the cache).</p>"
            f"<details><summary>The whole manifest: versions, settings and seeds, machine, weights, cache keys"
            f"</summary><pre>{html.escape(json.dumps(manifest, indent=1, default=str))}</pre></details></section>"
            + _tables_html(result) + _alignment_html(result) + _sources_html(result))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
            f"<body>{body}</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.report",
                                     description="Render OUT/report.html of a replication report written under OUT "
                                                 "(python -m compute report does this itself); its views are read "
                                                 "from the cache (TWINSCOPE_CACHE_DIR).")
    parser.add_argument("out", type=Path, help="the report's folder (with manifest.json and data/)")
    args = parser.parse_args(argv)
    try:
        path = render_html(written_result(args.out), args.out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyError as error:
        print(f"error: a view of this report is not in the cache ({error}); recompute it: python -m compute report "
              f"--manifest {args.out / 'manifest.json'} --out {args.out}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
