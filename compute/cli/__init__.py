"""Command-line entry point. Each command lives in ``compute/cli/<command>.py`` and exposes
``main(argv: list[str]) -> int``; only the chosen command's module (and so torch) is imported."""

from __future__ import annotations

import importlib

COMMANDS = {
    "stimuli": "render the stimulus suite, write previews",
    "weights": "download / verify the official FNN weights",
    "clips": "choose the user's clip set that the app and the commands add as stimulus classes",
    "extract": "run a model on the suite and cache per-module response sets",
    "bio": "fetch / describe the biological reference data (retina, V1)",
    "data": "fetch / check every external file (biology, reference stimuli) of the data manifest",
    "decode": "decoding manifold, accuracy and trajectories of a dataset or module",
    "tubularity": "S_tight and S_cross of datasets and modules",
    "align": "alignment scores (RSA, CCA, linear predictivity, DSA) of modules with biology",
    "encode": "encoding manifold of a dataset or module",
    "report": "replication report: every view, published-value tables, manifest, one HTML file",
}


def _usage() -> str:
    lines = ["usage: python -m compute <command> [options]", "", "commands:"]
    lines += [f"  {name:<11} {text}" for name, text in COMMANDS.items()]
    lines += ["", "python -m compute <command> --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n\n{_usage()}")
        return 2
    module = importlib.import_module(f"compute.cli.{command}")
    return int(module.main(rest) or 0)
