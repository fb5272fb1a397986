"""The app on a clone that has no biological data yet (offline): a notice with the fetch command where biology
would appear, no dataset offered, and everything else answering (issue 15 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.pages import PAGES
from compute.config import Settings


def _app(settings: Settings):
    from app import create_app

    return create_app(settings)


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    return _app(Settings(cache_dir=root / "cache", data_dir=root / "data", secret_key="t"))


def _layout_text(app) -> str:
    response = app.server.test_client().get("/_dash-layout")
    assert response.status_code == 200
    return json.dumps(json.loads(response.data))


class TestWithoutBiology:
    def test_shell_shows_the_notice_with_the_fetch_command(self, offline_app):
        text = _layout_text(offline_app)
        assert "Biology (retina, V1) is not available: 6 of 6 published files are missing or altered in " in text
        assert "python -m compute bio fetch" in text and "TWINSCOPE_MIRROR" in text
        assert '"className": "notice"' in text

    def test_no_dataset_is_offered(self):
        from app.catalog import get_catalog

        catalog = get_catalog(Settings(cache_dir=Path("/nonexistent/cache"), data_dir=Path("/nonexistent/data")))
        assert catalog.datasets == () and catalog.bio_notice.startswith("Biology (retina, V1) is not available")
        assert not [choice for choice in catalog.source_choices() if choice.startswith("bio:")]

    @pytest.mark.parametrize("path", ["/health"] + [module.PAGE["path"] for module in PAGES])
    def test_everything_else_answers(self, offline_app, path):
        assert offline_app.server.test_client().get(path).status_code == 200


def test_with_biology_there_is_no_notice(data_dir, tmp_path):
    app = _app(Settings(cache_dir=tmp_path, data_dir=data_dir, secret_key="t"))
    text = _layout_text(app)
    assert "is not available" not in text and '"className": "notice empty"' in text
