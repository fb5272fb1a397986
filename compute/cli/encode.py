"""``python -m compute encode``: encoding manifold of a dataset or module (METHODS.md section 5)."""

from __future__ import annotations

import argparse

from compute.cli._tables import add_source_arguments, check_source_arguments, exit_on_error
from compute.seed_ranks import N_RESTARTS, STIMULUS_CHOICES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compute encode",
        description="Encoding manifold (METHODS.md section 5): prints its diagnostics and writes it to the "
                    "artefact cache. A dataset without --rank uses the published permuted-CP factors; with "
                    "--rank its responses (the authors' traces when TWINSCOPE_BIO_TRACES has them, else the "
                    "reconstruction) are decomposed like a model module.")
    add_source_arguments(parser, module_example="Enc L1")
    parser.add_argument("--rank", type=int, default=None,
                        help="permuted-CP rank (default for a module: the seed study's rank of that module)")
    parser.add_argument("--restarts", type=int, default=N_RESTARTS,
                        help=f"random restarts of the decomposition ({N_RESTARTS}, the authors')")
    parser.add_argument("--stimuli", default=None, choices=STIMULUS_CHOICES,
                        help="six stimuli per unit (default: optSF for a module, the dataset's own six for biology)")
    parser.add_argument("--ian", default="lp", choices=("lp", "greedy"),
                        help="IAN scales: lp = the authors' linear program (default), greedy = quick option")
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
    from compute.cache import default_cache
    from compute.cli._tables import load_dataset, load_module
    from compute.encoding.manifold import MODULE_RANKS, encoding_manifold_key, get_encoding_manifold
    from compute.jobs import console_control

    cache = default_cache()
    with exit_on_error(interrupted="interrupted; nothing was written") as failure:
        if args.dataset is not None and args.rank is None:
            source, rank = args.dataset, None
        else:
            source = (load_dataset(args.dataset, seed=args.seed) if args.dataset is not None
                      else load_module(args.model, args.module, seed=args.seed))
            rank = args.rank if args.rank is not None else MODULE_RANKS.get(args.module)
            if rank is None:
                raise ValueError(f"no seed-study rank for module {args.module!r}; pass --rank")
        options = dict(rank=rank, n_restarts=args.restarts, random_state=args.seed, stimuli=args.stimuli,
                       ian_objective=args.ian, k_far=args.k_far, k_near=args.k_near)
        manifold = get_encoding_manifold(source, cache=cache, control=console_control(), **options)
        key = encoding_manifold_key(source, **options)
    if failure.exit_code is not None:
        return failure.exit_code
    d = manifold.diagnostics
    print(f"{d['source']}: encoding manifold of {manifold.n_units} units")
    fit = "" if d.get("fit") is None else f", fit {d['fit']:.4f}"
    print(f"  rank {d['rank']}{fit}, effective dimensionality {d['effective_dimensionality']:.2f}")
    print(f"  PCA: {d['n_pcs']} components ({100 * d['explained_variance']:.1f} % variance), "
          f"{d['n_unique']} distinct points; outliers removed before IAN: {d['k_far']} far + {d['k_near']} near")
    print(f"  IAN ({d['ian_objective']}): C {d['ian_C']:.3f}, {d['ian_edges']} edges, {d['ian_iterations']} "
          f"iterations{'' if d['ian_converged'] else ' (not converged)'}, {d['n_disconnected']} points set aside")
    c = d["clusteredness"]
    print(f"  clusteredness: silhouette excess {c['silhouette_excess']:.3f} (data {c['silhouette']:.3f}, "
          f"Gaussian {c['silhouette_gaussian']:.3f}); 10th diffusion eigenvalue {c['diffusion_eig10']:.3f}")
    print(f"  HDBSCAN clusters: {d['n_clusters']}")
    print(f"encoding-manifold\t{key}\t{cache.path(key)}")
    return 0
