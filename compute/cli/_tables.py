"""Helpers shared by the commands: one source (a dataset, or a model module) from the command line, load a
dataset or an extracted module (or skip a missing one), turn errors into exit codes, print an aligned text
table, write a CSV."""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from compute.jobs import Cancelled, end_progress_line
from compute.responses import ResponseSet

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
COMPUTE_ERRORS = (ValueError, TypeError, KeyError, OSError)


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

    return load(name, random_state=seed).require_variation()


def load_module(model: str, module: str, *, seed: int = 0) -> ResponseSet:
    """An extracted module; KeyError (with the extract command to run) when it is not cached, ValueError when
    its responses are constant."""
    from compute.extraction import load_responses

    return load_responses(model, module, seed=seed).require_variation()


def _message(error: BaseException) -> str:
    """str(error), without the quotes str() puts around a KeyError's message; a full disk says where."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        where = f" while writing {error.filename}" if error.filename else ""
        return (f"no space left on device{where}; free disk space under TWINSCOPE_CACHE_DIR (or point it to a "
                "larger disk) and run the command again; nothing partial was kept")
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


@dataclass
class Failure:
    """Set by ``exit_on_error``: the command's exit code, or None when the block ran through."""

    exit_code: int | None = None


@contextlib.contextmanager
def exit_on_error(*, errors: tuple[type[BaseException], ...] = COMPUTE_ERRORS,
                  interrupted: str = "interrupted") -> Iterator[Failure]:
    """Run a command's work: ``errors`` print "error: <message>" (exit code 2), a cancel or Ctrl-C prints
    ``interrupted`` (exit code 130); the exception stops there and the yielded ``Failure`` holds the code.

    Usage::

        with exit_on_error() as failure:
            ...
        if failure.exit_code is not None:
            return failure.exit_code
    """
    failure = Failure()
    try:
        yield failure
    except errors as error:
        end_progress_line(sys.stderr)
        print(f"error: {_message(error)}", file=sys.stderr)
        failure.exit_code = EXIT_ERROR
    except (Cancelled, KeyboardInterrupt):
        print(f"\n{interrupted}", file=sys.stderr)
        failure.exit_code = EXIT_INTERRUPTED


def load_or_skip(name: str, load: Callable[[], ResponseSet]) -> ResponseSet | None:
    """``load()``, or None after printing "skipped <name>: <why>" when it is not cached (KeyError)."""
    try:
        return load()
    except KeyError as error:
        print(f"skipped {name}: {_message(error)}", file=sys.stderr)
        return None


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
