"""Shared fixtures. External data (``compute/data_manifest.json``) comes from environment variables:

TWINSCOPE_DATA_DIR       data folder: ``bio/`` (retina/V1 files) and, after ``python -m compute data fetch``,
                         ``reference/stimuli/`` (the authors' images); default ../shared/data
TWINSCOPE_REFERENCE_DIR  folder with ``stimuli/``; default $TWINSCOPE_DATA_DIR/reference when it exists,
                         else ../shared/reference

``scripts/test.sh`` fetches (or copies from TWINSCOPE_MIRROR) what is missing before the suite runs. Small
facts (checkpoint layout, reference-stimulus statistics) are in tests/facts/, so most tests need no data.
Missing or altered data stops the whole run with one message (never a skip, never a wall of failures).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from compute import data as external

REPO = Path(__file__).resolve().parent.parent
_SHARED = REPO.parent / "shared"

# Tests never write into the repository's cache/.
os.environ.setdefault("TWINSCOPE_CACHE_DIR", tempfile.mkdtemp(prefix="twinscope-test-cache-"))


def _require(group: str, folder: Path, variable: str) -> Path:
    """``folder`` when it holds every manifest file of ``group`` (at the manifest path less its first part, e.g.
    ``bio/R17_factors.npy`` -> ``folder/R17_factors.npy``); else stop the run with one message."""
    missing = [f for f in external.manifest((group,))
               if external.file_state(folder / f.path.split("/", 1)[1], f) != "ok"]
    if missing:
        pytest.exit(f"{external.unavailable_message(missing, folder)}\n(the tests look in {folder}: set {variable} "
                    "or run `bash scripts/test.sh`, which fetches them)", returncode=1)
    return folder


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder whose ``bio/`` holds the published retina/V1 files."""
    folder = Path(os.environ.get("TWINSCOPE_DATA_DIR") or _SHARED / "data")
    _require("bio", folder / "bio", "TWINSCOPE_DATA_DIR")
    return folder


@pytest.fixture(scope="session")
def bio_dir(data_dir: Path) -> Path:
    return data_dir / "bio"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Folder with ``stimuli/`` (the authors' frames, the manifest's ``reference`` group)."""
    fetched = Path(os.environ.get("TWINSCOPE_DATA_DIR") or _SHARED / "data") / "reference"
    default = fetched if fetched.is_dir() else _SHARED / "reference"
    folder = Path(os.environ.get("TWINSCOPE_REFERENCE_DIR") or default)
    _require("reference", folder, "TWINSCOPE_REFERENCE_DIR")
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def tmp_cache(tmp_path):
    from compute.cache import ArtifactCache

    return ArtifactCache(tmp_path / "cache")
