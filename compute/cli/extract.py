"""``python -m compute extract``: run a model on the stimulus suite and cache per-module response sets."""

from __future__ import annotations

import argparse
import dataclasses

from compute.cache import default_cache
from compute.cli._tables import exit_on_error
from compute.config import DEVICES, Settings
from compute.jobs import console_control
from compute.sampling import SamplingSettings
from compute.stimuli import SuiteSpec


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute extract",
                                     description="Extract the responses of sampled units of a model's modules "
                                                 "(METHODS.md 2.2-2.3) into the artefact cache.")
    parser.add_argument("--model", default="fnn-random", help="registry name (default: fnn-random)")
    parser.add_argument("--modules", nargs="+", default=["all"],
                        help="module names, e.g. 'Enc L1' Rec, or 'all' (default)")
    parser.add_argument("--instances", type=int, default=3, help="stimulus instances per condition (default: 3)")
    parser.add_argument("--frames", type=int, default=37, help="frames per sequence (default: 37)")
    parser.add_argument("--suite-seed", type=int, default=0, help="stimulus seed (default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="unit-sampling seed (default: 0)")
    parser.add_argument("--crop", choices=("authors", "symmetric"), default="authors")
    parser.add_argument("--recurrent-channels", choices=("authors", "all streams"), default="authors")
    parser.add_argument("--device", choices=DEVICES, default=None, help="default: TWINSCOPE_DEVICE or auto")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per batch (default: by device)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes on CPU, one thread each (default: TWINSCOPE_EXTRACT_WORKERS or "
                             "min(2, cores); 1 on CUDA)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    import torch

    from compute.extraction import extract

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    settings = Settings.from_env()
    if args.device is not None:
        settings = dataclasses.replace(settings, device=args.device)
    modules = None if args.modules == ["all"] else args.modules
    cache = default_cache()
    with exit_on_error(errors=(ValueError, TypeError, OSError, RuntimeError),
                       interrupted="interrupted; no partial result was written") as failure:
        if args.workers is not None:
            settings = dataclasses.replace(settings, extract_workers=args.workers)
        suite = SuiteSpec(n_instances=args.instances, n_frames=args.frames, seed=args.suite_seed)
        sampling = SamplingSettings(crop=args.crop, recurrent_channels=args.recurrent_channels)
        keys = extract(args.model, modules, suite=suite, sampling=sampling, seed=args.seed, cache=cache,
                       settings=settings, control=console_control(), batch_size=args.batch_size)
    if failure.exit_code is not None:
        return failure.exit_code
    for module, key in keys.items():
        print(f"{module}\t{key}\t{cache.path(key)}")
    return 0
