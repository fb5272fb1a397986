"""One Explore job end to end in headless Chromium with the jobs on Celery workers (TWINSCOPE_BROKER_URL)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import graph_js, shoot
from tests.browser.test_flows import _first_type, _run_job, _wait

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_explore_job_through_celery(dash_duo, web, workers):
    ran_before = workers.log_text().count("] succeeded in ")
    dash_duo.start_server(web)
    dash_duo.wait_for_page(f"{dash_duo.server_url}/explore?source=model:conv3d-random&modules=Conv2&preset=bio-matched")
    dash_duo.wait_for_element("#explore-source", timeout=30)
    stages = _run_job(dash_duo, "explore")
    assert len(stages) >= 2, f"progress never seen: {stages}"
    assert dash_duo.find_element("#shell-job-error").text == ""
    for name in ("explore-decoding", "explore-trajectories", "explore-encoding"):
        _wait(dash_duo, lambda name=name: _first_type(dash_duo, name) == "scatter3d", 60, name)
    assert dash_duo.driver.execute_script(f"return {graph_js('explore-trajectories')}.data[0].x.length") == 12
    assert workers.log_text().count("] succeeded in ") > ran_before, "the job ran on a Celery worker"
    shoot(dash_duo, "explore-celery")
    assert dash_duo.get_logs() == []
