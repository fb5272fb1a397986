"""Whole flows in headless Chromium: stimuli preview, an Explore job with its linked views, Compare and
Tubularity pages, cancelling a job, reloading a shared URL. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.keys import Keys

from tests._browser import EXPLORE_VIEWS, graph_js

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_stimuli_preview_follows_the_class(rig):
    rig.open("/stimuli", "#stimuli-caption")
    rig.duo.wait_for_contains_text("#stimuli-caption", "grat_W12", timeout=60)
    preview = graph_js("stimuli-preview")
    first = rig.wait(lambda: rig.js(f"{preview}.data[0].source"), 30, "preview")
    assert rig.wait(lambda: rig.traces("stimuli-thumbnails") == 11, 30, "thumbnails")
    rig.duo.select_dcc_dropdown("#stimuli-class", value="pos3dotflow_D2_bg")
    rig.duo.wait_for_contains_text("#stimuli-caption", "pos3dotflow_D2_bg", timeout=60)
    assert rig.wait(lambda: rig.js(f"{preview}.data[0].source") != first, 30, "new preview")
    assert rig.js(f"{preview}._transitionData._frames.length") == 37
    assert "cls=pos3dotflow_D2_bg" in rig.duo.driver.current_url
    rig.shoot("stimuli")
    rig.assert_no_console_errors()


def test_explore_job_linked_views_psth_time_and_shared_url(rig):
    rig.open("/explore?source=model:conv3d-random&modules=Conv1&preset=bio-matched", "#explore-source")
    rig.run_job_showing_progress("explore")
    rig.wait_for_type("scatter3d", *EXPLORE_VIEWS)
    trajectories = graph_js("explore-trajectories")
    assert rig.js(f"{trajectories}.data[0].x.length") == 12, "test profile: 12 frames"
    # click a unit of the encoding manifold (plotly_click, as a mouse click on a WebGL point would emit)
    rig.duo.driver.execute_script(
        f"var g = {graph_js('explore-encoding')};"
        "g.emit('plotly_click', {points: [{curveNumber: 0, pointNumber: 0, data: g.data[0], fullData: g._fullData[0],"
        " customdata: g.data[0].customdata[0], x: g.data[0].x[0], y: g.data[0].y[0], z: g.data[0].z[0]}]});")
    rig.wait_for_type("heatmap", "explore-psth")
    # grow the trajectories to bin 4 (clientside)
    box = rig.duo.find_element("#explore-time input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("4", Keys.ENTER)
    rig.wait(lambda: rig.js(f"{trajectories}.data[0].x.length") == 5, 20, "grow")
    rig.shoot("explore")
    shared = rig.duo.driver.current_url
    assert "t=4" in shared and "unit=" in shared and "rank=4" in shared, "test profile: encoding rank 4"
    rig.assert_no_console_errors()

    rig.open(shared.removeprefix(rig.duo.server_url), "#explore-source")
    assert rig.duo.find_element("#explore-time input").get_attribute("value") == "4"
    assert rig.duo.find_element("#explore-rank").get_attribute("value") == "4"
    rig.run_job("explore")  # cached: only keys come back
    rig.wait(lambda: rig.js(f"{trajectories}.data[0].x.length") == 5, 60, "shared view")
    rig.wait_for_type("heatmap", "explore-psth")
    rig.shoot("explore-shared-url")
    # an out-of-range CP rank is refused with a notice; the job would use the default rank
    rank = rig.duo.find_element("#explore-rank")
    rank.send_keys(Keys.CONTROL, "a")
    rank.send_keys("99", Keys.ENTER)
    rig.duo.wait_for_contains_text("#explore-rank-notice", "must be between 2 and 40; got 99", timeout=30)
    rig.assert_no_console_errors()


def test_compare_and_tubularity_pages(rig):
    rig.open("/compare?sources=model:conv3d-random:Conv1,model:conv3d-random:Conv2&view=trajectories",
             "#compare-sources")
    rig.run_job("compare")
    rig.wait_for_type("scatter3d", "compare-0", "compare-1")
    assert rig.js("document.getElementById('compare-panel-3').style.display") == "none"
    rig.shoot("compare")
    rig.open("/tubularity?sources=model:conv3d-random:Conv1", "#tubularity-sources")
    rig.run_job("tubularity")
    rig.wait_for_type("bar", "tubularity-bars")
    rig.shoot("tubularity")
    rig.assert_no_console_errors()


def test_cancel_a_running_job(rig):
    # the full-size FNN with random weights takes far longer than the test waits
    rig.open("/explore?source=model:fnn-random&modules=Enc+L1", "#explore-source")
    rig.start_job("explore")
    rig.wait(lambda: rig.duo.find_element("#shell-job-cancel").is_enabled(), 60, "job start")
    stage = rig.text("#shell-job-stage")
    assert stage not in ("", "idle", "cancelled") and not stage.startswith("done"), f"enabled at {stage!r}"
    rig.duo.find_element("#shell-job-cancel").click()
    rig.duo.wait_for_text_to_equal("#shell-job-stage", "cancelled", timeout=30)
    rig.wait(lambda: not rig.duo.find_element("#shell-job-cancel").is_enabled(), 30, "job end")
    time.sleep(2)
    assert rig.text("#shell-job-stage") == "cancelled"
    rig.shoot("cancelled")
    rig.assert_no_console_errors()


def _finite_in_unit(rig, name: str, index: int) -> bool:
    """y of trace ``index`` all finite and in [0, 1]; reads ``_fullData`` where plotly decoded the base64
    arrays that plotly.py sends for numpy values."""
    g = graph_js(name)
    return bool(rig.js(f"(function(t){{return t.y.length > 0 && Array.from(t.y).every("
                       f"v => v !== null && isFinite(v) && v >= 0 && v <= 1);}})({g}._fullData[{index}])"))


def test_accuracy_page_computes_curves_with_chance_line(rig):
    rig.open("/accuracy?sources=model:conv3d-random:Conv1,model:conv3d-random:Conv2", "#accuracy-sources")
    rig.run_job_showing_progress("accuracy")
    rig.wait(lambda: rig.traces("accuracy-curves") >= 2, 60, "accuracy curves")
    g = graph_js("accuracy-curves")
    names = rig.js(f"{g}.data.map(t => t.name)")
    assert names == ["logistic regression", "3-NN"], names  # no published seed values for the small CNN
    assert rig.js(f"{g}.data.map(t => t.type)") == ["bar", "bar"]
    chance = rig.js(f"{g}.layout.shapes.filter(s => s.name === 'chance')[0].y0")
    assert chance == pytest.approx(1 / 11, abs=1e-3), "the test profile decodes 11 classes"
    for i in range(len(names)):
        assert rig.js(f"{g}.data[{i}].x") == ["Conv1", "Conv2"]
        assert _finite_in_unit(rig, "accuracy-curves", i), f"accuracy of {names[i]} not in [0, 1]"
    rows = rig.wait(lambda: rig.duo.find_elements("#accuracy-table td.dash-cell"), 30, "accuracy table")
    assert {"Conv1", "Conv2"} <= {cell.text for cell in rows}
    # the time windows of the first source (growing / shrinking windows plus chance)
    rig.wait(lambda: rig.traces("accuracy-windows") >= 2, 60, "accuracy windows")
    assert rig.js(f"{graph_js('accuracy-windows')}.data.slice(-1)[0].name").startswith("chance")
    rig.shoot("accuracy")
    rig.assert_no_console_errors()


def test_alignment_page_with_v1(rig):
    rig.open("/alignment?sources=model:conv3d-random:Conv1&datasets=V1", "#alignment-sources")
    rig.run_job_showing_progress("alignment")
    rig.wait(lambda: rig.traces("alignment-scores") >= 1, 60, "alignment figure")
    g = graph_js("alignment-scores")
    means = rig.js(f"{g}._fullData.filter(t => t.meta && t.meta.kind === 'mean')"
                   ".map(t => [t.meta.dataset, t.meta.method, Array.from(t.x), Array.from(t.y)])")
    assert means, "no mean line in the alignment figure"
    assert {m[0] for m in means} == {"V1"}
    assert {m[1] for m in means} >= {"rsa", "cca", "lp"}, means
    for dataset, method, x, y in means:
        assert x == ["Conv1"]
        assert y[0] is not None, f"{dataset}/{method} has no value"
    cells = rig.wait(lambda: rig.duo.find_elements("#alignment-table td.dash-cell"), 30, "alignment table")
    texts = [cell.text for cell in cells]
    assert texts[0] == "Conv1" and len(texts) == 2, texts  # one row: module, V1
    float(texts[1])
    headers = [h.text for h in rig.duo.find_elements("#alignment-table th.dash-header")]
    assert any("V1" in h for h in headers), headers
    rig.shoot("alignment")
    rig.assert_no_console_errors()


def test_a_job_that_cannot_start_says_so(rig):
    # ends within one poll: its stage must come from the job's outputs, not from a progress update
    rig.open("/accuracy", "#accuracy-sources")
    rig.settle("accuracy")
    rig.js("window.dash_clientside.set_props({type: 'job-request', page: 'accuracy'}, "
           "{data: {page: 'accuracy', views: []}})")
    rig.start_job("accuracy")
    rig.duo.wait_for_text_to_equal("#shell-job-stage", "failed", timeout=30)
    assert "nothing to compute" in rig.text("#shell-job-error")
    rig.assert_no_console_errors()
