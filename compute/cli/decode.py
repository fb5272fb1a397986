"""``python -m compute decode``: decoding accuracy, manifold and trajectories of a dataset or module."""

from __future__ import annotations

import argparse

from compute.cli._tables import add_source_arguments, check_source_arguments, exit_on_error
from compute.jobs import console_control


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute decode",
                                     description="Decoding analyses (METHODS.md section 4): prints logistic "
                                                 "regression and 3-NN accuracy with chance, and writes the "
                                                 "manifold, trajectories and accuracy to the artefact cache.")
    add_source_arguments(parser, module_example="Rec")
    parser.add_argument("--stimuli", default=None,
                        help="preset (bio-matched, all, authors-lowsf, authors-highsf) or comma-separated class "
                             "names; default: bio-matched for manifold/trajectories, all for accuracy")
    parser.add_argument("--seed", type=int, default=0,
                        help="direction offsets of reconstructed biology / unit sampling of a model (default: 0)")
    parser.add_argument("--windows", action="store_true",
                        help="also decode from every increasing / decreasing time window (slow)")
    return parser


def _stimuli(text: str | None):
    from compute.stimuli import PRESETS

    if text is None or text in PRESETS:
        return text
    return [s.strip() for s in text.split(",") if s.strip()]


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_source_arguments(parser, args)
    from compute.analysis.decoding import (artifact_key, decoding_accuracy, decoding_manifold,
                                           decoding_trajectories)
    from compute.cache import default_cache
    from compute.cli._tables import load_dataset, load_module

    stimuli = _stimuli(args.stimuli)
    cache = default_cache()
    with exit_on_error(interrupted="interrupted; nothing was written") as failure:
        rs = (load_dataset(args.dataset, seed=args.seed) if args.dataset is not None
              else load_module(args.model, args.module, seed=args.seed))
        control = console_control()
        accuracy = decoding_accuracy(rs, stimuli=stimuli, windows=args.windows, control=control)
        results = {
            "manifold": decoding_manifold(rs, stimuli=stimuli),
            "trajectories": decoding_trajectories(rs, stimuli=stimuli),
            "accuracy": accuracy,
        }
    if failure.exit_code is not None:
        return failure.exit_code
    print(f"{rs.label}: {accuracy.n_classes}-way decoding of {list(accuracy.stimuli)}")
    print(f"  logistic regression  {accuracy.logistic:.3f} +/- {accuracy.logistic_sd:.3f} (5 x 5-fold CV)")
    print(f"  3-NN leave-one-out   {accuracy.knn:.3f}")
    print(f"  chance               {accuracy.chance:.3f}")
    if accuracy.not_converged:
        print(f"  ({accuracy.not_converged} logistic fits reached max_iter without converging)")
    if rs.provenance.get("reconstructed"):
        print("  note: reconstructed from published factors (direction offsets seeded); see METHODS.md 3")
    for kind, result in results.items():
        settings = {"windows": args.windows} if kind == "accuracy" else {}
        key = artifact_key(kind, rs, stimuli=stimuli, **settings)
        arrays, meta = result.to_artifact()
        cache.put(key, arrays, {**meta, "label": rs.label})
        print(f"{kind}\t{key}\t{cache.path(key)}")
    return 0
