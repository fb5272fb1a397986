"""First use in headless Chromium (issue 17): the home page and its entry points, the Methods page, cost
before Run and Cancel on an uncached FNN module, a cheap first Tubularity run, and regressions of the
preferred-direction colour (7), the PNG/SVG switch (8), the cloud button (9) and cached views shown
without Run (10)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import graph_js, shoot
from tests.browser.test_flows import _first_type, _js, _no_console_errors, _run_job, _start_job, _wait

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _plan(dash_duo, page: str) -> str:
    return dash_duo.find_element(f"[id*='\"{page}\"'][id*='job-plan']").text


def test_home_shows_data_status_and_three_working_entry_points(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_contains_text("#home-status", "Biology (retina, V1): present", timeout=60)
    assert "Official FNN weights" in dash_duo.find_element("#home-status").text
    links = dash_duo.find_elements("[id*='home-entry'] ")
    hrefs = [link.get_attribute("href") for link in links]
    assert len(hrefs) == 3, hrefs
    shoot(dash_duo, "home")
    expected = [("/compare", "#compare-sources", "retina (biology)"), ("/explore", "#explore-source", ""),
                ("/tubularity", "#tubularity-sources", "V1 (biology)")]
    for href, (path, control, text) in zip(hrefs, expected):
        assert path in href
        dash_duo.wait_for_page(href)
        dash_duo.wait_for_element(control, timeout=30)
        if text:
            dash_duo.wait_for_contains_text(control, text, timeout=30)
        page = path.strip("/")
        _wait(dash_duo, lambda page=page: _plan(dash_duo, page).startswith("Run"), 60, f"{page} plan")
    dash_duo.wait_for_page(f"{dash_duo.server_url}/methods")
    rows = _wait(dash_duo, lambda: dash_duo.find_elements("#methods-table tr"), 60, "methods table")
    assert len(rows) >= 13 and "authors" in dash_duo.find_element("#methods-table").text
    shoot(dash_duo, "methods")
    _no_console_errors(dash_duo)


def test_uncached_fnn_module_states_its_cost_before_run_and_cancels(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/explore?source=model:fnn-random&modules=Enc+L1")
    dash_duo.wait_for_element("#explore-source", timeout=30)
    plan = _wait(dash_duo, lambda: _plan(dash_duo, "explore"), 60, "plan")
    assert "extract Enc L1 + decoding" in plan and "not cached yet" in plan and "about" in plan, plan
    assert dash_duo.find_element("#shell-job-stage").text == "idle", "nothing starts before Run"
    _start_job(dash_duo, "explore")
    _wait(dash_duo, lambda: dash_duo.find_element("#shell-job-cancel").is_enabled(), 60, "job start")
    _wait(dash_duo, lambda: "elapsed" in dash_duo.find_element("#shell-job-clock").text, 30, "job clock")
    dash_duo.find_element("#shell-job-cancel").click()
    dash_duo.wait_for_text_to_equal("#shell-job-stage", "cancelled", timeout=30)
    _no_console_errors(dash_duo)


def test_tubularity_first_run_is_cheap_and_placeholders_have_no_axes(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/tubularity")
    dash_duo.wait_for_element("#tubularity-sources", timeout=30)
    g = graph_js("tubularity-bars")
    _wait(dash_duo, lambda: _js(dash_duo, f"{g} && {g}.layout.annotations && {g}.layout.annotations.length"), 30,
          "placeholder")
    assert _js(dash_duo, f"{g}.layout.xaxis.visible") is False, "no empty axes with ticks before Run"
    plan = _wait(dash_duo, lambda: _plan(dash_duo, "tubularity"), 60, "plan")
    assert "fnn" not in plan.lower() and "long" not in plan, plan
    _run_job(dash_duo, "tubularity")
    _wait(dash_duo, lambda: _first_type(dash_duo, "tubularity-bars") == "bar", 60, "bars")
    _no_console_errors(dash_duo)


def test_preferred_direction_colours_biology_and_cached_url_renders_without_run(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    url = f"{dash_duo.server_url}/explore?source=bio:V1&color=preferred+direction"
    dash_duo.wait_for_page(url)
    dash_duo.wait_for_element("#explore-source", timeout=30)
    _run_job(dash_duo, "explore")
    g = graph_js("explore-encoding")
    _wait(dash_duo, lambda: _first_type(dash_duo, "explore-encoding") == "scatter3d", 60, "encoding")
    colors = _js(dash_duo, f"Array.from({g}._fullData[0].marker.color)")
    assert colors and all(c is not None and 0 <= c < 360 for c in colors), "v1: every value null"
    assert _js(dash_duo, f"{g}._fullData[0].marker.cmax") == 360
    # reopening the same URL draws the cached views without pressing Run
    dash_duo.wait_for_page(url)
    dash_duo.wait_for_element("#explore-source", timeout=30)
    _wait(dash_duo, lambda: _first_type(dash_duo, "explore-encoding") == "scatter3d", 60, "cached encoding")
    _wait(dash_duo, lambda: _first_type(dash_duo, "explore-decoding") == "scatter3d", 60, "cached decoding")
    assert dash_duo.find_element("#shell-job-stage").text == "idle"
    _no_console_errors(dash_duo)


def test_image_format_applies_to_drawn_graphs_and_no_cloud_button(dash_duo, twinscope):
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/stimuli")
    g = graph_js("stimuli-thumbnails")
    _wait(dash_duo, lambda: _js(dash_duo, f"{g} && {g}._context && {g}.data.length"), 60, "thumbnails")
    assert _js(dash_duo, f"{g}._context.toImageButtonOptions.format") == "png"
    assert _js(dash_duo, f"{g}._context.showSendToCloud") is False
    assert _js(dash_duo, "document.querySelectorAll('.modebar-btn[data-title*=\"Chart Studio\"],"
                         " .modebar-btn[data-title*=\"Share\"], .modebar-btn[data-title*=\"Cloud\"]').length") == 0
    dash_duo.find_element("#shell-image-format input[value='svg']").click()
    _wait(dash_duo, lambda: _js(dash_duo, f"{g}._context.toImageButtonOptions.format") == "svg", 30,
          "svg on a drawn graph")
    title = _js(dash_duo, f"{g}.querySelector('.modebar-btn[data-title^=\"Download plot\"]')"
                          ".getAttribute('data-title')")
    assert "SVG" in title, title
    _no_console_errors(dash_duo)


def test_export_before_run_says_so_and_the_encoding_manifold_prints_flat(dash_duo, twinscope):
    """Issue 17 item 10: v1's Export before Run did nothing and said nothing. Then the 2-D projection toggle
    redraws the encoding manifold as a flat scatter (for print) and back."""
    dash_duo.start_server(twinscope)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/explore?source=model:conv3d-random&modules=Pool&rank=7"
                           "&preset=custom&stimuli=grat_W1,grat_W2")
    dash_duo.wait_for_element("#explore-source", timeout=30)
    _wait(dash_duo, lambda: _plan(dash_duo, "explore").startswith("Run"), 60, "plan")
    _wait(dash_duo, dash_duo._wait_for_callbacks, 60, "explore callbacks")
    dash_duo.find_element("[id*='\"explore\"'][id*='\"job-export\"']").click()
    dash_duo.wait_for_contains_text("#shell-job-error", "nothing to export yet", timeout=30)
    assert "press Run" in dash_duo.find_element("#shell-job-error").text
    _run_job(dash_duo, "explore")
    _wait(dash_duo, lambda: _first_type(dash_duo, "explore-encoding") == "scatter3d", 120, "encoding")
    dash_duo.find_element("#explore-projection input[value='2d']").click()
    _wait(dash_duo, lambda: _first_type(dash_duo, "explore-encoding") == "scatter", 30, "2-D projection")
    g = graph_js("explore-encoding")
    assert _js(dash_duo, f"{g}.layout.xaxis.title.text").startswith("DC1")
    assert "proj=2d" in dash_duo.driver.current_url
    _no_console_errors(dash_duo)
