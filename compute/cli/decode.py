"""``python -m compute decode``: decoding accuracy, manifold and trajectories of a dataset or module
(the app's "decoding" and "accuracy" views)."""

from __future__ import annotations

import argparse

from compute.cli._tables import (add_source_arguments, artefact_line, check_source_arguments, cli_view,
                                  exit_on_error, source_of, view_default)
from compute.stimuli import PRESETS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compute decode",
                                     description="Decoding analyses (METHODS.md section 4): prints logistic "
                                                 "regression and 3-NN accuracy with chance, and writes the "
                                                 "app's decoding and accuracy views to the artefact cache.")
    add_source_arguments(parser, module_example="Rec")
    parser.add_argument("--stimuli", default=None,
                        help="preset (bio-matched, all, authors-lowsf, authors-highsf) or comma-separated class "
                             "names; default: bio-matched for manifold/trajectories, all for accuracy")
    parser.add_argument("--seed", type=int, default=0,
                        help="direction offsets of reconstructed biology / unit sampling of a model (default: 0)")
    parser.add_argument("--windows", action=argparse.BooleanOptionalAction, default=None,
                        help="also decode from every increasing / decreasing time window (slow; default: "
                             f"{view_default('accuracy', 'windows')})")
    parser.add_argument("--drop-flagged", action=argparse.BooleanOptionalAction, default=None,
                        help="remove intensity-arm units first (default: "
                             f"{view_default('decoding', 'drop_flagged')})")
    return parser


def _stimuli(text: str | None) -> str | list[str] | None:
    if text is None or text in PRESETS:
        return text
    return [s.strip() for s in text.split(",") if s.strip()]


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    check_source_arguments(parser, args)
    options = dict(stimuli=_stimuli(args.stimuli), drop_flagged=args.drop_flagged)
    with exit_on_error(interrupted="interrupted; nothing was written") as failure:
        source = source_of(args)
        accuracy_key, accuracy = cli_view("accuracy", source, seed=args.seed, windows=args.windows, **options)
        decoding_key, _ = cli_view("decoding", source, seed=args.seed, **options)
    if failure.exit_code is not None:
        return failure.exit_code
    print(f"{accuracy.label}: {len(accuracy.stimuli)}-way decoding of {accuracy.stimuli}")
    print(f"  logistic regression  {accuracy.logistic:.3f} +/- {accuracy.logistic_sd:.3f} (5 x 5-fold CV)")
    print(f"  3-NN leave-one-out   {accuracy.knn:.3f}")
    print(f"  chance               {accuracy.chance:.3f}")
    if accuracy.not_converged:
        print(f"  ({accuracy.not_converged} logistic fits reached max_iter without converging)")
    if accuracy.reconstructed:
        print("  note: reconstructed from published factors (direction offsets seeded); see METHODS.md 3")
    print(artefact_line("decoding", decoding_key))
    print(artefact_line("accuracy", accuracy_key))
    return 0
