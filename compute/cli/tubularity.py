"""``python -m compute tubularity``: S_tight and S_cross of biological datasets and extracted modules."""

from __future__ import annotations

import argparse
import sys

from compute.cli._tables import exit_on_error, format_table, load_dataset, load_module, load_or_skip, write_csv
from compute.jobs import console_control

CSV_HEADER = ("source", "label", "reconstructed", "n_boot", "q", "smoothing", "eps_rule", "s_tight_mean",
              "s_tight_se", "s_cross_mean", "s_cross_se")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute tubularity",
                                     description="Tubularity of trajectory bundles (METHODS.md section 6): "
                                                 "S_tight (lower = tighter) and S_cross, mean +- SE over unit "
                                                 "bootstraps.")
    parser.add_argument("--datasets", nargs="*", default=["retina", "V1"], choices=("retina", "V1"),
                        help="biological references (default: retina V1)")
    parser.add_argument("--modules", nargs="*", default=[],
                        help="extracted modules of --model, e.g. 'Enc L1' Rec (extract them first)")
    parser.add_argument("--model", default="fnn-random", help="model of the modules (default: fnn-random)")
    parser.add_argument("--n-boot", type=int, default=30, help="unit bootstraps (default: 30)")
    parser.add_argument("--q", type=float, default=0.9, help="tube-radius quantile (default: 0.9)")
    parser.add_argument("--smoothing", type=float, default=2.0,
                        help="centerline smoothing factor s (default: 2.0; 0.01 = older figure)")
    parser.add_argument("--eps-rule", default="authors", choices=("authors", "exact"),
                        help="scale eps of S_cross (METHODS.md 6.4): 'authors' (default) = first other-curve point "
                             "among each point's 9 nearest neighbours, points without one dropped; 'exact' = "
                             "nearest other-curve point of every point")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (and biology's direction offsets)")
    parser.add_argument("--csv", default=None, help="also write the table to this CSV file")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.datasets and not args.modules:
        print("error: nothing to do; give --datasets and/or --modules", file=sys.stderr)
        return 2
    from compute.analysis.tubularity import tubularity_of_responses

    sources = [(name, lambda name=name: load_dataset(name, seed=args.seed)) for name in args.datasets]
    sources += [(module, lambda module=module: load_module(args.model, module, seed=args.seed))
                for module in args.modules]
    rows, skipped = [], 0
    with exit_on_error(errors=(ValueError, TypeError, OSError)) as failure:
        for name, load in sources:
            rs = load_or_skip(name, load)
            if rs is None:
                skipped += 1
                continue
            result = tubularity_of_responses(rs, n_boot=args.n_boot, q=args.q, smoothing=args.smoothing,
                                             eps_rule=args.eps_rule, random_state=args.seed,
                                             control=console_control())
            rows.append((name, result))
    if failure.exit_code is not None:
        return failure.exit_code
    if rows:
        n_boot = rows[0][1].n_boot
        print(f"S_tight (lower = tighter) and S_cross: mean +- SE over {n_boot} unit bootstraps "
              f"(q={args.q}, s={args.smoothing}, eps rule {args.eps_rule!r})")
        table = [(r.label + (" *" if r.reconstructed else ""), f"{r.s_tight_mean:.4f} +- {r.s_tight_se:.4f}",
                  f"{r.s_cross_mean:.3e} +- {r.s_cross_se:.1e}") for _, r in rows]
        print(format_table(("source", "S_tight (lower = tighter)", "S_cross"), table))
        if any(r.reconstructed for _, r in rows):
            print("* reconstructed from published factors: S_tight is close to the real traces' value, "
                  "S_cross is not reliable (METHODS.md section 3)")
    if args.csv and rows:
        write_csv(args.csv, CSV_HEADER, [(name, r.label, r.reconstructed, r.n_boot, r.q, r.smoothing, r.eps_rule,
                                          r.s_tight_mean, r.s_tight_se, r.s_cross_mean, r.s_cross_se)
                                         for name, r in rows])
        print(f"wrote {args.csv}")
    return 1 if skipped else 0
