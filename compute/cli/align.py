"""``python -m compute align``: alignment scores (RSA, CCA, linear predictivity, DSA) of modules with biology
(the app's "alignment" view)."""

from __future__ import annotations

import argparse

from compute.cli._tables import cli_view, exit_on_error, format_table, load_or_skip, view_default, write_csv
from compute.sources import Source
from compute.views import AlignmentView
from compute.workflows import VIEW_OPTIONS

METHODS = VIEW_OPTIONS["alignment"]["methods"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute align",
                                     description="Alignment of model modules with retina / V1 (METHODS.md "
                                                 "section 7) on the 48 bio-matched conditions: bootstrap mean "
                                                 "and 95 %% interval per method, DSA z-score, mean alignment.")
    parser.add_argument("--model", default="fnn-random", help="model of the modules (default: fnn-random)")
    parser.add_argument("--modules", nargs="+", required=True,
                        help="modules, e.g. 'Enc L1' Rec (extracted first when not cached)")
    parser.add_argument("--datasets", nargs="+", default=["retina", "V1"], choices=("retina", "V1"),
                        help="biological references (default: retina V1)")
    parser.add_argument("--preset", default=None, choices=("interactive", "publication"),
                        help="interactive: 10 bootstraps, 10 DSA nulls; publication: 200 and 50 (default: "
                             f"{view_default('alignment', 'preset')})")
    parser.add_argument("--n-boot", type=int, default=None, help="override the preset's bootstraps")
    parser.add_argument("--n-nulls", type=int, default=None, help="override the preset's DSA nulls")
    parser.add_argument("--dsa-method", default=None, choices=("angular", "wasserstein", "euclidean"),
                        help="dsa-metric score method (default: "
                             f"{view_default('alignment', 'dsa_method')}, the authors'; wasserstein is much "
                             "faster but saturates near 1)")
    parser.add_argument("--drop-flagged", action=argparse.BooleanOptionalAction, default=None,
                        help=f"remove intensity-arm units first (default: {view_default('alignment', 'drop_flagged')})")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (and biology's direction offsets)")
    parser.add_argument("--csv", default=None, help="also write the scores to this CSV file")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    options = dict(preset=args.preset, n_boot=args.n_boot, n_nulls=args.n_nulls, dsa_method=args.dsa_method,
                   drop_flagged=args.drop_flagged, random_state=args.seed)
    results: list[tuple[str, str, AlignmentView]] = []
    skipped = 0
    with exit_on_error(errors=(ValueError, TypeError, OSError)) as failure:
        for module in args.modules:
            for dataset in args.datasets:
                found = load_or_skip(module, lambda module=module, dataset=dataset: cli_view(
                    "alignment", Source("model", args.model, module), seed=args.seed, dataset=dataset, **options))
                if found is None:
                    skipped += 1
                    break
                results.append((module, dataset, found[1]))
    if failure.exit_code is not None:
        return failure.exit_code
    if not results:
        return 1
    rows, csv_rows = [], []
    for module, dataset, art in results:
        scores = [tuple(art.scores[m][s] for s in ("mean", "low", "high")) for m in METHODS]
        dsa_z = float("nan") if art.dsa_z is None else art.dsa_z
        rows.append((module, dataset, *[f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in scores], f"{dsa_z:.2f}",
                     f"{art.mean_alignment:.3f}"))
        csv_rows.append((module, dataset, art.values.shape[1], *[v for score in scores for v in score], dsa_z,
                         art.mean_alignment))
    used = results[0][2].options
    print(f"alignment with biology, bootstrap mean [95 % interval] ({used['preset']} preset, DSA {used['dsa_method']})")
    print(format_table(("module", "dataset", "RSA", "CCA", "LP", "DSA (1 - distance)", "DSA z", "mean"), rows))
    if args.csv:
        header = ("module", "dataset", "n_boot",
                  *[f"{method}_{stat}" for method in METHODS for stat in ("mean", "ci_low", "ci_high")],
                  "dsa_z", "mean_alignment")
        write_csv(args.csv, header, csv_rows)
        print(f"wrote {args.csv}")
    return 1 if skipped else 0
