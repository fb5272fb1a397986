"""``python -m compute bio fetch|info``: download / describe the biological reference data (retina, V1)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from compute.cli._tables import exit_on_error
from compute.jobs import console_control


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute bio",
                                     description="Fetch (pinned URLs, SHA-256 checked) or describe the published "
                                                 "retina / V1 factors and cell info (Dyballa et al. 2024).")
    parser.add_argument("action", choices=("fetch", "info"))
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data folder; the files live in its bio/ (default: TWINSCOPE_DATA_DIR)")
    parser.add_argument("--mirror", action="append", default=None, metavar="URL",
                        help="fetch from a mirror holding the files flat (<URL>/<file>); repeatable")
    return parser


def _info(bio_dir: Path) -> int:
    from compute.bio.datasets import DATASETS, load_factors
    from compute.bio.fetch import file_status

    print(f"biological data in {bio_dir}")
    status = file_status(bio_dir)
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
    from compute.bio.datasets import resolve_bio_dir
    from compute.bio.fetch import default_bio_dir, fetch_bio

    with exit_on_error(errors=(ValueError, OSError), interrupted="interrupted; no partial file was kept") as failure:
        if args.action == "fetch":
            dest = default_bio_dir() if args.data_dir is None else args.data_dir / "bio"
            print(f"fetched and verified: {fetch_bio(dest, base_urls=args.mirror, control=console_control())}")
            return 0
        return _info(resolve_bio_dir(args.data_dir))
    return failure.exit_code
