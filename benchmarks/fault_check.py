"""Fault checks of the cache and the job system; one line per fault, each ending with the cache verified.

    bash benchmarks/fault_check.sh        (root for the small tmpfs of the disk-full check; Linux)

1. kill -9 of an extraction mid-write: the writer is stopped between writing its temporary file and the
   rename (``os.replace`` is held), then killed; the next cache open sweeps the file and a rerun completes.
2. disk full during a cache write: the cache lives on a 1 MiB tmpfs; the extraction must end with one
   ``error:`` line and exit code 2, leaving no partial file.
3. two identical jobs from two browser sessions on gunicorn (2 workers, no TWINSCOPE_SECRET_KEY): both get
   their result, with one artefact in the cache.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
EXTRACT = ["-m", "compute", "extract", "--model", "conv3d-random", "--modules", "Conv1", "--instances", "1",
           "--frames", "8", "--threads", "1"]
# Runs the extract command with os.replace held for 600 s once a cache file is about to be renamed into place.
HELD_WRITE = ("import os, sys, time, runpy\n"
              "real = os.replace\n"
              "def held(src, dst, *a, **k):\n"
              "    if str(src).endswith('.tmp') and str(dst).endswith('.npz'):\n"
              "        print('HELD', src, flush=True); time.sleep(600)\n"
              "    return real(src, dst, *a, **k)\n"
              "os.replace = held\n"
              "sys.argv = ['compute'] + sys.argv[1:]\n"
              "runpy.run_module('compute', run_name='__main__')\n")


def verify(cache_dir: Path) -> str:
    """Open the cache (sweeps dead writers' files), read every artefact; a summary, or AssertionError."""
    from compute.cache import ArtifactCache

    cache = ArtifactCache(cache_dir / "artifacts")
    leftovers = [p.name for p in cache.root.glob(".*.tmp")]
    assert not leftovers, f"temporary files left: {leftovers}"
    keys = [p.stem for p in cache.root.glob("*.npz")]
    for key in keys:
        cache.get(key)  # raises on a truncated or corrupt artefact
    return f"cache intact ({len(keys)} artefacts read back, no temporary files)"


def _env(cache_dir: Path, **more: str) -> dict:
    env = {**os.environ, "TWINSCOPE_CACHE_DIR": str(cache_dir), **more}
    env.pop("TWINSCOPE_SECRET_KEY", None)
    return env


def kill_mid_write(work: Path) -> str:
    cache_dir = work / "kill"
    proc = subprocess.Popen([PYTHON, "-c", HELD_WRITE, *EXTRACT[2:]], cwd=ROOT, env=_env(cache_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.startswith("HELD"), f"the extraction never reached a cache write: {line!r}"
    tmp = Path(line.split()[1])
    assert tmp.exists(), f"{tmp} should hold the write in progress"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    rerun = subprocess.run([PYTHON, *EXTRACT], cwd=ROOT, env=_env(cache_dir), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert not tmp.exists(), f"{tmp.name} of the killed writer was not swept"
    return f"kill -9 mid-write ({tmp.name}): swept, rerun exit 0; " + verify(cache_dir)


def disk_full(work: Path) -> str:
    mount = work / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        done = subprocess.run([PYTHON, *EXTRACT], cwd=ROOT, env=_env(mount / "cache"), capture_output=True,
                              text=True, timeout=600)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert done.returncode == 2, f"exit {done.returncode}: {done.stderr[-2000:]}"
        assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert "no space left on device" in errors[0], errors[0]
        return f"disk full (1 MiB tmpfs): exit 2, one line '{errors[0][:60]}...'; " + verify(mount / "cache")
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _session(base: str, http) -> tuple[str, str]:
    html = http.get(f"{base}/explore", timeout=60).text
    config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    layout = http.get(f"{base}/_dash-layout", timeout=60).text
    nonce = re.search(r'"data":\s*"([0-9a-f]{32})",\s*"id":\s*"shell-session"', layout)
    nonce = nonce or re.search(r'"id":\s*"shell-session"[^}]*"data":\s*"([0-9a-f]{32})"', layout)
    return config["end_id"], nonce.group(1)


def two_sessions(work: Path) -> str:
    import requests

    cache_dir, port = work / "sessions", int(os.environ.get("TWINSCOPE_FAULT_PORT", "18061"))
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}",
                               "--timeout", "300", "--log-level", "warning", "wsgi:server"], cwd=ROOT,
                              env=_env(cache_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                if requests.get(f"{base}/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        deps = requests.get(f"{base}/_dash-dependencies", timeout=60).json()
        spec = next(d for d in deps if '"job-result"' in d["output"] and '"explore"' in d["output"])
        request = {"page": "explore", "views": [{"view": "decoding", "source": "bio:retina", "options": {}}]}
        outputs = []
        for piece in spec["output"].strip(".").split("..."):
            cid, _, prop = piece.rpartition(".")
            outputs.append({"id": json.loads(cid) if cid.startswith("{") else cid, "property": prop.split("@")[0]})
        runs = []
        for _ in range(2):
            http = requests.Session()
            end_id, nonce = _session(base, http)
            values = {"job-request": request, "shell-session": nonce}
            state = [{"id": json.loads(s["id"]) if s["id"].startswith("{") else s["id"], "property": s["property"],
                      "value": values["job-request" if "job-request" in s["id"] else s["id"]]}
                     for s in spec["state"]]
            inputs = [{"id": json.loads(spec["inputs"][0]["id"]), "property": "n_clicks", "value": 1}]
            body = {"output": spec["output"], "outputs": outputs, "inputs": inputs, "state": state,
                    "changedPropIds": [f"{spec['inputs'][0]['id']}.n_clicks"]}
            handles = http.post(f"{base}/_dash-update-component", json=body, params={"endId": end_id},
                                timeout=60).json()
            runs.append((http, end_id, body, handles))
        keys = []
        for http, end_id, body, handles in runs:
            deadline = time.monotonic() + 300
            while True:
                answer = http.post(f"{base}/_dash-update-component", json=body, timeout=60, params={
                    "endId": end_id, "cacheKey": handles["cacheKey"], "job": handles["job"]})
                if answer.status_code == 200 and "response" in answer.json():
                    result = answer.json()["response"]
                    keys.append(result[next(k for k in result if "job-result" in k)]["data"]["views"][0]["key"])
                    break
                assert time.monotonic() < deadline, f"no result after 300 s (last HTTP {answer.status_code})"
                time.sleep(0.5)
        artefacts = list((cache_dir / "artifacts").glob("view-decoding-*.npz"))
        assert len(set(keys)) == 1 and len(artefacts) == 1, (keys, artefacts)
        return "two sessions, same job on gunicorn -w 2: both got the result, one artefact; " + verify(cache_dir)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    failed = 0
    with tempfile.TemporaryDirectory(prefix="twinscope-faults-") as tmp:
        for check in (kill_mid_write, disk_full, two_sessions):
            try:
                print(f"PASS {check(Path(tmp))}", flush=True)
            except Exception as error:  # noqa: BLE001 - one line per fault, whatever broke
                failed += 1
                print(f"FAIL {check.__name__}: {type(error).__name__}: {str(error)[:500]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
