"""A clone alone: the data manifest, the pooch fetcher with mirrors, and ``scripts/test.sh`` in a copy of the
working tree that has no shared/ folder beside it (issue 15).

The fresh-clone tests stand in for the network with a mirror (the folders the other tests read) and make the
network unreachable with a proxy on a closed local port, so they behave the same online and offline.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compute import data
from compute import stimuli as S
from compute.jobs import Cancelled, JobControl

REPO = Path(__file__).resolve().parents[2]
NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
              "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
              "no_proxy": "127.0.0.1,localhost"}


@pytest.fixture(scope="module")
def mirrors(data_dir, reference_dir) -> list[str]:
    """Folders laid out like the data folder that together hold every manifest file."""
    folders = [str(data_dir)]
    if reference_dir.name == "reference" and reference_dir.parent != data_dir:
        folders.append(str(reference_dir.parent))
    missing = [f.path for f in data.manifest() if not any((Path(m) / f.path).is_file() for m in folders)]
    assert not missing, f"the test data folders are not laid out like the data folder: {missing[:3]}"
    return folders


# ------------------------------------------------------------------ manifest
class TestManifest:
    def test_every_file_is_pinned(self):
        entries = data.manifest()
        assert len({f.path for f in entries}) == len(entries) == 6 + 11 * 8
        for f in entries:
            assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", f.url), f.url
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.size > 0, f.path

    def test_reference_group_is_the_authors_layout(self):
        paths = {f.path for f in data.manifest(("reference",))}
        assert paths == {f"reference/stimuli/{name}_inst0/{d}/0.png" for name in S.CLASS_NAMES for d in S.DIRECTIONS}
        assert all(f.url.endswith("/CNNs/flowstims/" + f.path.removeprefix("reference/stimuli/"))
                   for f in data.manifest(("reference",)))

    def test_sizes_and_checksums_match_the_verified_copies(self, mirrors):
        for f in data.manifest():
            path = next(Path(m) / f.path for m in mirrors if (Path(m) / f.path).is_file())
            assert path.stat().st_size == f.size, f.path
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256, f.path

    def test_unknown_group(self):
        with pytest.raises(ValueError, match=r"unknown data groups \['weights'\]; expected a subset of \('bio', "):
            data.manifest(("bio", "weights"))

    def test_mirror_variable_is_split_on_pathsep(self):
        assert data.mirrors_from_env({"TWINSCOPE_MIRROR": f"/a{os.pathsep}{os.pathsep}/b"}) == ["/a", "/b"]
        assert data.mirrors_from_env({}) == []


# ------------------------------------------------------------------ fetcher
class TestFetch:
    def test_from_folder_mirrors_then_nothing_to_do(self, mirrors, tmp_path):
        assert data.fetch(tmp_path, mirrors=mirrors, network=False) == tmp_path
        assert data.missing_files(tmp_path) == []
        # a second call needs no source at all
        data.fetch(tmp_path, mirrors=[], network=False)

    def test_interrupted_fetch_resumes(self, mirrors, tmp_path):
        calls = []

        def cancelled():
            calls.append(1)
            return len(calls) > 10

        with pytest.raises(Cancelled):
            data.fetch(tmp_path, mirrors=mirrors, network=False, control=JobControl(cancelled=cancelled))
        present = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert len(present) == 10 and not [p for p in present if p.name.startswith("tmp")]
        assert len(data.missing_files(tmp_path)) == len(data.manifest()) - 10
        data.fetch(tmp_path, mirrors=mirrors, network=False)
        assert data.missing_files(tmp_path) == []

    def test_altered_local_file_is_replaced(self, mirrors, tmp_path):
        data.fetch(tmp_path, groups=("bio",), mirrors=mirrors, network=False)
        target = tmp_path / "bio" / "R17_lambdas.npy"
        target.write_bytes(b"x" * target.stat().st_size)
        assert data.missing_files(tmp_path, ("bio",)) == [f for f in data.manifest(("bio",))
                                                          if f.path == "bio/R17_lambdas.npy"]
        data.fetch(tmp_path, groups=("bio",), mirrors=mirrors, network=False)
        assert data.missing_files(tmp_path, ("bio",)) == []

    def test_offline_without_mirror_fails_fast_with_one_message(self, tmp_path, monkeypatch):
        for name, value in NO_NETWORK.items():
            monkeypatch.setenv(name, value)
        start = time.monotonic()
        with pytest.raises(data.DataUnavailableError) as caught:
            data.fetch(tmp_path, mirrors=[])
        assert time.monotonic() - start < 30
        message = str(caught.value)
        assert message.startswith(f"missing data in {tmp_path}: 6 bio file(s), 88 reference file(s)\n")
        assert "network unreachable (ProxyError)" in message or "network unreachable (ConnectionError)" in message
        assert "network unreachable (see the first file)" in message and "... and 86 more" in message
        assert "1. with a network: python -m compute data fetch" in message
        assert "2. offline: TWINSCOPE_MIRROR=" in message


# ------------------------------------------------------------------ a fresh clone
def _fresh_clone(root: Path) -> Path:
    """Copy the working tree (tracked and untracked, not ignored) to ``root/clone``, with nothing beside it.

    Its ``.venv`` reuses this interpreter's packages through a .pth file and carries the setup stamp, so
    ``scripts/setup.sh`` installs nothing (the suite's packages are what is under test, not pip).
    """
    clone = root / "clone"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    venv = clone / ".venv"
    subprocess.run([Path(sys.base_prefix) / "bin" / "python3", "-m", "venv", "--without-pip", venv], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "lib" / version / "site-packages" / "twinscope-under-test.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    digest = hashlib.sha256((clone / "requirements.txt").read_bytes()).hexdigest()
    (venv / ".requirements.sha256").write_text(digest + "\n")
    assert not (clone.parent / "shared").exists()
    return clone


def _clean_env(clone: Path, **extra: str) -> dict[str, str]:
    """The environment of a new user: no TWINSCOPE_* data settings, no network, and stand-ins for chromium
    and chromedriver (test.sh installs them with apt when absent; the smoke subset has no browser test)."""
    stubs = clone.parent / "bin"
    stubs.mkdir(exist_ok=True)
    for name in ("chromium", "chromedriver"):
        (stubs / name).write_text("#!/bin/sh\nexit 0\n")
        (stubs / name).chmod(0o755)
    drop = ("TWINSCOPE_DATA_DIR", "TWINSCOPE_REFERENCE_DIR", "TWINSCOPE_CACHE_DIR", "TWINSCOPE_MIRROR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, **NO_NETWORK, "PATH": f"{stubs}{os.pathsep}{env.get('PATH', '')}", **extra}


@pytest.mark.slow
class TestFreshClone:
    def test_mirror_fetch_then_smoke_suite(self, tmp_path, mirrors):
        clone = _fresh_clone(tmp_path)
        smoke = ["tests/compute/test_fnn.py::test_state_dict_matches_the_public_checkpoint",
                 "tests/compute/test_bio.py::TestCli", "tests/compute/test_stimuli.py::TestReferenceFacts"]
        run = subprocess.run(["bash", "scripts/test.sh", *smoke, "-p", "no:cacheprovider"], cwd=clone,
                             env=_clean_env(clone, TWINSCOPE_MIRROR=os.pathsep.join(mirrors)), capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert f"fetched and verified: {clone / 'cache' / 'data'}" in run.stdout
        assert re.search(r"\b15 passed\b", run.stdout), run.stdout[-2000:]
        assert data.missing_files(clone / "cache" / "data") == []

    def test_neither_network_nor_mirror_fails_fast_with_one_message(self, tmp_path):
        clone = _fresh_clone(tmp_path)
        start = time.monotonic()
        run = subprocess.run(["bash", "scripts/test.sh", "-p", "no:cacheprovider"], cwd=clone, env=_clean_env(clone),
                             capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - start
        assert run.returncode != 0 and elapsed < 30, (run.returncode, elapsed)
        errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
        assert errors == [f"error: missing data in {clone / 'cache' / 'data'}: 6 bio file(s), 88 reference file(s)"]
        assert "Provide them in one of two ways:" in run.stderr and "TWINSCOPE_MIRROR=" in run.stderr
        assert "passed" not in run.stdout and "failed" not in run.stdout      # the suite never started
