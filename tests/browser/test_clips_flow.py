"""The user's clips in the browser: choose a clip set on the Stimuli page, see its classes there, and in a
decoding manifold of the small model on Explore. The app gets its own data and cache folders, so the clip set
it chooses (a setting of the server) never reaches the other browser tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests._browser import Rig, graph_js

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def clip_app(monkeypatch, tmp_path, data_dir):
    import imageio.v3 as iio

    from app import create_app
    from compute.config import Settings

    data = tmp_path / "data"
    (data / "clips" / "walks").mkdir(parents=True)
    (data / "bio").symlink_to(data_dir / "bio")
    square = np.zeros((14, 72, 128), dtype=np.uint8)
    square[:, 30:40, 60:70] = 250
    np.save(data / "clips" / "walks" / "square.npy", square)
    ramp = np.broadcast_to((np.arange(5) * 50).astype(np.uint8)[:, None, None], (5, 90, 160))
    iio.imwrite(data / "clips" / "walks" / "ramp.gif", ramp, duration=100, loop=0)
    monkeypatch.setenv("TWINSCOPE_PROFILE", "test")
    monkeypatch.setenv("TWINSCOPE_DATA_DIR", str(data))
    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return create_app(Settings.from_env())


def test_choose_a_clip_set_and_decode_its_classes(dash_duo, clip_app):
    rig = Rig(dash_duo, clip_app)
    rig.open("/stimuli", "#stimuli-clip-status")
    dash_duo.wait_for_contains_text("#stimuli-clip-status", "No clip set in use", timeout=60)
    rig.wait(lambda: rig.traces("stimuli-thumbnails") == 11, 30, "suite thumbnails")
    dash_duo.select_dcc_dropdown("#stimuli-clip-set", value="walks")
    dash_duo.find_element("#stimuli-clip-use").click()
    dash_duo.wait_for_contains_text("#stimuli-clip-status", "In use: clip set 'walks' with 2 clip class(es) "
                                    "(clip_ramp, clip_square)", timeout=60)
    rig.wait(lambda: rig.traces("stimuli-thumbnails") == 13, 30, "clip thumbnails")
    g = graph_js("stimuli-thumbnails")
    assert rig.js(f"{g}.data.slice(-2).map(t => t.name)") == ["clip_ramp", "clip_square"]
    dash_duo.select_dcc_dropdown("#stimuli-class", value="clip_square")
    dash_duo.wait_for_contains_text("#stimuli-caption", "clip_square, moving at 0 deg: 12 frames", timeout=60)
    rig.shoot("stimuli-clips")
    rig.assert_no_console_errors()

    rig.open("/explore?source=model:conv3d-random&modules=Conv1&preset=custom&stimuli=grat_W12,clip_ramp,clip_square",
             "#explore-source")
    rig.run_job("explore")
    assert rig.text("#shell-job-error") == ""
    manifold = graph_js("explore-decoding")
    names = rig.wait(lambda: rig.js(f"{manifold} && {manifold}.data.length && {manifold}.data.map(t => t.name)"),
                     60, "decoding manifold")
    assert {"grat_W12", "clip_ramp", "clip_square"} <= set(names), names
    rig.shoot("explore-clips")
    rig.assert_no_console_errors()
