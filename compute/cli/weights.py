"""``python -m compute weights download [--url URL] | verify [--session 8 --scan 5]``."""

from __future__ import annotations

import argparse
import sys

from compute.config import Settings
from compute.jobs import console_control
from compute.models import weights


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute weights",
                                     description="Download or verify the official FNN weights.")
    parser.add_argument("--dest", default=None,
                        help="weights folder (default: $TWINSCOPE_DATA_DIR/fnn)")
    commands = parser.add_subparsers(dest="command", required=True)
    download = commands.add_parser("download", help="fetch, MD5-check and extract the release zip (resumable)")
    download.add_argument("--url", default=None, help="mirror of the release zip (default: BossDB)")
    download.add_argument("--md5", default=None, help="expected MD5 of the zip (default: the release's)")
    verify = commands.add_parser("verify", help="strictly load one scan's weights and print their id")
    verify.add_argument("--session", type=int, default=8)
    verify.add_argument("--scan", type=int, default=5)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "download":
        options = {k: v for k, v in (("url", args.url), ("md5", args.md5)) if v is not None}
        try:
            folder = weights.download_weights(args.dest, control=console_control(), **options)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"FNN weights in {folder}")
        return 0
    if not weights.has_official_weights(args.dest, session=args.session, scan=args.scan):
        folder = args.dest or Settings.from_env().weights_dir
        print(f"no official FNN weights for session {args.session}, scan {args.scan} in {folder}; "
              f"run `python -m compute weights download`", file=sys.stderr)
        return 1
    try:
        model, weights_id = weights.load_official_fnn(args.dest, session=args.session, scan=args.scan)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    n_parameters = sum(p.numel() for p in model.parameters())
    print(f"session {args.session}, scan {args.scan}: {model.n_units} units, {n_parameters:,} parameters, "
          f"strict load OK, weights id {weights_id}")
    return 0
