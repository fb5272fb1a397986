"""Request bodies for ``benchmarks/load_test.sh``: fills a cache with view artefacts and writes, per
endpoint, the POST body the browser sends for a view callback served from that cache.

    TWINSCOPE_CACHE_DIR=/tmp/x TWINSCOPE_DATA_DIR=../shared/data .venv/bin/python benchmarks/load_test.py OUT

Views: the retina decoding view (computed once, real data) and a synthetic 2000-unit encoding artefact (the
size of a model module). Writes OUT/<endpoint>.json; prints the endpoint names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _cid(component_id) -> str:
    """A component id as ``app.callback_map`` spells it (dict ids: compact JSON, sorted keys)."""
    return json.dumps(component_id, sort_keys=True, separators=(",", ":")) if isinstance(component_id, dict) \
        else component_id


def _body(app, output_part: str, values: dict) -> dict:
    """The renderer's POST body for the callback whose output string contains ``output_part``; every input
    and state takes ``values[id]`` (None when absent)."""
    output = next(k for k in app.callback_map if output_part in k)
    spec = app.callback_map[output]

    def parse(cid: str):
        return json.loads(cid) if cid.startswith("{") else cid

    def item(entry):
        return {"id": parse(entry["id"]), "property": entry["property"], "value": values.get(entry["id"])}

    outputs = []
    for piece in output.strip(".").split("..."):
        cid, _, prop = piece.rpartition(".")
        outputs.append({"id": parse(cid), "property": prop.split("@")[0]})
    return {"output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [item(e) for e in spec["inputs"]], "state": [item(e) for e in spec["state"]],
            "changedPropIds": [f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"]}


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    from app import create_app
    from app.catalog import get_catalog, source_token
    from app.ids import CompareIds, ExploreIds, JobIds
    from callbacks.context import AppContext
    from callbacks.jobs import run_views
    from compute.cache import ArtifactCache
    from compute.config import Settings
    from tests.app.conftest import encoding_arrays, plant_view

    settings = Settings.from_env()
    ctx = AppContext(settings, ArtifactCache(settings.cache_dir / "artifacts"), get_catalog(settings))
    result, error, _ = run_views(lambda p: None, {"page": "explore", "views": [
        {"view": "decoding", "source": "bio:retina", "options": {}}]}, ctx=ctx)
    if error:
        raise SystemExit(error)
    model = ctx.catalog.profile.model
    module = ctx.catalog.models[model].modules[0]
    token = source_token("model", model, module)
    arrays, meta = encoding_arrays(n_units=2000)
    result["views"].append({"view": "encoding", "source": token, "key": plant_view(ctx, "encoding", token,
                                                                                    arrays, meta)})
    app = create_app(settings)
    decoding = {_cid(JobIds.result("explore")): result, ExploreIds.SOURCE: "bio:retina", ExploreIds.EPSILON: 0.5,
                ExploreIds.DELTA: 2, ExploreIds.CROSSINGS: False}
    bodies = {
        "explore-decoding": _body(app, ExploreIds.DECODING_BASE, decoding),
        "explore-decoding-crossings": _body(app, ExploreIds.DECODING_BASE,
                                            {**decoding, ExploreIds.CROSSINGS: True, ExploreIds.EPSILON: 0.05}),
        "explore-encoding-2000": _body(app, f"..{_cid(ExploreIds.ENCODING)}.figure", {
            _cid(JobIds.result("explore")): result, ExploreIds.SOURCE: f"model:{model}", ExploreIds.SHOW: module,
            ExploreIds.COLOR_BY: "cluster"}),
        "compare-trajectories": _body(app, f"..{_cid(CompareIds.graph(0))}.figure", {
            _cid(JobIds.result("compare")): result, CompareIds.VIEW: "trajectories",
            CompareIds.SOURCES: ["bio:retina"]}),
    }
    client = app.server.test_client()
    for name, body in bodies.items():
        response = client.post("/_dash-update-component", json=body)
        if response.status_code != 200 or "sideUpdate" in response.get_data(as_text=True):
            raise SystemExit(f"{name}: HTTP {response.status_code} {response.get_data(as_text=True)[:300]}")
        (out / f"{name}.json").write_text(json.dumps(body))
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
