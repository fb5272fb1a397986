"""The factory and the server: every page answers, /health, gunicorn's ``wsgi:server`` import path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.pages import PAGES
from compute.config import REPO_ROOT, Settings


@pytest.fixture(scope="module")
def flask_app(data_dir):
    from app import create_app

    # The session's test cache (tests/conftest.py): the model-registry probe runs once per session.
    settings = Settings(cache_dir=Settings.from_env().cache_dir, data_dir=data_dir, secret_key="s3cret")
    return create_app(settings)


def test_factory_builds_a_production_app(flask_app):
    assert flask_app.server.secret_key == "s3cret"
    assert flask_app.server.debug is False
    assert flask_app.config.suppress_callback_exceptions is True


@pytest.mark.parametrize("path", ["/health", "/_dash-layout", "/_dash-dependencies"]
                         + [module.PAGE["path"] for module in PAGES])
def test_every_path_answers(flask_app, path):
    response = flask_app.server.test_client().get(path)
    assert response.status_code == 200


def test_health_reports_status_pages_and_models(flask_app):
    body = json.loads(flask_app.server.test_client().get("/health").data)
    assert body["status"] == "ok"
    assert body["pages"] == [module.PAGE["path"] for module in PAGES]
    assert "conv3d-random" in body["models"] and "fnn-random" in body["models"]


def test_thumbnail_route_serves_known_classes_only(flask_app):
    client = flask_app.server.test_client()
    ok = client.get("/thumbnails/grat_W12.png")
    assert ok.status_code == 200 and ok.mimetype == "image/png" and ok.data.startswith(b"\x89PNG")
    assert client.get("/thumbnails/secret.png").status_code == 404


def test_page_layouts_render_from_url_query(flask_app):
    import dash

    layouts = {page["path"]: page["layout"] for page in dash.page_registry.values()}
    explore = layouts["/explore"](source="bio:V1", t="3")
    assert "explore-notice" in json.dumps(explore.to_plotly_json(), default=str)


def test_gunicorn_import_path_builds_one_server_without_torch(data_dir):
    """``gunicorn wsgi:server`` imports ``wsgi``, which builds one app; importing the ``app`` package builds
    nothing. v1 served ``app:server`` through a PEP 562 ``__getattr__`` of the package, next to an ``app.py``
    script of the same name."""
    script = ("import sys, app\n"
              "assert not hasattr(app, 'server'), 'importing app must not build anything'\n"
              "import wsgi\n"
              "assert wsgi.server is wsgi.app.server\n"
              "print(wsgi.server.test_client().get('/health').status_code, 'torch' in sys.modules)\n")
    env = {**os.environ, "TWINSCOPE_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["200 False"]


def test_factory_input_errors(tmp_path, monkeypatch):
    from app import create_app
    from compute.profiles import run_profile

    with pytest.raises(TypeError, match="settings must be a compute.config.Settings"):
        create_app({"cache_dir": tmp_path})
    with pytest.raises(ValueError, match="TWINSCOPE_PROFILE must be one of"):
        run_profile({"TWINSCOPE_PROFILE": "turbo"})
    assert run_profile({}).name == "default" and run_profile({"TWINSCOPE_PROFILE": "test"}).run.instances == 1


# ---------------------------------------------------------------------------------------------- background jobs
class DashSession:
    """One browser tab, driven through Flask test clients: loads the page (its signed ``end_id`` and the
    shell's stores), starts a page's background job and polls it the way the renderer does."""

    def __init__(self, app, page: str = "explore") -> None:
        import re

        client = app.server.test_client()
        html = client.get(f"/{page}").get_data(as_text=True)
        config = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', html, re.S)
        self.end_id = json.loads(config.group(1))["end_id"]
        self.shell = self._store_values(json.loads(client.get("/_dash-layout").get_data(as_text=True)))
        self.page = page

    @staticmethod
    def _store_values(node, found=None) -> dict:
        found = {} if found is None else found
        if isinstance(node, dict):
            props = node.get("props", {})
            if node.get("type") == "Store" and isinstance(props.get("id"), str):
                found[props["id"]] = props.get("data")
            for value in (props.get("children"),):
                DashSession._store_values(value, found)
        elif isinstance(node, list):
            for child in node:
                DashSession._store_values(child, found)
        return found

    def job_body(self, app, request: dict) -> dict:
        """The renderer's POST body for a click on the page's Run button with ``request`` in its store."""
        from app.ids import JobIds

        output = next(k for k in app.callback_map if JobIds.RESULT in k and f'"{self.page}"' in k)
        outputs = []
        for piece in output.strip(".").split("..."):
            cid, _, prop = piece.rpartition(".")
            outputs.append({"id": json.loads(cid) if cid.startswith("{") else cid, "property": prop.split("@")[0]})
        state = []
        for item in app.callback_map[output]["state"]:
            cid = json.loads(item["id"]) if item["id"].startswith("{") else item["id"]
            value = request if cid == JobIds.request(self.page) else self.shell[cid]
            state.append({"id": cid, "property": item["property"], "value": value})
        run = JobIds.run(self.page)
        return {"output": output, "outputs": outputs, "state": state,
                "inputs": [{"id": run, "property": "n_clicks", "value": 1}],
                "changedPropIds": [f"{json.dumps(run, separators=(',', ':'), sort_keys=True)}.n_clicks"]}

    def start(self, app, body: dict) -> dict:
        response = app.server.test_client().post("/_dash-update-component", json=body,
                                                 query_string={"endId": self.end_id})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json

    def poll(self, app, body: dict, handles: dict):
        query = {"endId": self.end_id, "cacheKey": handles["cacheKey"], "job": handles["job"]}
        return app.server.test_client().post("/_dash-update-component", json=body, query_string=query)


def _wait_until_done(*handles: dict, timeout: float = 120.0) -> None:
    import time

    import psutil

    pids = [int(h["job"].rpartition("~")[0]) for h in handles]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            alive = [p for p in pids if psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        except psutil.NoSuchProcess:
            alive = [p for p in pids if psutil.pid_exists(p)
                     and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        time.sleep(0.1)
    raise TimeoutError(f"job processes {pids} still running after {timeout} s")


_EMPTY_REQUEST = {"page": "explore", "views": []}  # a job that ends at once with its own error text
_EMPTY_ERROR = "Job not started: nothing to compute"


def _error_text(response) -> str:
    assert response.status_code == 200, f"HTTP {response.status_code}: no result for this session"
    return response.json["response"]["shell-job-error"]["children"]


def test_two_sessions_running_the_same_request_both_get_their_result(flask_app):
    """v1 keyed the job's result slot by its arguments only: two sessions with the same request shared one
    slot, the first poll emptied it and the other session's poll answered 204 for ever."""
    sessions = [DashSession(flask_app), DashSession(flask_app)]
    bodies = [s.job_body(flask_app, _EMPTY_REQUEST) for s in sessions]
    handles = [s.start(flask_app, body) for s, body in zip(sessions, bodies)]
    _wait_until_done(*handles)
    for session, body, handle in zip(sessions, bodies, handles):
        assert _error_text(session.poll(flask_app, body, handle)).startswith(_EMPTY_ERROR)


def test_workers_without_a_configured_key_share_one_generated_key(tmp_path, data_dir):
    """v1 gave each gunicorn worker its own random key: a job started on one worker was signed for a page
    loaded from another, so every poll answered 204 (and cancel needed several tries)."""
    import stat

    from app import SECRET_FILE, create_app

    settings = Settings(cache_dir=tmp_path, data_dir=data_dir)  # no TWINSCOPE_SECRET_KEY
    worker_a, worker_b = create_app(settings), create_app(settings)
    session = DashSession(worker_a)  # page served by worker A, job started on B, polled on A
    body = session.job_body(worker_b, _EMPTY_REQUEST)
    handles = session.start(worker_b, body)
    _wait_until_done(handles)
    assert _error_text(session.poll(worker_a, body, handles)).startswith(_EMPTY_ERROR)
    assert worker_a.server.secret_key == worker_b.server.secret_key
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600


class TestSharedSecretKey:
    def test_concurrent_first_starts_agree_on_one_private_key(self, tmp_path):
        import stat
        from concurrent.futures import ThreadPoolExecutor

        from app import SECRET_FILE, shared_secret_key

        with ThreadPoolExecutor(8) as pool:
            keys = set(pool.map(lambda _: shared_secret_key(tmp_path), range(16)))
        assert len(keys) == 1 and len(keys.pop()) == 64
        assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
        assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]

    def test_refuses_a_key_file_others_can_read(self, tmp_path):
        from app import SECRET_FILE, shared_secret_key

        shared_secret_key(tmp_path)
        (tmp_path / SECRET_FILE).chmod(0o644)
        with pytest.raises(PermissionError, match=r"readable by its owner only \(mode 0600\); got 0644"):
            shared_secret_key(tmp_path)

    def test_refuses_an_empty_key_file(self, tmp_path):
        from app import SECRET_FILE, shared_secret_key

        path = tmp_path / SECRET_FILE
        path.write_text("")
        path.chmod(0o600)
        with pytest.raises(ValueError, match="holds no usable secret key"):
            shared_secret_key(tmp_path)


def _result_callbacks(app) -> list[str]:
    """Output strings of the non-background callbacks that read a page's job result."""
    from app.ids import JobIds

    return [out for out, spec in app.callback_map.items() if not spec.get("background")
            and any(JobIds.RESULT in item["id"] for item in spec["inputs"] + spec["state"])]


def _body_with(app, output: str, values: dict) -> dict:
    """A POST body for ``output`` where every input / state is None except the ones ``values`` names."""
    spec = app.callback_map[output]

    def item(entry):
        cid = json.loads(entry["id"]) if entry["id"].startswith("{") else entry["id"]
        return {"id": cid, "property": entry["property"], "value": values.get(entry["property"])}

    outputs = []
    for piece in output.strip(".").split("..."):
        cid, _, prop = piece.rpartition(".")
        outputs.append({"id": json.loads(cid) if cid.startswith("{") else cid, "property": prop.split("@")[0]})
    return {"output": output, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [item(e) for e in spec["inputs"]], "state": [item(e) for e in spec["state"]],
            "changedPropIds": [f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"]}


_BAD_RESULTS = {
    "stale": {"page": "compare", "views": [{"view": v, "source": s, "key": f"view-{v}-0123456789abcdef"}
                                           for v in ("decoding", "encoding", "accuracy", "tubularity", "alignment")
                                           for s in ("bio:retina", "model:fnn-random:Rec")]},
    "bad-key": {"views": [{"view": "decoding", "source": "bio:retina", "key": "../../etc/passwd"}]},
    "malformed": {"views": [None, 7, {"view": "encoding"}]},
    "not-a-dict": [1, 2, 3],
}


@pytest.mark.parametrize("bad", list(_BAD_RESULTS))
def test_malformed_or_stale_results_give_a_notice_never_a_500(flask_app, bad):
    """v1 answered a malformed or stale result store with HTTP 500 (a traceback in the server log)."""
    client = flask_app.server.test_client()
    outputs = _result_callbacks(flask_app)
    assert len(outputs) >= 8
    statuses, notices = {}, []
    for output in outputs:
        body = _body_with(flask_app, output, {"data": _BAD_RESULTS[bad], "n_clicks": 1, "value": "npz"})
        response = client.post("/_dash-update-component", json=body)
        statuses[output] = response.status_code
        notices += [response.json.get("sideUpdate", {}).get("shell-job-error", {}).get("children", "")
                    ] if response.status_code == 200 else []
    assert {k: v for k, v in statuses.items() if v not in (200, 204)} == {}
    if bad == "stale":
        assert any("no longer available" in text for text in notices), notices
