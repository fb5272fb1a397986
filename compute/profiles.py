"""Run profiles: which model the app starts with and how much stimulus work a job does.

TWINSCOPE_PROFILE selects one:

| profile | default model | run settings |
|---|---|---|
| default | fnn-random | the study's: 3 instances x 37 frames, 2000 units (40 maps x 50 positions) |
| quick | fnn-random | one instance per condition ("quick look": 88 instead of 216 sequences to extract) |
| test | conv3d-random | one instance, 12 frames, 200 units; encoding rank 4 (2 restarts), 5 tubularity bootstraps: browser tests finish a job in seconds |

A profile may also set default view options (``compute.workflows.VIEW_OPTIONS``); a job request's own
options win. The app and the command line read the same profile, so they ask for the same view keys.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from compute.sources import RunSettings

PROFILES: dict[str, dict[str, Any]] = {
    "default": {"model": "fnn-random", "run": {}},
    "quick": {"model": "fnn-random", "run": {"instances": 1}},
    "test": {"model": "conv3d-random",
             "run": {"instances": 1, "n_frames": 12, "n_maps": 10, "n_positions": 20, "n_output": 200},
             "views": {"encoding": {"rank": 4, "n_restarts": 2}, "tubularity": {"n_boot": 5}}},
}


@dataclass(frozen=True)
class RunProfile:
    """name : key of PROFILES; model : default model registry name; run_options : RunSettings keywords
    as sorted (name, value) pairs (hashable, so a profile can key a memo); view_options : JSON text of
    {view: {option: value}} defaults."""

    name: str
    model: str
    run_options: tuple = ()
    view_options: str = "{}"

    def options_for(self, view: str) -> dict:
        """Default options of ``view`` in this profile."""
        return dict(json.loads(self.view_options).get(view, {}))

    @property
    def run(self) -> RunSettings:
        """The run settings of this profile."""
        return RunSettings(**dict(self.run_options))


def run_profile(environ: dict | None = None) -> RunProfile:
    """The profile named by TWINSCOPE_PROFILE (default "default"); ValueError for an unknown name."""
    env = os.environ if environ is None else environ
    name = (env.get("TWINSCOPE_PROFILE") or "default").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"TWINSCOPE_PROFILE must be one of {sorted(PROFILES)}; got {name!r}")
    profile = PROFILES[name]
    return RunProfile(name=name, model=profile["model"], run_options=tuple(sorted(profile["run"].items())),
                      view_options=json.dumps(profile.get("views", {}), sort_keys=True))
