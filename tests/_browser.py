"""The steps every browser test takes (tests/browser, tests/scale): open a page, press Run and wait for its
job, read a drawn figure, take a screenshot. A :class:`Rig` wraps one ``dash_duo`` (dash[testing]) serving
one twinscope app; the ``rig`` fixture of tests/browser/conftest.py gives one per test."""

from __future__ import annotations

import time
from pathlib import Path

from selenium.common.exceptions import JavascriptException
from selenium.webdriver.chrome.options import Options

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--window-size=1400,1800")
JOB_TIMEOUT = 240
EXPLORE_VIEWS = ("explore-decoding", "explore-trajectories", "explore-encoding")


def chromium_options() -> Options:
    """Headless Chromium (Debian's binary where installed); dash[testing] asks conftest's ``pytest_setup_options``."""
    options = Options()
    for flag in HEADLESS:
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    return options


def graph_js(name: str) -> str:
    """JS expression of the plotly element of graph ``name`` (ids are {"name": ..., "type": "graph"})."""
    return f"document.querySelector('[id*=\\'\"{name}\"\\'] .js-plotly-plot')"


class Rig:
    """One ``dash_duo`` serving ``app``; ``duo`` stays available for dash[testing]'s own finders and waits.

    Parameters
    ----------
    dash_duo : dash.testing.composite.DashComposite
        The test's browser and server.
    app : dash.Dash
        The twinscope app to serve (started here).
    """

    def __init__(self, dash_duo, app) -> None:
        self.duo = dash_duo
        ARTIFACTS.mkdir(exist_ok=True)
        dash_duo.start_server(app)

    def open(self, path: str, control: str) -> None:
        """Load ``path`` (with its query string) and wait for the page's ``control`` (a CSS selector)."""
        self.duo.wait_for_page(f"{self.duo.server_url}{path}")
        self.duo.wait_for_element(control, timeout=30)

    def text(self, selector: str) -> str:
        return self.duo.find_element(selector).text

    def js(self, expression: str):
        return self.duo.driver.execute_script(f"return {expression};")

    def wait(self, condition, timeout: float, what: str):
        """Poll ``condition()`` until truthy and return its value; on timeout save a screenshot and fail."""
        stop = time.monotonic() + timeout
        while time.monotonic() < stop:
            try:
                value = condition()
            except JavascriptException:  # the element is not rendered yet
                value = None
            if value:
                return value
            time.sleep(0.25)
        self.shoot(f"timeout-{what}")
        raise AssertionError(f"timed out waiting for {what}")

    def settle(self, page: str) -> None:
        """Wait until the page's own callbacks are done (its job request is ready)."""
        self.wait(self.duo._wait_for_callbacks, 60, f"{page} callbacks")

    def plan(self, page: str) -> str:
        """The text of ``page``'s cost-before-Run line."""
        return self.text(f"[id*='\"{page}\"'][id*='job-plan']")

    def start_job(self, page: str) -> None:
        """Click the page's Run button once the page's callbacks settled."""
        self.settle(page)
        self.duo.find_element(f"[id*='\"{page}\"'][id*='job-run']").click()

    def run_job(self, page: str) -> list[str]:
        """Run the page's job until it is done; returns the stage texts seen on the way."""
        self.start_job(page)
        seen = []

        def finished():
            stage = self.text("#shell-job-stage")
            if stage and (not seen or seen[-1] != stage):
                seen.append(stage)
            return stage.startswith("done")

        self.wait(finished, JOB_TIMEOUT, f"{page} job")
        return seen

    def run_job_showing_progress(self, page: str) -> None:
        """Run the page's job and check it reported progress (two stages or more) and no error."""
        stages = self.run_job(page)
        assert len(stages) >= 2, f"progress never seen: {stages}"
        assert self.text("#shell-job-error") == ""

    def traces(self, name: str) -> int:
        g = graph_js(name)
        return self.js(f"({g} && {g}.data) ? {g}.data.length : 0") or 0

    def first_type(self, name: str) -> str | None:
        """Plotly type of the first trace of graph ``name``; None before it has data."""
        g = graph_js(name)
        return self.js(f"({g} && {g}.data && {g}.data.length) ? {g}.data[0].type : null")

    def wait_for_type(self, kind: str, *names: str, timeout: float = 60) -> None:
        """Wait until each graph of ``names`` draws a first trace of plotly type ``kind``."""
        for name in names:
            self.wait(lambda name=name: self.first_type(name) == kind, timeout, f"{name} as {kind}")

    def shoot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.duo.driver.save_screenshot(str(path))
        return path

    def assert_no_console_errors(self) -> None:
        assert self.duo.get_logs() == []
