"""Time rendering the full stimulus suite (11 classes x 8 directions x 3 instances x 37 frames), then
loading it from the artefact cache.

    python benchmarks/bench_stimuli.py                 # 3 instances, seed 0, a temporary cache
    python benchmarks/bench_stimuli.py --repeats 3 --instances 1

Goal (issue 2): the whole suite in a few seconds on 2 cores. Prints wall and process CPU seconds, so
that numbers taken on a busy machine can be read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from benchmarks._timing import timed
from compute import stimuli
from compute.cache import ArtifactCache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; suite of {len(stimuli.CLASS_NAMES)} classes x {len(stimuli.DIRECTIONS)} "
          f"directions x {args.instances} instances x {stimuli.N_FRAMES} frames")
    for seed in range(args.repeats):
        spec = stimuli.SuiteSpec(n_instances=args.instances, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            cache = ArtifactCache(tmp)
            frames, wall, cpu = timed(lambda: stimuli.render_suite(spec))
            print(f"render_suite           {wall:6.2f} s wall  {cpu:6.2f} s CPU  {frames.nbytes / 1e6:.0f} MB")
            _, wall, cpu = timed(lambda: stimuli.get_suite(spec, cache=cache))
            print(f"get_suite (miss, put)  {wall:6.2f} s wall  {cpu:6.2f} s CPU")
            _, wall, cpu = timed(lambda: stimuli.get_suite(spec, cache=cache))
            print(f"get_suite (cached)     {wall:6.2f} s wall  {cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
