"""Helpers shared by the commands: one source (a dataset, or a model module) from the command line, compute
or read a view through the app's route (or skip a missing source), turn errors into exit codes, print an
aligned text table, write a CSV.

One route to a result: every analysis command is a thin shell over ``compute.workflows.compute_view`` /
``load_typed`` with the run profile of TWINSCOPE_PROFILE (``compute.profiles``) and the option defaults of
``compute.workflows.VIEW_OPTIONS``, exactly as the app's jobs call it; so a view computed here is served by
the app from its cache under the same key, and the reverse."""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import errno
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from compute.cache import default_cache
from compute.config import Settings
from compute.jobs import Cancelled, console_control, end_progress_line, stop_on_interrupt
from compute.profiles import run_profile
from compute.sources import Source, with_active_clips
from compute.views import View
from compute.workflows import VIEW_OPTIONS, compute_view, load_typed

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
COMPUTE_ERRORS = (ValueError, TypeError, KeyError, OSError)
T = TypeVar("T")


def add_source_arguments(parser: argparse.ArgumentParser, *, module_example: str = "Rec") -> None:
    """``--dataset retina|V1`` or ``--model M --module NAME`` (check with ``check_source_arguments``)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=("retina", "V1"), help="a biological reference")
    source.add_argument("--model", help="a model of the registry (e.g. fnn-random); needs --module")
    parser.add_argument("--module", help=f"module of --model, e.g. {module_example!r} (extract it first)")


def check_source_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.model is not None and args.module is None:
        parser.error("--model needs --module")


def source_of(args: argparse.Namespace) -> Source:
    """The Source of ``--dataset`` or ``--model`` + ``--module``."""
    return Source("bio", args.dataset) if args.dataset is not None else Source("model", args.model, args.module)


def view_default(view: str, option: str) -> str:
    """Help text for the default of one option of ``view``: its ``VIEW_OPTIONS`` value."""
    value = VIEW_OPTIONS[view][option]
    return str(value).lower() if isinstance(value, bool) else str(value)


def cli_view(view: str, source: Source, *, seed: int = 0, **options: Any) -> tuple[str, View]:
    """Compute (or read from the cache) one view as the app does: (key, typed artefact of ``compute.views``).

    ``seed`` is the run's seed (unit sampling of a model, direction offsets of reconstructed biology);
    options left None take the profile's, else the view's default; the server's clip set applies as in the
    app (``python -m compute clips``). Model modules are extracted when they are not cached yet (progress on
    stderr)."""
    profile = run_profile()
    given = {name: value for name, value in options.items() if value is not None}
    run = with_active_clips(dataclasses.replace(profile.run, seed=seed), Settings.from_env())
    key = compute_view(view, source, run=run, control=console_control(), **{**profile.options_for(view), **given})
    return key, load_typed(key)


def artefact_line(name: str, key: str) -> str:
    """"<name>\t<key>\t<path>": where a command's result lies in the cache."""
    return f"{name}\t{key}\t{default_cache().path(key)}"


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
    A first Ctrl-C stops the work at its next safe point, a second at once (``stop_on_interrupt``).

    Usage::

        with exit_on_error() as failure:
            ...
        if failure.exit_code is not None:
            return failure.exit_code
    """
    failure = Failure()
    try:
        with stop_on_interrupt():
            yield failure
    except errors as error:
        end_progress_line(sys.stderr)
        print(f"error: {_message(error)}", file=sys.stderr)
        failure.exit_code = EXIT_ERROR
    except (Cancelled, KeyboardInterrupt):
        print(f"\n{interrupted}", file=sys.stderr)
        failure.exit_code = EXIT_INTERRUPTED


def load_or_skip(name: str, load: Callable[[], T]) -> T | None:
    """``load()``, or None after printing "skipped <name>: <why>" when its data is missing (KeyError)."""
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
