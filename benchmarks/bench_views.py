"""Time compute_view per view, then serving from the cache (load_view + figure building).

    python benchmarks/bench_views.py                       # synthetic (2000, 11, 8, 37) model-like set
    python benchmarks/bench_views.py --model fnn-random --module Rec   # a real module (extracts if needed)
    python benchmarks/bench_views.py --views decoding tubularity --repeats 50

Serving goal (issue 7): p95 <= 150 ms per view. Uses a temporary cache unless --cache is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from app import figures
from app.collect import accuracy_windows, alignment_series, alignment_table_data, tubularity_comparison
from benchmarks._timing import call_times, timed
from compute.cache import ArtifactCache
from compute.config import Settings
from compute.responses import ResponseSet
from compute.sources import RunSettings, Source, source_key, source_responses
from compute.stimuli import CLASS_NAMES
from compute.workflows import compute_view, load_view, unit_response_map


def synthetic_set(rng: np.random.Generator, n_units: int = 2000) -> ResponseSet:
    """Model-like responses: smooth 6-D latent trajectories per condition through a random rectified map."""
    n_stim, n_dir, n_time = len(CLASS_NAMES), 8, 37
    t = np.linspace(0, 1, n_time)
    phase = rng.uniform(0, 2 * np.pi, size=(n_stim, n_dir, 6, 1))
    freq = rng.uniform(0.5, 2.0, size=(n_stim, 1, 6, 1))
    latent = np.sin(2 * np.pi * freq * t + phase) * t  # (stim, dir, 6, time)
    weights = rng.normal(size=(n_units, 6))
    resp = np.einsum("uk,sdkt->usdt", weights, latent) + 0.3 * rng.normal(size=(n_units, n_stim, n_dir, n_time))
    return ResponseSet(responses=np.maximum(resp, 0).astype(np.float32), stimuli=CLASS_NAMES,
                       time=np.arange(n_time) / 30.0,
                       units={"module": np.full(n_units, "Synthetic"), "stream": rng.integers(0, 4, n_units),
                              "channel": rng.integers(0, 40, n_units)},
                       provenance={"label": "synthetic / Synthetic", "untrained": True})


def figures_for(view: str, key: str, cache: ArtifactCache) -> list:
    arrays, meta = load_view(key, cache=cache)
    flags = {"untrained": meta["untrained"], "reconstructed": meta["reconstructed"]}
    if view == "decoding":
        return [figures.decoding_manifold_figure(arrays["coords"], arrays["labels"], meta["stimuli"],
                                                 explained_variance=arrays["manifold_evr"], **flags),
                figures.trajectories_figure(arrays["curves"], arrays["labels"], meta["stimuli"],
                                            time=arrays["time"], explained_variance=arrays["trajectory_evr"], **flags)]
    if view == "accuracy":
        return [figures.accuracy_figure(**accuracy_windows(key, cache=cache))]
    if view == "tubularity":
        out = [figures.tubularity_bars(**tubularity_comparison({"this": key}, cache=cache)),
               figures.tube_figure(arrays["bundle_curves"], arrays["bundle_labels"], arrays["centerlines"],
                                   meta["stimuli"], **flags)]
        if "sensitivity_s_tight" in arrays:
            out.append(figures.sensitivity_heatmap(arrays["sensitivity_qs"], arrays["sensitivity_smoothings"],
                                                   arrays["sensitivity_s_tight"]))
        return out
    if view == "alignment":
        keys = {"this": {"V1": key}}
        return [figures.alignment_figure(**alignment_series(keys, cache=cache)),
                figures.alignment_table_figure(**alignment_table_data(keys, cache=cache))]
    if view == "encoding":
        return [figures.encoding_figure(arrays["coords"], color=arrays.get("color__cluster"), color_name="cluster",
                                        categorical=True, unit_index=arrays["unit_index"], **flags)]
    raise ValueError(f"no figure recipe for view {view!r} in this benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="registry model name (default: synthetic set)")
    parser.add_argument("--module", default="Rec")
    parser.add_argument("--views", nargs="+", default=["decoding", "accuracy", "tubularity", "alignment", "encoding"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cache", type=Path, help="cache folder (default: a temporary one)")
    parser.add_argument("--quick", action="store_true", help="accuracy without windows, 5 bootstraps")
    args = parser.parse_args()

    root = args.cache or Path(tempfile.mkdtemp(prefix="bench-views-"))
    cache = ArtifactCache(root / "artifacts")
    settings = Settings(cache_dir=root, data_dir=Settings.from_env().data_dir)
    if args.model:
        source = Source("model", args.model, args.module)
        t0 = time.perf_counter()
        rs = source_responses(source, run=RunSettings(), cache=cache, settings=settings)
        print(f"responses {rs.shape}: {time.perf_counter() - t0:.1f} s (extraction or cache)")
    else:
        source = Source("model", "synthetic", "Synthetic")
        rs = synthetic_set(np.random.default_rng(0))
        cache.put_responses("responses-synthetic", rs)
        cache.put(source_key(source, settings=settings), {}, {"responses_key": "responses-synthetic"})
        print(f"synthetic responses {rs.shape}")

    options = {"accuracy": {"windows": not args.quick}, "tubularity": {"n_boot": 5 if args.quick else 30},
               "alignment": {"dataset": "V1"}}
    print(f"{'view':<11} {'compute s':>10} {'serve p50 ms':>13} {'serve p95 ms':>13}")
    for view in args.views:
        key, compute_s, _ = timed(lambda: compute_view(view, source, cache=cache, settings=settings,
                                                       **options.get(view, {})))
        serve = call_times(lambda: [fig.to_plotly_json() for fig in figures_for(view, key, cache)],  # what Dash sends
                           args.repeats)
        p50, p95 = np.percentile(1e3 * serve, [50, 95])
        print(f"{view:<11} {compute_s:>10.2f} {p50:>13.1f} {p95:>13.1f}")
    try:
        import compute.analysis.diagnostics  # noqa: F401  (unit_response_map needs Task E's unit_tuning)
    except ModuleNotFoundError:
        print("psth: skipped, compute.analysis.diagnostics does not exist yet")
        return
    times = []
    for unit in range(args.repeats):
        t0 = time.perf_counter()
        unit_map = unit_response_map(source, unit, cache=cache, settings=settings)
        figures.psth_figure(unit_map["map"], unit_map["stimuli"], time=unit_map["time"]).to_plotly_json()
        times.append(1e3 * (time.perf_counter() - t0))
    print(f"{'psth':<11} {'':>10} {np.percentile(times, 50):>13.1f} {np.percentile(times, 95):>13.1f}")


if __name__ == "__main__":
    main()
