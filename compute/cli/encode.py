"""``python -m compute encode``: encoding manifold of a dataset or module (METHODS.md section 5; the app's
"encoding" view)."""

from __future__ import annotations

import argparse

from compute.cli._tables import (add_source_arguments, artefact_line, check_source_arguments, cli_view,
                                  exit_on_error, source_of, view_default)
from compute.seed_ranks import STIMULUS_CHOICES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compute encode",
        description="Encoding manifold (METHODS.md section 5): prints its diagnostics and writes the app's "
                    "encoding view to the artefact cache. A dataset's manifold comes from its published "
                    "permuted-CP factors.")
    add_source_arguments(parser, module_example="Enc L1")
    parser.add_argument("--rank", type=int, default=None,
                        help="permuted-CP rank of a module (default: the seed study's rank of that module)")
    parser.add_argument("--preset", default=None, choices=("publication", "interactive"),
                        help="restarts when --restarts is not given: publication = the authors' 50, interactive = "
                             f"10 (default: {view_default('encoding', 'preset')})")
    parser.add_argument("--restarts", type=int, default=None,
                        help="random restarts of the decomposition (default: the preset's)")
    parser.add_argument("--stimuli", default=None, choices=STIMULUS_CHOICES,
                        help="six stimuli per unit (default: optSF for a module)")
    parser.add_argument("--ian", default=None, choices=("lp", "greedy"),
                        help="IAN scales: lp = the authors' linear program, greedy = quick option (default: "
                             f"{view_default('encoding', 'ian')})")
    parser.add_argument("--k-far", type=int, default=None,
                        help="outliers with the largest 1-NN distance removed before IAN (default: 3 for a module, "
                             "0 for biology)")
    parser.add_argument("--k-near", type=int, default=None,
                        help="outliers with the smallest 1-NN distance removed before IAN (default: 10 for a "
                             "module, 0 for biology)")
    parser.add_argument("--seed", type=int, default=0,
                        help="decomposition restarts; unit sampling of a model / direction offsets of "
                             "reconstructed biology (default: 0)")
    return parser


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_source_arguments(parser, args)
    if args.dataset is not None and args.rank is not None:
        parser.error("--rank applies to a model module; a dataset's encoding manifold uses its published factors")
    with exit_on_error(interrupted="interrupted; nothing was written") as failure:
        key, art = cli_view("encoding", source_of(args), seed=args.seed, rank=args.rank,
                            n_restarts=args.restarts, preset=args.preset, stimulus_set=args.stimuli, ian=args.ian,
                            k_far=args.k_far, k_near=args.k_near, random_state=args.seed)
    if failure.exit_code is not None:
        return failure.exit_code
    d = art.diagnostics
    print(f"{d['source']}: encoding manifold of {art.unit_index.size} units ({art.restarts_note})")
    fit = "" if d.get("fit") is None else f", fit {d['fit']:.4f}"
    print(f"  rank {d['rank']}{fit}, effective dimensionality {d['effective_dimensionality']:.2f}")
    print(f"  PCA: {d['n_pcs']} components ({100 * d['explained_variance']:.1f} % variance), "
          f"{d['n_unique']} distinct points; outliers removed before IAN: {d['k_far']} far + {d['k_near']} near")
    print(f"  IAN ({d['ian_objective']}): C {d['ian_C']:.3f}, {d['ian_edges']} edges, {d['ian_iterations']} "
          f"iterations{'' if d['ian_converged'] else ' (not converged)'}, {d['n_disconnected']} points set aside")
    c = art.clusteredness
    print(f"  clusteredness: silhouette excess {c['silhouette_excess']:.3f} (data {c['silhouette']:.3f}, "
          f"Gaussian {c['silhouette_gaussian']:.3f}); 10th diffusion eigenvalue {c['diffusion_eig10']:.3f}")
    print(f"  HDBSCAN clusters: {d['n_clusters']}")
    print(artefact_line("encoding", key))
    return 0
