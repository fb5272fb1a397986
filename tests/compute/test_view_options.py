"""Every option declared for a view (``VIEW_OPTIONS``) reaches the analysis (issue 12 item 5).

For each (view, option) the analysis function the option feeds is replaced by a recorder that stops the
build; the recorded call must carry the option's non-default value, and the same check on a build with the
default must fail (so the check itself can fail). A new option without a case here fails
``test_every_option_has_a_case``."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from compute.config import Settings
from compute.responses import ResponseSet
from compute.sources import Source, source_key
from compute.workflows import VIEW_OPTIONS, compute_view
from tests.compute.test_workflows import tiny_set

MODEL = Source("model", "fnn-random", "Rec")
MAIN = {"decoding": "compute.analysis.decoding.decoding_manifold",
        "accuracy": "compute.analysis.decoding.decoding_accuracy",
        "tubularity": "compute.analysis.tubularity.sensitivity_grid",
        "alignment": "compute.analysis.alignment.alignment_scores",
        "encoding": "compute.encoding.manifold.encoding_manifold"}
"""The first analysis call of each view's build with default options (stopped there)."""
FLAGGED = "compute.analysis.diagnostics.remove_flagged"
TWO = ["grat_W12", "grat_W2"]


def _kw(name: str, expected: Any) -> Callable[[tuple, dict], bool]:
    return lambda args, kwargs: kwargs.get(name) == expected


def _called(args: tuple, kwargs: dict) -> bool:
    return True


# (view, option) -> (non-default value, analysis function it reaches, check of that call's (args, kwargs))
CASES: dict[tuple[str, str], tuple[Any, str, Callable[[tuple, dict], bool]]] = {
    ("decoding", "stimuli"): (TWO, MAIN["decoding"], _kw("stimuli", TWO)),
    ("decoding", "drop_flagged"): (True, FLAGGED, _called),
    ("accuracy", "stimuli"): (TWO, MAIN["accuracy"], _kw("stimuli", TWO)),
    ("accuracy", "drop_flagged"): (True, FLAGGED, _called),
    ("accuracy", "windows"): (False, MAIN["accuracy"], _kw("windows", False)),
    ("tubularity", "stimuli"): (TWO, MAIN["tubularity"], _kw("stimuli", TWO)),
    ("tubularity", "drop_flagged"): (True, FLAGGED, _called),
    ("tubularity", "n_boot"): (5, MAIN["tubularity"], _kw("n_boot", 5)),
    ("tubularity", "q"): (0.62, MAIN["tubularity"], lambda a, k: 0.62 in k["qs"]),
    ("tubularity", "smoothing"): (4.0, MAIN["tubularity"], lambda a, k: 4.0 in k["smoothings"]),
    ("tubularity", "sensitivity"): (False, "compute.analysis.tubularity.tubularity_of_responses",
                                    lambda a, k: k["q"] == 0.9 and k["smoothing"] == 2.0),
    ("tubularity", "eps_rule"): ("exact", MAIN["tubularity"], _kw("eps_rule", "exact")),
    ("tubularity", "random_state"): (7, MAIN["tubularity"], _kw("random_state", 7)),
    ("alignment", "dataset"): ("retina", MAIN["alignment"], lambda a, k: a[1].label == "planted retina"),
    ("alignment", "drop_flagged"): (True, FLAGGED, _called),
    ("alignment", "preset"): ("publication", MAIN["alignment"], _kw("preset", "publication")),
    ("alignment", "methods"): (["rsa"], MAIN["alignment"], lambda a, k: list(k["methods"]) == ["rsa"]),
    ("alignment", "n_boot"): (5, MAIN["alignment"], _kw("n_boot", 5)),
    ("alignment", "n_nulls"): (3, MAIN["alignment"], _kw("n_nulls", 3)),
    ("alignment", "dsa_method"): ("euclidean", MAIN["alignment"], _kw("dsa_method", "euclidean")),
    ("alignment", "random_state"): (7, MAIN["alignment"], _kw("random_state", 7)),
    ("encoding", "rank"): (3, MAIN["encoding"], _kw("rank", 3)),
    ("encoding", "n_restarts"): (2, MAIN["encoding"], _kw("n_restarts", 2)),
    ("encoding", "preset"): ("interactive", MAIN["encoding"], _kw("n_restarts", 10)),
    ("encoding", "stimulus_set"): ("bio-matched", MAIN["encoding"], _kw("stimuli", "bio-matched")),
    ("encoding", "ian"): ("greedy", MAIN["encoding"], _kw("ian_objective", "greedy")),
    ("encoding", "k_far"): (2, MAIN["encoding"], _kw("k_far", 2)),
    ("encoding", "k_near"): (4, MAIN["encoding"], _kw("k_near", 4)),
    ("encoding", "with_clips"): (True, MAIN["encoding"], _kw("extra_stimuli", ("clip_walk",))),
    ("encoding", "random_state"): (7, MAIN["encoding"], _kw("random_state", 7)),
}


class _Stop(Exception):
    """Raised by a recorder: the build got as far as the analysis."""


@pytest.fixture
def env(tmp_cache, tmp_path, rng):
    """A model module (the six biological stimuli and a clip class) and both datasets, planted in the cache."""
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    rec = tiny_set(rng, label="planted Rec", reconstructed=False)
    rec = ResponseSet(responses=np.concatenate([rec.responses, rec.responses[:, :1]], axis=1),
                      stimuli=(*rec.stimuli, "clip_walk"), time_unit=rec.time_unit, units=rec.units,
                      provenance=rec.provenance)
    tmp_cache.put_responses("responses-Rec", rec)
    tmp_cache.put(source_key(MODEL, settings=settings), {}, {"responses_key": "responses-Rec"})
    for dataset in ("retina", "V1"):
        tmp_cache.put_responses(source_key(Source("bio", dataset), settings=settings),
                                tiny_set(rng, label=f"planted {dataset}"))
    return tmp_cache, settings


def _reached(view: str, target: str, options: dict, env, monkeypatch) -> tuple[tuple, dict] | None:
    """(args, kwargs) of the call of ``target`` in a build of ``view`` with ``options``; None if not reached."""
    calls: dict[str, tuple[tuple, dict]] = {}

    def recorder(path: str):
        def record(*args, **kwargs):
            calls[path] = (args, kwargs)
            raise _Stop

        return record

    with monkeypatch.context() as patch:
        for path in {MAIN[view], target}:
            patch.setattr(path, recorder(path))
        cache, settings = env
        with pytest.raises(_Stop):
            compute_view(view, MODEL, cache=cache, settings=settings, **options)
    return calls.get(target)


def test_every_option_has_a_case():
    assert set(CASES) == {(view, option) for view, options in VIEW_OPTIONS.items() for option in options}


@pytest.mark.parametrize("view, option", sorted(CASES), ids=[f"{v}-{o}" for v, o in sorted(CASES)])
def test_option_reaches_the_analysis(view, option, env, monkeypatch):
    value, target, check = CASES[(view, option)]
    base = {"dataset": "V1"} if view == "alignment" else {}
    default = _reached(view, target, base, env, monkeypatch)
    changed = _reached(view, target, {**base, option: value}, env, monkeypatch)
    assert changed is not None and check(*changed), f"{view}: {option}={value!r} did not reach {target}"
    assert default is None or not check(*default), f"the check of {view}.{option} also passes with the default"
