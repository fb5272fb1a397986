"""First use in headless Chromium (issue 17): the home page and its entry points, the Methods page, cost
before Run and Cancel on an uncached FNN module, a cheap first Tubularity run, and regressions of the
preferred-direction colour (7), the PNG/SVG switch (8), the cloud button (9) and cached views shown
without Run (10)."""

from __future__ import annotations

import pytest

from tests._browser import graph_js

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_home_shows_data_status_and_three_working_entry_points(rig):
    rig.duo.wait_for_contains_text("#home-status", "Biology (retina, V1): present", timeout=60)
    assert "Official FNN weights" in rig.text("#home-status")
    links = rig.duo.find_elements("[id*='home-entry'] ")
    hrefs = [link.get_attribute("href") for link in links]
    assert len(hrefs) == 3, hrefs
    rig.shoot("home")
    expected = [("/compare", "#compare-sources", "retina (biology)"), ("/explore", "#explore-source", ""),
                ("/tubularity", "#tubularity-sources", "V1 (biology)")]
    for href, (path, control, text) in zip(hrefs, expected):
        assert path in href
        rig.open(href.removeprefix(rig.duo.server_url), control)
        if text:
            rig.duo.wait_for_contains_text(control, text, timeout=30)
        page = path.strip("/")
        rig.wait(lambda page=page: rig.plan(page).startswith("Run"), 60, f"{page} plan")
    rig.duo.wait_for_page(f"{rig.duo.server_url}/methods")
    rows = rig.wait(lambda: rig.duo.find_elements("#methods-table tr"), 60, "methods table")
    assert len(rows) >= 13 and "authors" in rig.text("#methods-table")
    rig.shoot("methods")
    rig.assert_no_console_errors()


def test_uncached_fnn_module_states_its_cost_before_run_and_cancels(rig):
    rig.open("/explore?source=model:fnn-random&modules=Enc+L1", "#explore-source")
    plan = rig.wait(lambda: rig.plan("explore"), 60, "plan")
    assert "extract Enc L1 + decoding" in plan and "not cached yet" in plan and "about" in plan, plan
    assert rig.text("#shell-job-stage") == "idle", "nothing starts before Run"
    rig.start_job("explore")
    rig.wait(lambda: rig.duo.find_element("#shell-job-cancel").is_enabled(), 60, "job start")
    rig.wait(lambda: "elapsed" in rig.text("#shell-job-clock"), 30, "job clock")
    rig.duo.find_element("#shell-job-cancel").click()
    rig.duo.wait_for_text_to_equal("#shell-job-stage", "cancelled", timeout=30)
    rig.assert_no_console_errors()


def test_tubularity_first_run_is_cheap_and_placeholders_have_no_axes(rig):
    rig.open("/tubularity", "#tubularity-sources")
    g = graph_js("tubularity-bars")
    rig.wait(lambda: rig.js(f"{g} && {g}.layout.annotations && {g}.layout.annotations.length"), 30, "placeholder")
    assert rig.js(f"{g}.layout.xaxis.visible") is False, "no empty axes with ticks before Run"
    plan = rig.wait(lambda: rig.plan("tubularity"), 60, "plan")
    assert "fnn" not in plan.lower() and "long" not in plan, plan
    rig.run_job("tubularity")
    rig.wait_for_type("bar", "tubularity-bars")
    rig.assert_no_console_errors()


def test_preferred_direction_colours_biology_and_cached_url_renders_without_run(rig):
    path = "/explore?source=bio:V1&color=preferred+direction"
    rig.open(path, "#explore-source")
    rig.run_job("explore")
    g = graph_js("explore-encoding")
    rig.wait_for_type("scatter3d", "explore-encoding")
    colors = rig.js(f"Array.from({g}._fullData[0].marker.color)")
    assert colors and all(c is not None and 0 <= c < 360 for c in colors), "v1: every value null"
    assert rig.js(f"{g}._fullData[0].marker.cmax") == 360
    # reopening the same URL draws the cached views without pressing Run
    rig.open(path, "#explore-source")
    rig.wait_for_type("scatter3d", "explore-encoding", "explore-decoding")
    assert rig.text("#shell-job-stage") == "idle"
    rig.assert_no_console_errors()


def test_image_format_applies_to_drawn_graphs_and_no_cloud_button(rig):
    rig.open("/stimuli", "#stimuli-caption")
    g = graph_js("stimuli-thumbnails")
    rig.wait(lambda: rig.js(f"{g} && {g}._context && {g}.data.length"), 60, "thumbnails")
    assert rig.js(f"{g}._context.toImageButtonOptions.format") == "png"
    assert rig.js(f"{g}._context.showSendToCloud") is False
    assert rig.js("document.querySelectorAll('.modebar-btn[data-title*=\"Chart Studio\"],"
                  " .modebar-btn[data-title*=\"Share\"], .modebar-btn[data-title*=\"Cloud\"]').length") == 0
    rig.duo.find_element("#shell-image-format input[value='svg']").click()
    rig.wait(lambda: rig.js(f"{g}._context.toImageButtonOptions.format") == "svg", 30, "svg on a drawn graph")
    title = rig.js(f"{g}.querySelector('.modebar-btn[data-title^=\"Download plot\"]').getAttribute('data-title')")
    assert "SVG" in title, title
    rig.assert_no_console_errors()


def test_export_before_run_says_so_and_the_encoding_manifold_prints_flat(rig):
    """Issue 17 item 10: v1's Export before Run did nothing and said nothing. Then the 2-D projection toggle
    redraws the encoding manifold as a flat scatter (for print) and back."""
    rig.open("/explore?source=model:conv3d-random&modules=Pool&rank=7&preset=custom&stimuli=grat_W1,grat_W2",
             "#explore-source")
    rig.wait(lambda: rig.plan("explore").startswith("Run"), 60, "plan")
    rig.settle("explore")
    rig.duo.find_element("[id*='\"explore\"'][id*='\"job-export\"']").click()
    rig.duo.wait_for_contains_text("#shell-job-error", "nothing to export yet", timeout=30)
    assert "press Run" in rig.text("#shell-job-error")
    rig.run_job("explore")
    rig.wait_for_type("scatter3d", "explore-encoding", timeout=120)
    rig.duo.find_element("#explore-projection input[value='2d']").click()
    rig.wait_for_type("scatter", "explore-encoding", timeout=30)
    assert rig.js(f"{graph_js('explore-encoding')}.layout.xaxis.title.text").startswith("DC1")
    assert "proj=2d" in rig.duo.driver.current_url
    rig.assert_no_console_errors()
