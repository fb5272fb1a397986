"""The factory and the server: every page answers, /health, gunicorn's ``app:server`` import path."""

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


def test_gunicorn_import_path_builds_one_server_lazily_without_torch(data_dir):
    """``gunicorn app:server`` imports the package ``app`` and reads ``server`` (PEP 562 ``__getattr__``)."""
    script = ("import sys, app\n"
              "assert app._server is None, 'importing app must not build anything'\n"
              "server = app.server\n"
              "assert server is app.server\n"
              "print(server.test_client().get('/health').status_code, 'torch' in sys.modules)\n"
              "try:\n    app.nope\nexcept AttributeError as error:\n    print(error)\n")
    env = {**os.environ, "TWINSCOPE_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["200 False", "module 'app' has no attribute 'nope'"]


def test_factory_input_errors(tmp_path, monkeypatch):
    from app import create_app
    from app.profile import run_profile

    with pytest.raises(TypeError, match="settings must be a compute.config.Settings"):
        create_app({"cache_dir": tmp_path})
    with pytest.raises(ValueError, match="TWINSCOPE_PROFILE must be one of"):
        run_profile({"TWINSCOPE_PROFILE": "turbo"})
    assert run_profile({}).name == "default" and run_profile({"TWINSCOPE_PROFILE": "test"}).run.instances == 1
