"""Screenshots of every page at 1600 x 1200 for the README tour (docs/screenshots/*.png).

Starts the app in the "test" profile (the small 3-D CNN: every job finishes in seconds; the FNN pages look
the same with longer jobs) on a temporary cache, opens each page in headless Chromium, presses Run where
the page has one, waits for the job, and saves a palette PNG (small files).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--port 8765]

Needs chromium and chromedriver (scripts/test.sh installs them) and the biological data
(TWINSCOPE_DATA_DIR, default ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1600, 1200)
# (file name, path with query, press Run)
PAGES = (
    ("home", "/", False),
    ("stimuli", "/stimuli?cls=pos1dotflow_D2_bg", False),
    ("explore", "/explore?source=model:conv3d-random&modules=Conv2&cross=1", True),
    ("explore-biology", "/explore?source=bio:V1", True),
    ("compare", "/compare?sources=bio:retina,bio:V1&view=encoding", True),
    ("tubularity", "/tubularity", True),
    ("alignment", "/alignment?sources=model:conv3d-random:Conv1,model:conv3d-random:Conv3,"
                  "model:conv3d-random:Output&datasets=retina,V1", True),
    ("accuracy", "/accuracy", True),
    ("methods", "/methods", False),
)


def _wait_for(condition, timeout: float, what: str):
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        try:
            if condition():
                return
        except Exception:  # noqa: BLE001 - the page is still loading
            pass
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--window-size={SIZE[0]},{SIZE[1]}"):
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)
    # the viewport itself is 1600 x 1200 (a window of that size loses its frame's height)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": SIZE[0], "height": SIZE[1], "deviceScaleFactor": 1, "mobile": False})
    return driver


def _graphs_drawn(driver) -> bool:
    """Every graph on the page shows data or its placeholder message (at least one graph)."""
    return bool(driver.execute_script(
        "var gs = Array.from(document.querySelectorAll('.js-plotly-plot'));"
        "return gs.length > 0 && gs.every(g => (g.data && g.data.length) ||"
        " (g.layout && g.layout.annotations && g.layout.annotations.length));"))


def _shoot(driver, base: str, name: str, path: str, run: bool, out: Path) -> Path:
    from PIL import Image

    driver.get(base + path)
    _wait_for(lambda: driver.find_element("css selector", ".page").text, 60, f"{name} page")
    if name not in ("home", "methods"):
        _wait_for(lambda: _graphs_drawn(driver), 300, f"{name} graphs")
    time.sleep(2)  # the page's own callbacks (plan, state) settle
    if run:
        driver.find_element("css selector", "[id*='job-run']").click()
        _wait_for(lambda: driver.find_element("css selector", "#shell-job-stage").text.startswith("done"), 600,
                  f"{name} job")
        time.sleep(3)  # figures draw
    raw = out / f"{name}.raw.png"
    driver.save_screenshot(str(raw))
    target = out / f"{name}.png"
    Image.open(raw).convert("RGB").quantize(colors=128).save(target, optimize=True)
    raw.unlink()
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = tempfile.mkdtemp(prefix="twinscope-shots-")
    env = {**os.environ, "TWINSCOPE_PROFILE": "test", "TWINSCOPE_PORT": str(args.port), "TWINSCOPE_CACHE_DIR": cache,
           "TWINSCOPE_DATA_DIR": os.environ.get("TWINSCOPE_DATA_DIR", str(ROOT.parent / "shared" / "data"))}
    server = subprocess.Popen([sys.executable, str(ROOT / "wsgi.py")], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{args.port}"
    driver = None
    try:
        _wait_for(lambda: urllib.request.urlopen(base + "/health", timeout=2).status == 200, 120, "the app")
        driver = _browser()
        for name, path, run in PAGES:
            print(_shoot(driver, base, name, path, run, args.out), flush=True)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
