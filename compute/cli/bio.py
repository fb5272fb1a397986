"""``python -m compute bio fetch|info``: download / describe the biological reference data (retina, V1)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from compute.bio import fetch
from compute.bio.datasets import DATASETS, load_factors, resolve_bio_dir
from compute.cli.data import add_source_arguments, run_fetch


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute bio",
                                     description="Fetch (pinned URLs, SHA-256 checked) or describe the published "
                                                 "retina / V1 factors and cell info (Dyballa et al. 2024).")
    parser.add_argument("action", choices=("fetch", "info"))
    add_source_arguments(parser)
    return parser


def _info(bio_dir: Path) -> int:
    print(f"biological data in {bio_dir}")
    status = fetch.file_status(bio_dir)
    for name, state in status.items():
        print(f"  {name:<30} {state}")
    if any(state != "ok" for state in status.values()):
        print("some files are missing or wrong: run `python -m compute bio fetch`", file=sys.stderr)
        return 1
    for name in DATASETS:
        factors = load_factors(name, data_dir=bio_dir)
        skipped = sorted(set(range(factors.neurons.shape[0])) - set(factors.cell_rows.tolist()))
        print(f"\n{name}: rank {factors.rank}; neurons {factors.neurons.shape}, stimuli {factors.stimuli.shape}, "
              f"maps {factors.maps.shape}; {factors.n_cells} cells (factor rows without a cell: {skipped})")
        print(f"  significant (cell, stimulus) pairs: {factors.significant.mean():.1%}")
        for column in ("cell_type", "layer", "put_type"):
            if column in factors.cells:
                counts = Counter(factors.cells[column].tolist())
                text = ", ".join(f"{k if k != '' else '(untyped)'}: {v}" for k, v in sorted(counts.items()))
                print(f"  {column}: {text}")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "fetch":
        return run_fetch(args, fetch.fetch_bio)
    return _info(resolve_bio_dir(args.data_dir))
