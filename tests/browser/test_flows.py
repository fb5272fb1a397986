"""Whole flows in headless Chromium: stimuli preview, an Explore job with its linked views, Compare and
Tubularity pages, cancelling a job, reloading a shared URL. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

import pytest
from selenium.common.exceptions import JavascriptException
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import graph_js, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
JOB_TIMEOUT = 240


def _js(dash_duo, expression: str):
    return dash_duo.driver.execute_script(f"return {expression};")


def _wait(dash_duo, condition, timeout: float, what: str):
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        try:
            value = condition()
        except JavascriptException:  # the element is not rendered yet
            value = None
        if value:
            return value
        time.sleep(0.25)
    shoot(dash_duo, f"timeout-{what}")
    raise AssertionError(f"timed out waiting for {what}")


def _start_job(dash_duo, page: str) -> None:
    """Click the page's Run button once the page's own callbacks settled (its request is ready)."""
    _wait(dash_duo, dash_duo._wait_for_callbacks, 60, f"{page} callbacks")
    dash_duo.find_element(f"[id*='\"{page}\"'][id*='job-run']").click()


def _run_job(dash_duo, page: str) -> list[str]:
    """Run the page's job; returns the stage texts seen until it finished."""
    _start_job(dash_duo, page)
    seen = []

    def finished():
        stage = dash_duo.find_element("#shell-job-stage").text
        if stage and (not seen or seen[-1] != stage):
            seen.append(stage)
        return stage.startswith("done")

    _wait(dash_duo, finished, JOB_TIMEOUT, f"{page} job")
    return seen


def _traces(dash_duo, name: str) -> int:
    return _js(dash_duo, f"({graph_js(name)} && {graph_js(name)}.data) ? {graph_js(name)}.data.length : 0") or 0


def _first_type(dash_duo, name: str) -> str | None:
    g = graph_js(name)
    return _js(dash_duo, f"({g} && {g}.data && {g}.data.length) ? {g}.data[0].type : null")


def _no_console_errors(dash_duo):
    assert dash_duo.get_logs() == []


def test_stimuli_preview_follows_the_class(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/stimuli")
    dash_duo.wait_for_contains_text("#stimuli-caption", "grat_W12", timeout=60)
    first = _wait(dash_duo, lambda: _js(dash_duo, f"{graph_js('stimuli-preview')}.data[0].source"), 30, "preview")
    assert _wait(dash_duo, lambda: _traces(dash_duo, "stimuli-thumbnails") == 11, 30, "thumbnails")
    dash_duo.select_dcc_dropdown("#stimuli-class", value="pos3dotflow_D2_bg")
    dash_duo.wait_for_contains_text("#stimuli-caption", "pos3dotflow_D2_bg", timeout=60)
    changed = _wait(dash_duo, lambda: (_js(dash_duo, f"{graph_js('stimuli-preview')}.data[0].source") != first), 30,
                    "new preview")
    assert changed
    assert _js(dash_duo, f"{graph_js('stimuli-preview')}._transitionData._frames.length") == 37
    assert "cls=pos3dotflow_D2_bg" in dash_duo.driver.current_url
    shoot(dash_duo, "stimuli")
    _no_console_errors(dash_duo)


def test_explore_job_linked_views_psth_time_and_shared_url(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/explore?source=model:conv3d-random&modules=Conv1&preset=bio-matched")
    dash_duo.wait_for_element("#explore-source", timeout=30)
    stages = _run_job(dash_duo, "explore")
    assert len(stages) >= 2, f"progress never seen: {stages}"
    assert dash_duo.find_element("#shell-job-error").text == ""
    for name in ("explore-decoding", "explore-trajectories", "explore-encoding"):
        _wait(dash_duo, lambda name=name: _first_type(dash_duo, name) == "scatter3d", 60, name)
    n_time = _js(dash_duo, f"{graph_js('explore-trajectories')}.data[0].x.length")
    assert n_time == 12, "test profile: 12 frames"
    # click a unit of the encoding manifold (plotly_click, as a mouse click on a WebGL point would emit)
    dash_duo.driver.execute_script(
        f"var g = {graph_js('explore-encoding')};"
        "g.emit('plotly_click', {points: [{curveNumber: 0, pointNumber: 0, data: g.data[0], fullData: g._fullData[0],"
        " customdata: g.data[0].customdata[0], x: g.data[0].x[0], y: g.data[0].y[0], z: g.data[0].z[0]}]});")
    _wait(dash_duo, lambda: _first_type(dash_duo, 'explore-psth') == "heatmap", 60, "psth")
    # grow the trajectories to bin 4 (clientside)
    box = dash_duo.find_element("#explore-time input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("4", Keys.ENTER)
    _wait(dash_duo, lambda: _js(dash_duo, f"{graph_js('explore-trajectories')}.data[0].x.length") == 5, 20, "grow")
    shoot(dash_duo, "explore")
    shared = dash_duo.driver.current_url
    assert "t=4" in shared and "unit=" in shared and "rank=4" in shared, "test profile: encoding rank 4"
    _no_console_errors(dash_duo)

    dash_duo.wait_for_page(shared)
    dash_duo.wait_for_element("#explore-source", timeout=30)
    assert dash_duo.find_element("#explore-time input").get_attribute("value") == "4"
    assert dash_duo.find_element("#explore-rank").get_attribute("value") == "4"
    _run_job(dash_duo, "explore")  # cached: only keys come back
    _wait(dash_duo, lambda: _js(dash_duo, f"{graph_js('explore-trajectories')}.data[0].x.length") == 5, 60,
          "shared view")
    _wait(dash_duo, lambda: _first_type(dash_duo, 'explore-psth') == "heatmap", 60, "psth again")
    shoot(dash_duo, "explore-shared-url")
    # an out-of-range CP rank is refused with a notice; the job would use the default rank
    rank = dash_duo.find_element("#explore-rank")
    rank.send_keys(Keys.CONTROL, "a")
    rank.send_keys("99", Keys.ENTER)
    dash_duo.wait_for_contains_text("#explore-rank-notice", "must be between 2 and 40; got 99", timeout=30)
    _no_console_errors(dash_duo)


def test_compare_and_tubularity_pages(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/compare?sources=model:conv3d-random:Conv1,model:conv3d-random:Conv2&view=trajectories")
    dash_duo.wait_for_element("#compare-sources", timeout=30)
    _run_job(dash_duo, "compare")
    for i in range(2):
        _wait(dash_duo, lambda i=i: _first_type(dash_duo, f'compare-{i}') == "scatter3d", 60,
              f"compare panel {i}")
    assert _js(dash_duo, "document.getElementById('compare-panel-3').style.display") == "none"
    shoot(dash_duo, "compare")
    dash_duo.wait_for_page(f"{dash_duo.server_url}/tubularity?sources=model:conv3d-random:Conv1")
    dash_duo.wait_for_element("#tubularity-sources", timeout=30)
    _run_job(dash_duo, "tubularity")
    _wait(dash_duo, lambda: _first_type(dash_duo, 'tubularity-bars') == "bar", 60, "bars")
    shoot(dash_duo, "tubularity")
    _no_console_errors(dash_duo)


def test_cancel_a_running_job(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    # the full-size FNN with random weights takes far longer than the test waits
    dash_duo.wait_for_page(f"{dash_duo.server_url}/explore?source=model:fnn-random&modules=Enc+L1")
    dash_duo.wait_for_element("#explore-source", timeout=30)
    _start_job(dash_duo, "explore")
    _wait(dash_duo, lambda: dash_duo.find_element("#shell-job-cancel").is_enabled(), 60, "job start")
    stage = dash_duo.find_element("#shell-job-stage").text
    assert stage not in ("", "idle", "cancelled") and not stage.startswith("done"), f"enabled at {stage!r}"
    dash_duo.find_element("#shell-job-cancel").click()
    dash_duo.wait_for_text_to_equal("#shell-job-stage", "cancelled", timeout=30)
    _wait(dash_duo, lambda: not dash_duo.find_element("#shell-job-cancel").is_enabled(), 30, "job end")
    time.sleep(2)
    assert dash_duo.find_element("#shell-job-stage").text == "cancelled"
    shoot(dash_duo, "cancelled")
    _no_console_errors(dash_duo)


def _finite_in_unit(dash_duo, name: str, index: int) -> bool:
    """y of trace ``index`` all finite and in [0, 1]; reads ``_fullData`` where plotly decoded the base64
    arrays that plotly.py sends for numpy values."""
    g = graph_js(name)
    return bool(_js(dash_duo, f"(function(t){{return t.y.length > 0 && Array.from(t.y).every("
                              f"v => v !== null && isFinite(v) && v >= 0 && v <= 1);}})({g}._fullData[{index}])"))


def test_accuracy_page_computes_curves_with_chance_line(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/accuracy?sources=model:conv3d-random:Conv1,"
                           "model:conv3d-random:Conv2")
    dash_duo.wait_for_element("#accuracy-sources", timeout=30)
    stages = _run_job(dash_duo, "accuracy")
    assert len(stages) >= 2, f"progress never seen: {stages}"
    assert dash_duo.find_element("#shell-job-error").text == ""
    _wait(dash_duo, lambda: _traces(dash_duo, "accuracy-curves") >= 2, 60, "accuracy curves")
    g = graph_js("accuracy-curves")
    names = _js(dash_duo, f"{g}.data.map(t => t.name)")
    assert names == ["logistic regression", "3-NN"], names  # no published seed values for the small CNN
    assert _js(dash_duo, f"{g}.data.map(t => t.type)") == ["bar", "bar"]
    chance = _js(dash_duo, f"{g}.layout.shapes.filter(s => s.name === 'chance')[0].y0")
    assert chance == pytest.approx(1 / 11, abs=1e-3), "the test profile decodes 11 classes"
    for i in range(len(names)):
        assert _js(dash_duo, f"{g}.data[{i}].x") == ["Conv1", "Conv2"]
        assert _finite_in_unit(dash_duo, "accuracy-curves", i), f"accuracy of {names[i]} not in [0, 1]"
    rows = _wait(dash_duo, lambda: dash_duo.find_elements("#accuracy-table td.dash-cell"), 30, "accuracy table")
    assert {"Conv1", "Conv2"} <= {cell.text for cell in rows}
    # the time windows of the first source (growing / shrinking windows plus chance)
    _wait(dash_duo, lambda: _traces(dash_duo, "accuracy-windows") >= 2, 60, "accuracy windows")
    assert _js(dash_duo, f"{graph_js('accuracy-windows')}.data.slice(-1)[0].name").startswith("chance")
    shoot(dash_duo, "accuracy")
    _no_console_errors(dash_duo)


def test_alignment_page_with_v1(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/alignment?sources=model:conv3d-random:Conv1&datasets=V1")
    dash_duo.wait_for_element("#alignment-sources", timeout=30)
    stages = _run_job(dash_duo, "alignment")
    assert len(stages) >= 2, f"progress never seen: {stages}"
    assert dash_duo.find_element("#shell-job-error").text == ""
    _wait(dash_duo, lambda: _traces(dash_duo, "alignment-scores") >= 1, 60, "alignment figure")
    g = graph_js("alignment-scores")
    means = _js(dash_duo, f"{g}._fullData.filter(t => t.meta && t.meta.kind === 'mean')"
                          ".map(t => [t.meta.dataset, t.meta.method, Array.from(t.x), Array.from(t.y)])")
    assert means, "no mean line in the alignment figure"
    assert {m[0] for m in means} == {"V1"}
    assert {m[1] for m in means} >= {"rsa", "cca", "lp"}, means
    for dataset, method, x, y in means:
        assert x == ["Conv1"]
        assert y[0] is not None, f"{dataset}/{method} has no value"
    cells = _wait(dash_duo, lambda: dash_duo.find_elements("#alignment-table td.dash-cell"), 30, "alignment table")
    texts = [cell.text for cell in cells]
    assert texts[0] == "Conv1" and len(texts) == 2, texts  # one row: module, V1
    float(texts[1])
    headers = [h.text for h in dash_duo.find_elements("#alignment-table th.dash-header")]
    assert any("V1" in h for h in headers), headers
    shoot(dash_duo, "alignment")
    _no_console_errors(dash_duo)


def test_a_job_that_cannot_start_says_so(dash_duo, twinscope):
    # ends within one poll: its stage must come from the job's outputs, not from a progress update
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/accuracy")
    dash_duo.wait_for_element("#accuracy-sources", timeout=30)
    _wait(dash_duo, dash_duo._wait_for_callbacks, 60, "accuracy callbacks")
    _js(dash_duo, "window.dash_clientside.set_props({type: 'job-request', page: 'accuracy'}, "
                  "{data: {page: 'accuracy', views: []}})")
    _start_job(dash_duo, "accuracy")
    dash_duo.wait_for_text_to_equal("#shell-job-stage", "failed", timeout=30)
    assert "nothing to compute" in dash_duo.find_element("#shell-job-error").text
    _no_console_errors(dash_duo)
