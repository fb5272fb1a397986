"""``python -m compute align``: alignment scores (RSA, CCA, linear predictivity, DSA) of modules with biology."""

from __future__ import annotations

import argparse

from compute.cli._tables import exit_on_error, format_table, load_dataset, load_module, load_or_skip, write_csv
from compute.jobs import console_control


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute align",
                                     description="Alignment of model modules with retina / V1 (METHODS.md "
                                                 "section 7) on the 48 bio-matched conditions: bootstrap mean "
                                                 "and 95 %% interval per method, DSA z-score, mean alignment.")
    parser.add_argument("--model", default="fnn-random", help="model of the modules (default: fnn-random)")
    parser.add_argument("--modules", nargs="+", required=True, help="extracted modules, e.g. 'Enc L1' Rec")
    parser.add_argument("--datasets", nargs="+", default=["retina", "V1"], choices=("retina", "V1"),
                        help="biological references (default: retina V1)")
    parser.add_argument("--preset", default="interactive", choices=("interactive", "publication"),
                        help="interactive: 10 bootstraps, 10 DSA nulls; publication: 200 and 50")
    parser.add_argument("--n-boot", type=int, default=None, help="override the preset's bootstraps")
    parser.add_argument("--n-nulls", type=int, default=None, help="override the preset's DSA nulls")
    parser.add_argument("--dsa-method", default="angular", choices=("angular", "wasserstein", "euclidean"),
                        help="dsa-metric score method (default: angular, the authors'; wasserstein is much faster "
                             "but saturates near 1)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (and biology's direction offsets)")
    parser.add_argument("--csv", default=None, help="also write the scores to this CSV file")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from compute.analysis.alignment import METHODS, alignment_scores, mean_alignment_table

    results: dict[str, dict] = {}
    skipped = 0
    with exit_on_error(errors=(ValueError, TypeError, OSError)) as failure:
        bio = {name: load_dataset(name, seed=args.seed) for name in args.datasets}
        for module in args.modules:
            model = load_or_skip(module, lambda module=module: load_module(args.model, module, seed=args.seed))
            if model is None:
                skipped += 1
                continue
            results[module] = {name: alignment_scores(model, rs, preset=args.preset, n_boot=args.n_boot,
                                                      n_nulls=args.n_nulls, dsa_method=args.dsa_method,
                                                      random_state=args.seed,
                                                      control=console_control())
                               for name, rs in bio.items()}
    if failure.exit_code is not None:
        return failure.exit_code
    if not results:
        return 1
    table = mean_alignment_table(results)
    rows, csv_rows = [], []
    for i, module in enumerate(table.modules):
        for j, dataset in enumerate(table.datasets):
            result = results[module][dataset]
            cells = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in map(result.score, METHODS)]
            rows.append((module, dataset, *cells, f"{result.dsa_z:.2f}", f"{table.values[i, j]:.3f}"))
            csv_rows.append((module, dataset, result.values.shape[1],
                             *[v for method in METHODS for v in result.score(method)], result.dsa_z,
                             table.values[i, j]))
    print(f"alignment with biology, bootstrap mean [95 % interval] ({args.preset} preset, DSA {args.dsa_method})")
    print(format_table(("module", "dataset", "RSA", "CCA", "LP", "DSA (1 - distance)", "DSA z", "mean"), rows))
    if args.csv:
        header = ("module", "dataset", "n_boot",
                  *[f"{method}_{stat}" for method in METHODS for stat in ("mean", "ci_low", "ci_high")],
                  "dsa_z", "mean_alignment")
        write_csv(args.csv, header, csv_rows)
        print(f"wrote {args.csv}")
    return 1 if skipped else 0
