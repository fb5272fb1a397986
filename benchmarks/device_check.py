"""One prepared device check (issue 16 item 6): CPU vs CUDA agreement, full extraction time, view times.

    python benchmarks/device_check.py [--small] [--model fnn-random] [--module Rec] [--views decoding ...]

With CUDA (``torch.cuda.is_available()``), in about 8 minutes on one H100:

(a) agreement: every module of the FNN on 2 sequences (a grating and a dot flow, 37 frames), the full
    transformed hooked maps on CPU and on CUDA; max relative difference = max |cpu - cuda| / max |cpu| per
    module. TF32 is off unless ``TWINSCOPE_TF32=1`` (``compute.models.registry.configure_tf32``).
(b) the full extraction of all modules (216 sequences x 37 frames) into an empty temporary cache;
(c) every view of one module (``compute.workflows.compute_view``, default options) from those responses.

Without CUDA, or with ``--small``, the same steps run at small sizes on the CPU, so that CI keeps the script
working: (a) on a 30-output FNN, 2 frames; (b) and (c) on the small 3-D CNN ("conv3d-random", module Conv2)
with one instance of 4 frames and quick view options.
Prints ONE table: step, what, seconds, result. Exit status 1 if any step failed (the table says which).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compute.extraction import hooks  # noqa: E402
from compute.cache import ArtifactCache  # noqa: E402
from compute.config import Settings  # noqa: E402
from compute.extraction import extract  # noqa: E402
from compute.models.fnn import build_fnn  # noqa: E402
from compute.models.registry import FNN_MODULE_SPECS, configure_tf32, get_model  # noqa: E402
from compute.stimuli import SuiteSpec, get_suite  # noqa: E402
from compute.sources import RunSettings, Source  # noqa: E402
from compute.workflows import VIEWS, compute_view  # noqa: E402

SMALL_VIEW_OPTIONS = {"accuracy": {"windows": False}, "tubularity": {"n_boot": 2, "sensitivity": False},
                      "alignment": {"dataset": "V1", "methods": ("rsa", "cca", "lp")},
                      "encoding": {"rank": 3, "n_restarts": 1}}


def _maps(model: torch.nn.Module, specs, frames: np.ndarray, device: torch.device) -> dict[str, list[torch.Tensor]]:
    """Transformed hooked maps of every module, per frame, on the CPU: {name: [(n_seq, ...) per frame]}."""
    out: dict[str, list[torch.Tensor]] = {spec.name: [] for spec in specs}
    model = model.to(device).eval()

    def sink(spec, tensor):
        out[spec.name].append(hooks._transform(spec, tensor, model).float().cpu())

    with torch.inference_mode(), hooks._hooks(model, specs, sink):
        model.reset()
        batch = torch.from_numpy(frames).to(device)
        for t in range(frames.shape[1]):
            model(batch[:, t].unsqueeze(1).float() / 255.0)
    model.reset()
    return out


def agreement(model: torch.nn.Module, specs, frames: np.ndarray, devices: tuple[str, str]) -> dict[str, float]:
    """Max relative difference per module between two devices on the sequences ``frames`` (n_seq, T, H, W)."""
    a = _maps(model, specs, frames, torch.device(devices[0]))
    b = _maps(model, specs, frames, torch.device(devices[1]))
    return {name: max(float((x - y).abs().max()) for x, y in zip(a[name], b[name]))
            / max(max(float(x.abs().max()) for x in a[name]), 1e-30) for name in a}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="small sizes even when CUDA is there")
    parser.add_argument("--model", help="model of (b) and (c) (default: fnn-random; small: conv3d-random)")
    parser.add_argument("--module", help="module whose views are timed (default: Rec; small: Conv2)")
    parser.add_argument("--views", nargs="+", choices=VIEWS, default=list(VIEWS), help="views of (c) (default: all)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    small = args.small or not cuda
    model_name = args.model or ("conv3d-random" if small else "fnn-random")
    module = args.module or ("Conv2" if small else "Rec")
    device = "cuda" if cuda else "cpu"
    tf32 = configure_tf32()
    print(f"device_check: torch {torch.__version__}, "
          + (f"CUDA {torch.cuda.get_device_name(0)}, TF32 {'on' if tf32 else 'off'}" if cuda else
             "CUDA was not found: CPU only, small sizes")
          + f", {os.cpu_count()} CPUs, {'small' if small else 'full'} sizes", flush=True)
    rows: list[tuple[str, str, float, str]] = []
    failed = False

    def step(name: str, what: str, func) -> object:
        nonlocal failed
        start = time.perf_counter()
        try:
            result = func()
            text = result if isinstance(result, str) else "ok"
        except Exception as err:  # reported in the table; the other steps still run
            failed, result = True, None
            text = f"FAILED: {type(err).__name__}: {err}"[:160]
            traceback.print_exc()
        rows.append((name, what, time.perf_counter() - start, text))
        print(f"  {name}: {what} {rows[-1][2]:.1f} s {text}", flush=True)
        return result

    with tempfile.TemporaryDirectory(prefix="device-check-") as tmp:
        settings = Settings(cache_dir=Path(tmp), data_dir=Settings.from_env().data_dir, device=device)
        cache = ArtifactCache(Path(tmp) / "artifacts")
        n_frames = 2 if small else 37
        pair = get_suite(SuiteSpec(n_instances=1, n_frames=n_frames, classes=(0, 3)), cache=cache)[:, 0, 0]
        devices = ("cpu", "cuda") if cuda else ("cpu", "cpu")
        fnn = build_fnn(n_units=30, seed=0) if small else get_model("fnn-random").build(settings)[0]
        diffs = step("(a)", f"FNN agreement {devices[0]} vs {devices[1]}, 2 sequences x {n_frames} frames",
                     lambda: agreement(fnn, FNN_MODULE_SPECS, pair, devices))
        for name, diff in (diffs or {}).items():
            rows.append(("(a)", f"  {name}", float("nan"), f"max rel diff {diff:.2e}"))
        run = RunSettings(instances=1, n_frames=4) if small else RunSettings()

        def extract_all() -> str:
            keys = extract(model_name, suite=run.suite_spec(), sampling=run.sampling_settings(), cache=cache,
                           settings=settings)
            return f"{len(keys)} modules"

        step("(b)", f"{model_name}: extraction of all modules, {88 if small else 216} sequences x "
             f"{run.n_frames} frames", extract_all)
        source = Source("model", model_name, module)
        for view in args.views:
            options = SMALL_VIEW_OPTIONS.get(view, {}) if small else ({"dataset": "V1"} if view == "alignment" else {})
            step("(c)", f"view {view} of {module}",
                 lambda view=view, options=options: compute_view(view, source, run=run, cache=cache,
                                                                 settings=settings, **options) and "ok")
    print()
    print(f"{'step':<5} {'what':<62} {'seconds':>8}  result")
    for name, what, seconds, text in rows:
        shown = "" if np.isnan(seconds) else f"{seconds:8.1f}"
        print(f"{name:<5} {what:<62} {shown:>8}  {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
