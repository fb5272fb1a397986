"""Helpers shared by the commands: one source (a dataset, or a model module) from the command line, load a
dataset or an extracted module, print an aligned text table, write a CSV."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Sequence

from compute.responses import ResponseSet


def add_source_arguments(parser: argparse.ArgumentParser, *, module_example: str = "Rec") -> None:
    """``--dataset retina|V1`` or ``--model M --module NAME`` (check with ``check_source_arguments``)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=("retina", "V1"), help="a biological reference")
    source.add_argument("--model", help="a model of the registry (e.g. fnn-random); needs --module")
    parser.add_argument("--module", help=f"module of --model, e.g. {module_example!r} (extract it first)")


def check_source_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.model is not None and args.module is None:
        parser.error("--model needs --module")


def load_dataset(name: str, *, seed: int = 0) -> ResponseSet:
    """A biological reference (``compute.bio.datasets.load_dataset``)."""
    from compute.bio.datasets import load_dataset as load

    return load(name, random_state=seed)


def load_module(model: str, module: str, *, seed: int = 0) -> ResponseSet:
    """An extracted module; KeyError (with the extract command to run) when it is not cached."""
    from compute.extraction import load_responses

    return load_responses(model, module, seed=seed)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def write_csv(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
