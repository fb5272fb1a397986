"""``python -m compute report``: the replication report (one self-contained HTML file, its data, a manifest).

This command computes the views and writes the data, the tables and the manifest; the HTML (plotly figures)
is rendered by ``python -m app.report OUT`` in a child process, because compute never imports app/."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

from compute.cli._tables import exit_on_error
from compute.config import REPO_ROOT, Settings
from compute.jobs import JobControl, interrupted
from compute.profiles import PROFILES
from compute.report import ReportPlan, compute_report, plan_for, write_data
from compute.sources import RunSettings, with_active_clips


RENDERER = "app.report"  # the module that renders report.html (run as python -m, never imported here)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute report",
                                     description="Every view of every module of a model and of retina / V1, the "
                                                 "tables against the seed study's published values and a manifest, "
                                                 "as OUT/report.html (+ data/, tables.json, manifest.json). "
                                                 "Computed views come from the cache.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", default="fnn-random", help="fnn-random (default), fnn-official, conv3d-random")
    source.add_argument("--manifest", type=Path, help="regenerate the report recorded in this manifest.json")
    parser.add_argument("--profile", default="default", choices=("default", "quick", "test"),
                        help="run profile (TWINSCOPE_PROFILE's settings): default = the study's, quick = one "
                             "instance per condition, test = the small test settings")
    parser.add_argument("--modules", nargs="+", default=None, help="only these modules (default: all)")
    parser.add_argument("--out", type=Path, default=Path("report"), help="output folder (default: report/)")
    return parser


def tqdm_control() -> JobControl:
    """A JobControl drawing a tqdm bar (percent) with the current stage; cancelled by Ctrl-C."""
    bar = tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed} {postfix}")

    def progress(fraction: float, text: str) -> None:
        bar.n = int(round(1000 * fraction))
        bar.set_postfix_str(text[:70], refresh=True)
        if fraction >= 1.0:
            bar.close()

    return JobControl(progress=progress, cancelled=interrupted)


def plan_from_args(args: argparse.Namespace):
    """The ReportPlan of the command line: from ``--manifest``, or the model + profile's settings."""
    if args.manifest is not None:
        return ReportPlan.from_json(json.loads(args.manifest.read_text())["plan"])
    profile = PROFILES[args.profile]
    run = with_active_clips(RunSettings(**profile["run"]), Settings.from_env())
    return plan_for(args.model, profile=args.profile, run=run,
                    view_options=profile.get("views", {}),
                    modules=None if args.modules is None else tuple(args.modules))


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    with exit_on_error() as failure:
        result = compute_report(plan_from_args(args), control=tqdm_control())
        write_data(result, args.out)
    if failure.exit_code is not None:
        return failure.exit_code
    rendered = subprocess.run([sys.executable, "-m", RENDERER, str(args.out.resolve())], cwd=REPO_ROOT,
                              capture_output=True, text=True)
    if rendered.returncode != 0:
        print(f"{rendered.stderr}error: the data is written under {args.out}, but report.html is not: "
              f"python -m {RENDERER} {args.out} renders it", file=sys.stderr)
        return rendered.returncode
    print(f"wrote {args.out / 'report.html'} ({len(result.keys)} views; data, tables.json and manifest.json "
          f"beside it)")
    return 0
