"""``python -m compute clips list|use SET|none``: the clip set this server's app and commands use."""

from __future__ import annotations

import argparse

from compute.cli._tables import exit_on_error
from compute.clips import DIRECTION_MODES, LENGTHS, active_clips, choose_clips, clip_sets, clips_root
from compute.config import Settings
from compute.profiles import run_profile


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute clips",
                                     description="Choose the user's clip set (a folder under <data dir>/clips/) "
                                                 "that the app and the analysis commands add as stimulus classes.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the clip sets found and the one in use")
    use = commands.add_parser("use", help="convert every clip of SET once, then use it")
    use.add_argument("set", help="a folder name under <data dir>/clips/")
    use.add_argument("--directions", choices=DIRECTION_MODES, default="8",
                     help="8: drifted along the 8 directions like the suite; 1: natural movies (default: 8)")
    use.add_argument("--match-mean", action="store_true", help="shift each clip's mean luminance to grey 128")
    use.add_argument("--length", choices=LENGTHS, default="suite",
                     help="suite: the run's frames; clip: the shortest clip's length (default: suite)")
    commands.add_parser("none", help="use no clips")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    with exit_on_error() as failure:
        if args.command == "use":
            clips = choose_clips(settings, args.set, directions=args.directions, match_mean=args.match_mean,
                                 length=args.length, n_frames=run_profile().run.n_frames)
        elif args.command == "none":
            clips = choose_clips(settings, None)
        else:
            print(f"clip sets in {clips_root(settings)}: {', '.join(clip_sets(settings)) or 'none'}")
            clips = active_clips(settings)
        print("in use: " + ("no clips" if clips is None else
                            f"{clips.folder} ({len(clips.names)} classes: {', '.join(clips.names)})"))
    return failure.exit_code or 0
