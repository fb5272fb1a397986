"""Browser tests: headless Debian Chromium through dash[testing]'s ``dash_duo``; the app runs the "test"
profile (small conv3d model, one instance of 12 frames) so every job finishes in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.chrome.options import Options

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--window-size=1400,1800")


def pytest_setup_options():
    options = Options()
    for flag in HEADLESS:
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    return options


@pytest.fixture
def twinscope(monkeypatch, data_dir):
    """A fresh app in the test profile on the session's test cache (views computed once per session)."""
    from app import create_app
    from compute.config import Settings

    monkeypatch.setenv("TWINSCOPE_PROFILE", "test")
    monkeypatch.setenv("TWINSCOPE_DATA_DIR", str(data_dir))
    ARTIFACTS.mkdir(exist_ok=True)
    return create_app(Settings.from_env())


def shoot(dash_duo, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    dash_duo.driver.save_screenshot(str(path))
    return path


def graph_js(name: str) -> str:
    """JS expression of the plotly element of graph ``name`` (ids are {"name": ..., "type": "graph"})."""
    return f"document.querySelector('[id*=\\'\"{name}\"\\'] .js-plotly-plot')"


pytestmark = pytest.mark.browser
os.environ.setdefault("DASH_TESTING_PROCESS_TIMEOUT", "120")
