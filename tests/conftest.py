"""Shared fixtures. Reference data comes from environment variables (``.ci/run`` sets them):

TWINSCOPE_DATA_DIR       folder with ``bio/`` (the published retina/V1 files), e.g. ../shared/data
TWINSCOPE_REFERENCE_DIR  folder with ``stimuli/`` and ``fnn/``, e.g. ../shared/reference

When unset they default to the ``shared/`` folder beside the checkout. Missing data fails the test
(never skips), so CI cannot go green without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
_SHARED = REPO.parent / "shared"

# Tests never write into the repository's cache/.
os.environ.setdefault("TWINSCOPE_CACHE_DIR", tempfile.mkdtemp(prefix="twinscope-test-cache-"))


def _required_dir(variable: str, default: Path, must_contain: str) -> Path:
    path = Path(os.environ.get(variable) or default)
    if not (path / must_contain).exists():
        pytest.fail(f"{variable} must point at a folder containing {must_contain!r}; "
                    f"{path} does not (set {variable}, see README 'Tests')", pytrace=False)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder whose ``bio/`` holds the published retina/V1 files."""
    return _required_dir("TWINSCOPE_DATA_DIR", _SHARED / "data", "bio")


@pytest.fixture(scope="session")
def bio_dir(data_dir: Path) -> Path:
    return data_dir / "bio"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Folder with ``stimuli/`` (the authors' frames) and ``fnn/`` (state-dict reference)."""
    return _required_dir("TWINSCOPE_REFERENCE_DIR", _SHARED / "reference", "stimuli")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def tmp_cache(tmp_path):
    from compute.cache import ArtifactCache

    return ArtifactCache(tmp_path / "cache")
