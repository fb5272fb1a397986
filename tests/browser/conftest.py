"""Browser tests: headless Debian Chromium through dash[testing]'s ``dash_duo``; the app runs the "test"
profile (small conv3d model, one instance of 12 frames) so every job finishes in seconds. The shared steps
(open a page, run its job, read a figure) are :class:`tests._browser.Rig`; a test takes the ``rig`` fixture."""

from __future__ import annotations

import os

import pytest

from tests._browser import Rig, chromium_options


def pytest_setup_options():
    return chromium_options()


@pytest.fixture
def twinscope(monkeypatch, data_dir):
    """A fresh app in the test profile on the session's test cache (views computed once per session)."""
    from app import create_app
    from compute.config import Settings

    monkeypatch.setenv("TWINSCOPE_PROFILE", "test")
    monkeypatch.setenv("TWINSCOPE_DATA_DIR", str(data_dir))
    return create_app(Settings.from_env())


@pytest.fixture
def rig(dash_duo, twinscope) -> Rig:
    """The browser on a freshly started ``twinscope`` app."""
    return Rig(dash_duo, twinscope)


os.environ.setdefault("DASH_TESTING_PROCESS_TIMEOUT", "120")
