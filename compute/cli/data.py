"""``python -m compute data fetch|check``: the external files of the data manifest (biology, reference stimuli)."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Callable

from compute import data
from compute.cli._tables import exit_on_error
from compute.config import Settings
from compute.jobs import console_control


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--mirror`` (repeatable) and ``--offline``: shared by ``data fetch`` and ``bio fetch``."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="data folder (default: TWINSCOPE_DATA_DIR, else <cache>/data)")
    parser.add_argument("--mirror", action="append", default=None, metavar="FOLDER_OR_URL",
                        help="a folder or URL laid out like the data folder, tried before the public URL; "
                             f"repeatable (default: {data.MIRROR_VARIABLE}, ':'-separated)")
    parser.add_argument("--offline", action="store_true", help="use only mirrors, never the public URLs")


def run_fetch(args: argparse.Namespace, fetcher: Callable[..., Path]) -> int:
    """``fetcher(data_dir, mirrors=, network=, control=)`` as ``args`` say; one ``error:`` message (exit 2)
    when something cannot be provided."""
    data_dir = Settings.from_env().data_dir if args.data_dir is None else args.data_dir
    with exit_on_error(errors=(ValueError, OSError), interrupted="interrupted; no partial file was kept") as failure:
        path = fetcher(data_dir, mirrors=args.mirror, network=not args.offline, control=console_control())
        print(f"fetched and verified: {path}")
        return 0
    return failure.exit_code


def _check(data_dir: Path, groups: tuple[str, ...]) -> int:
    missing = data.missing_files(data_dir, groups)
    if missing:
        print(f"error: {data.unavailable_message(missing, data_dir)}", file=sys.stderr)
        return 1
    print(f"all {len(data.manifest(groups))} files of {', '.join(groups)} present and verified in {data_dir}")
    return 0


def main(argv: list[str]) -> int:
    sizes = "; ".join(f"{g}: {n} files, {b / 1e6:.1f} MB" for g, (n, b) in data.group_summary().items())
    parser = argparse.ArgumentParser(prog="python -m compute data",
                                     description=f"Fetch (pinned URLs, SHA-256 checked) or check the external files "
                                                 f"listed in compute/data_manifest.json ({sizes}).")
    parser.add_argument("action", choices=("fetch", "check"))
    parser.add_argument("--only", action="append", choices=data.GROUPS, default=None,
                        help="restrict to a group; repeatable (default: all groups)")
    add_source_arguments(parser)
    args = parser.parse_args(argv)
    groups = tuple(args.only or data.GROUPS)
    if args.action == "fetch":
        return run_fetch(args, functools.partial(data.fetch, groups=groups))
    return _check(Settings.from_env().data_dir if args.data_dir is None else args.data_dir, groups)
