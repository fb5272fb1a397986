"""The published retina / V1 files (Dyballa et al., PNAS 2024): checksums and fetching.

The files, their pinned URLs and SHA-256 are the ``bio`` group of the data manifest
(``compute/data_manifest.json``); fetching goes through ``compute.data.fetch`` (pooch, mirrors first).
Sources: github dyballa/NeuralEncodingManifolds (BSD-2-Clause) and skfile/traceDashboard.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from compute import data
from compute.jobs import JobControl

_ENTRIES = {Path(f.path).name: f for f in data.manifest(("bio",))}

#: file name -> (pinned public URL, SHA-256)
FILES: dict[str, tuple[str, str]] = {name: (f.url, f.sha256) for name, f in _ENTRIES.items()}

sha256_of = data.sha256_of
FETCH_COMMAND = "python -m compute bio fetch"


def default_bio_dir() -> Path:
    """``Settings.from_env().bio_dir`` (TWINSCOPE_DATA_DIR/bio)."""
    from compute.config import Settings

    return Settings.from_env().bio_dir


def verify_file(path: str | os.PathLike, name: str) -> Path:
    """Check ``path`` against the pinned SHA-256 of the published file ``name``; returns the path.

    Raises FileNotFoundError when it is missing and ValueError when its content differs.
    """
    if name not in FILES:
        raise ValueError(f"unknown biological data file {name!r}; expected one of {sorted(FILES)}")
    expected = FILES[name][1]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found at {path}; run `{FETCH_COMMAND}` "
                                "(or set TWINSCOPE_DATA_DIR to a folder whose bio/ holds it)")
    got = sha256_of(path)
    if got != expected:
        raise ValueError(f"checksum mismatch for {path}: expected SHA-256 {expected}, got {got}; the file is "
                         f"corrupted or not the published one: delete it and run `{FETCH_COMMAND}`")
    return path


def file_status(bio_dir: str | os.PathLike) -> dict[str, str]:
    """``{name: "ok" | "missing" | "checksum mismatch"}`` for every published file in ``bio_dir``."""
    return {name: data.file_state(Path(bio_dir) / name, entry) for name, entry in _ENTRIES.items()}


def missing_notice(bio_dir: str | os.PathLike) -> str:
    """"" when every published file is in ``bio_dir`` and verified, else a user-facing notice with the fix."""
    bad = [name for name, state in file_status(bio_dir).items() if state != "ok"]
    if not bad:
        return ""
    n, size = data.group_summary(("bio",))["bio"]
    return (f"Biology (retina, V1) is not available: {len(bad)} of {n} published files are missing or altered in "
            f"{bio_dir}. Fetch them with `{FETCH_COMMAND}` ({size / 1e6:.1f} MB from pinned public sources; "
            f"offline: set {data.MIRROR_VARIABLE} to a folder holding bio/) and restart the app. "
            "Everything else works without them.")


def fetch_bio(data_dir: str | os.PathLike | None = None, *, mirrors: Sequence[str] | None = None,
              network: bool = True, control: JobControl | None = None) -> Path:
    """Make sure every published retina / V1 file is present and verified in ``data_dir / "bio"``.

    Parameters
    ----------
    data_dir : path, default=None
        The data folder; None means ``Settings.from_env().data_dir``.
    mirrors, network, control
        As in ``compute.data.fetch`` (mirror folders or URLs laid out like the data folder, tried first).

    Returns
    -------
    Path
        The ``bio`` folder.
    """
    data_dir = default_bio_dir().parent if data_dir is None else Path(data_dir)
    return data.fetch(data_dir, groups=("bio",), mirrors=mirrors, network=network, control=control) / "bio"
