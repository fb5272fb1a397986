"""One route to a result (issue 12): a view computed by the command line is served from the cache by the
app's job under the same key, and the reverse. Both sides run in the "test" profile (its view defaults, e.g.
5 tubularity bootstraps, apply to both) on small synthetic sources.

v1: ``python -m compute decode`` / ``encode`` wrote artefacts under keys of their own
(``decoding.artifact_key``, ``encoding_manifold_key``) and ``tubularity`` / ``align`` wrote nothing, so the
app recomputed every result the command line had computed, and the reverse."""

from __future__ import annotations

import numpy as np
import pytest

from callbacks.jobs import run_views
from compute import views
from callbacks.plan import cached_result
from compute.bio.datasets import BIO_STIMULI
from compute.cli import main as cli
from compute.responses import ResponseSet


def _bio(source, **kwargs) -> ResponseSet:
    rng = np.random.default_rng(len(source.name))
    course = np.sin(np.linspace(0.2, 3, 16))
    resp = np.abs(rng.normal(size=(20, 6, 8, 1)) * course + 0.1 * rng.normal(size=(20, 6, 8, 16)))
    return ResponseSet(resp.astype(np.float32), BIO_STIMULI, time=np.arange(16.0), time_unit="bin",
                       provenance={"label": f"{source.name} (synthetic)", "reconstructed": True})


@pytest.fixture
def shared(ctx, monkeypatch):
    """The app's context and the command line on one cache folder, in the app's profile."""
    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(ctx.settings.cache_dir))
    monkeypatch.setenv("TWINSCOPE_PROFILE", ctx.catalog.profile.name)
    monkeypatch.delenv("TWINSCOPE_BIO_TRACES", raising=False)
    monkeypatch.setattr("compute.workflows.source_responses", _bio)
    return ctx


def _no_more_computing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a view was computed again instead of being served from the cache")

    for view in ("decoding", "accuracy", "tubularity"):
        monkeypatch.setitem(views.BUILDERS, view, refuse)


def _request(page: str, *views: tuple[str, str, dict]) -> dict:
    return {"page": page, "views": [{"view": v, "source": s, "options": o} for v, s, o in views]}


def test_cli_result_is_served_by_the_app(shared, monkeypatch, capsys):
    assert cli(["decode", "--dataset", "V1", "--no-windows"]) == 0
    cli_keys = dict(line.split("\t")[:2] for line in capsys.readouterr().out.splitlines() if "\t" in line)
    _no_more_computing(monkeypatch)
    for page, view, options in (("explore", "decoding", {}), ("accuracy", "accuracy", {"windows": False})):
        request = _request(page, (view, "bio:V1", options))
        assert [v["key"] for v in cached_result(request, ctx=shared)["views"]] == [cli_keys[view]]
        result, error, _ = run_views(lambda update: None, request, ctx=shared)
        assert error == "" and [v["key"] for v in result["views"]] == [cli_keys[view]]


def test_app_result_is_served_to_the_cli(shared, monkeypatch, capsys):
    request = _request("tubularity", ("tubularity", "bio:retina", {"sensitivity": False}))
    result, error, _ = run_views(lambda update: None, request, ctx=shared)
    assert error == ""
    (app_key,) = [v["key"] for v in result["views"]]
    _no_more_computing(monkeypatch)
    assert cli(["tubularity", "--datasets", "retina", "--no-sensitivity"]) == 0
    out = capsys.readouterr().out
    assert "mean +- SE over 5 unit bootstraps" in out                  # the test profile's n_boot, on both sides
    meta = shared.cache.meta(app_key)
    assert f"{meta['s_tight']:.4f} +- {meta['s_tight_se']:.4f}" in out
    assert sorted(p.stem for p in shared.cache.root.glob("view-*.npz")) == [app_key]
