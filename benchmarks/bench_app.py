"""App timings: cold start (create_app + first requests) and the server time of the view callbacks
served from cache (p50 / p95 over repeated calls; goal p95 <= 150 ms). The Explore decoding callback
memoises its figures per artefact and process; "first draw" times a call with that memo cleared.

    TWINSCOPE_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_app.py [--repeats 30]

Uses a fresh temporary cache: the retina decoding view is computed once (real data), the encoding view
is a synthetic 2000-unit artefact (the size of a model module). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import call_times  # noqa: E402


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Median and 95th percentile of ``repeats`` calls, in ms."""
    p50, p95 = np.percentile(call_times(fn, repeats), [50, 95]) * 1e3
    return float(p50), float(p95)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    os.environ["TWINSCOPE_CACHE_DIR"] = tempfile.mkdtemp(prefix="twinscope-bench-app-")
    from compute.config import Settings

    settings = Settings.from_env()

    from app.catalog import get_catalog

    start = time.perf_counter()
    get_catalog(settings)
    print(f"catalogue (model registry, datasets, presets): {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    from app import create_app

    app = create_app(settings)
    built = time.perf_counter() - start
    client = app.server.test_client()
    for path in ("/", "/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 200
    print(f"cold start: create_app {built * 1e3:.0f} ms, + first requests {(time.perf_counter() - start) * 1e3:.0f} ms")

    from callbacks import compare, explore
    from callbacks.context import AppContext
    from callbacks.jobs import run_views
    from compute.cache import ArtifactCache
    from tests.app.conftest import encoding_arrays, plant_view

    ctx = AppContext(settings, ArtifactCache(settings.cache_dir / "artifacts"),
                     get_catalog(settings))
    start = time.perf_counter()
    result, error, _ = run_views(lambda p: None, {"page": "explore", "views": [
        {"view": "decoding", "source": "bio:retina", "options": {}}]}, ctx=ctx)
    print(f"retina decoding view computed once: {time.perf_counter() - start:.1f} s {error}")
    arrays, meta = encoding_arrays(n_units=2000)
    from app.catalog import source_token

    model = ctx.catalog.profile.model
    module = ctx.catalog.models[model].modules[0]
    token = source_token("model", model, module)
    key = plant_view(ctx, "encoding", token, arrays, meta)
    result["views"].append({"view": "encoding", "source": token, "key": key})

    cases = {
        "job on cached views (keys + summaries)": lambda: run_views(lambda p: None, {"page": "explore", "views": [
            {"view": "decoding", "source": "bio:retina", "options": {}}]}, ctx=ctx),
        "decoding + trajectories (retina, 48 x 135)": lambda: explore.decoding_views(
            result, "bio:retina", None, False, 0.5, 2, ctx=ctx),
        "  ... first draw (figure memo cleared)": lambda: (
            explore._decoding_artifact.cache_clear(), explore._decoding_figures.cache_clear(),
            explore.decoding_views(result, "bio:retina", None, False, 0.5, 2, ctx=ctx)),
        "  ... with crossing events (eps 0.05)": lambda: explore.decoding_views(
            result, "bio:retina", None, True, 0.05, 2, ctx=ctx),
        "encoding manifold (2000 units, by cluster)": lambda: explore.encoding_view(
            result, f"model:{model}", module, "cluster", ctx=ctx),
        "encoding manifold (2000 units, by OSI)": lambda: explore.encoding_view(
            result, f"model:{model}", module, "OSI", ctx=ctx),
        "compare panel (retina trajectories)": lambda: compare.panel_figure(result, "bio:retina", "trajectories",
                                                                            ctx=ctx),
    }
    print(f"view callbacks served from cache ({args.repeats} calls each; goal p95 <= 150 ms):")
    for name, fn in cases.items():
        p50, p95 = _timed(fn, args.repeats)
        print(f"  {name:<45} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
