"""``python -m compute tubularity``: S_tight and S_cross of biological datasets and extracted modules."""

from __future__ import annotations

import argparse
import sys

from compute.cli._tables import (cli_view, exit_on_error, format_table, load_or_skip, view_default,
                                  write_csv)
from compute.sources import Source
from compute.views import TubularityView

CSV_HEADER = ("source", "label", "reconstructed", "n_boot", "q", "smoothing", "eps_rule", "s_tight_mean",
              "s_tight_se", "s_cross_mean", "s_cross_se")


def _default(option: str) -> str:
    return view_default("tubularity", option)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute tubularity",
                                     description="Tubularity of trajectory bundles (METHODS.md section 6): "
                                                 "S_tight (lower = tighter) and S_cross, mean +- SE over unit "
                                                 "bootstraps.")
    parser.add_argument("--datasets", nargs="*", default=["retina", "V1"], choices=("retina", "V1"),
                        help="biological references (default: retina V1)")
    parser.add_argument("--modules", nargs="*", default=[],
                        help="modules of --model, e.g. 'Enc L1' Rec (extracted first when not cached)")
    parser.add_argument("--model", default="fnn-random", help="model of the modules (default: fnn-random)")
    parser.add_argument("--n-boot", type=int, default=None,
                        help=f"unit bootstraps (default: {_default('n_boot')})")
    parser.add_argument("--q", type=float, default=None, help=f"tube-radius quantile (default: {_default('q')})")
    parser.add_argument("--smoothing", type=float, default=None,
                        help=f"centerline smoothing factor s (default: {_default('smoothing')}; 0.01 = older figure)")
    parser.add_argument("--eps-rule", default=None, choices=("authors", "exact"),
                        help="scale eps of S_cross (METHODS.md 6.4): 'authors' = first other-curve point "
                             "among each point's 9 nearest neighbours, points without one dropped; 'exact' = "
                             f"nearest other-curve point of every point (default: {_default('eps_rule')})")
    parser.add_argument("--sensitivity", action=argparse.BooleanOptionalAction, default=None,
                        help=f"also the (q, s) sensitivity grid (default: {_default('sensitivity')})")
    parser.add_argument("--drop-flagged", action=argparse.BooleanOptionalAction, default=None,
                        help=f"remove intensity-arm units first (default: {_default('drop_flagged')})")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (and biology's direction offsets)")
    parser.add_argument("--csv", default=None, help="also write the table to this CSV file")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.datasets and not args.modules:
        print("error: nothing to do; give --datasets and/or --modules", file=sys.stderr)
        return 2
    sources = [Source("bio", name) for name in args.datasets]
    sources += [Source("model", args.model, module) for module in args.modules]
    options = dict(n_boot=args.n_boot, q=args.q, smoothing=args.smoothing, eps_rule=args.eps_rule,
                   sensitivity=args.sensitivity, drop_flagged=args.drop_flagged, random_state=args.seed)
    rows: list[tuple[str, TubularityView]] = []
    skipped = 0
    with exit_on_error(errors=(ValueError, TypeError, OSError)) as failure:
        for source in sources:
            name = source.module or source.name
            found = load_or_skip(name, lambda source=source: cli_view("tubularity", source, seed=args.seed,
                                                                      **options))
            if found is None:
                skipped += 1
                continue
            rows.append((name, found[1]))
    if failure.exit_code is not None:
        return failure.exit_code
    if rows:
        used = rows[0][1].options
        print(f"S_tight (lower = tighter) and S_cross: mean +- SE over {rows[0][1].n_boot} unit bootstraps "
              f"(q={used['q']}, s={used['smoothing']}, eps rule {used['eps_rule']!r})")
        table = [(t.label + (" *" if t.reconstructed else ""), f"{t.s_tight:.4f} +- {t.s_tight_se:.4f}",
                  f"{t.s_cross:.3e} +- {t.s_cross_se:.1e}") for _, t in rows]
        print(format_table(("source", "S_tight (lower = tighter)", "S_cross"), table))
        if any(t.reconstructed for _, t in rows):
            print("* reconstructed from published factors: S_tight is close to the real traces' value, "
                  "S_cross is not reliable (METHODS.md section 3)")
    if args.csv and rows:
        write_csv(args.csv, CSV_HEADER, [(name, t.label, t.reconstructed, t.n_boot, t.options["q"],
                                          t.options["smoothing"], t.options["eps_rule"], t.s_tight, t.s_tight_se,
                                          t.s_cross, t.s_cross_se) for name, t in rows])
        print(f"wrote {args.csv}")
    return 1 if skipped else 0
