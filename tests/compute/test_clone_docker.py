"""The Dockerfile's install and start steps (``scripts/docker_steps.sh``) run outside Docker: the install step
completes against pinned requirements, and the started server answers /health and shows the biology notice
when the data cannot be fetched (no network here, by a proxy on a closed port)."""

from __future__ import annotations

import json
import os
import signal
import site
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.compute.test_clone import NO_NETWORK

REPO = Path(__file__).resolve().parents[2]


def _venv_with_this_interpreters_packages(folder: Path) -> Path:
    """A virtualenv with pip whose packages are this interpreter's (a .pth file), so install finds them pinned."""
    subprocess.run([Path(sys.base_prefix) / "bin" / "python3", "-m", "venv", folder], check=True, timeout=300)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (folder / "lib" / version / "site-packages" / "twinscope-under-test.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


@pytest.mark.slow
def test_install_then_start_serves_health_and_the_biology_notice(tmp_path):
    venv = _venv_with_this_interpreters_packages(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINSCOPE_") and k != "TORCH_INDEX_URL"}
    env.update(NO_NETWORK, TWINSCOPE_VENV=str(venv), TWINSCOPE_CACHE_DIR=str(tmp_path / "cache"),
               TWINSCOPE_DATA_DIR=str(tmp_path / "data"), TWINSCOPE_HOST="127.0.0.1",
               TWINSCOPE_PORT=str(port := _free_port()))
    install = subprocess.run(["bash", "scripts/docker_steps.sh", "install"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    assert "Requirement already satisfied: torch==2.13.0" in install.stdout
    runtime = (venv / "runtime-requirements.txt").read_text()
    assert "pooch==" in runtime and "pytest" not in runtime and "selenium" not in runtime

    server = subprocess.Popen(["bash", "scripts/docker_steps.sh", "start"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, health = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = json.loads(_get(f"http://127.0.0.1:{port}/health"))
                break
            except OSError:
                time.sleep(1)
        assert health is not None and health["status"] == "ok", server.poll()
        layout = _get(f"http://127.0.0.1:{port}/_dash-layout").decode()
        assert "Biology (retina, V1) is not available" in layout and "python -m compute bio fetch" in layout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert "biological data not fetched: the app runs without it and shows how to fetch it" in output
