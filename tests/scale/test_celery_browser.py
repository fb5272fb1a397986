"""One Explore job end to end in headless Chromium with the jobs on Celery workers (TWINSCOPE_BROKER_URL)."""

from __future__ import annotations

import pytest

from tests._browser import EXPLORE_VIEWS, Rig, graph_js

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_explore_job_through_celery(dash_duo, web, workers):
    ran_before = workers.log_text().count("] succeeded in ")
    rig = Rig(dash_duo, web)
    rig.open("/explore?source=model:conv3d-random&modules=Conv2&preset=bio-matched", "#explore-source")
    rig.run_job_showing_progress("explore")
    rig.wait_for_type("scatter3d", *EXPLORE_VIEWS)
    assert rig.js(f"{graph_js('explore-trajectories')}.data[0].x.length") == 12
    assert workers.log_text().count("] succeeded in ") > ran_before, "the job ran on a Celery worker"
    rig.shoot("explore-celery")
    rig.assert_no_console_errors()
