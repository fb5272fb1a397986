"""Download and verify the published retina / V1 files (Dyballa et al., PNAS 2024).

Every file is pinned to a commit of its public repository and to its SHA-256. A download goes to a
temporary file beside the target, is hashed while it streams, and is renamed into place only when the
hash matches, so an interrupted or corrupted download leaves nothing behind.

Sources: github dyballa/NeuralEncodingManifolds (BSD-2-Clause) and skfile/traceDashboard.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from compute.jobs import JobControl, ensure_control

_FACTORS_BASE = ("https://raw.githubusercontent.com/dyballa/NeuralEncodingManifolds/"
                 "ddccf17c8dc1e3d129624c05285dd5ec24a97e41/permuted-decomposition/cp-files")
_CELL_INFO_BASE = ("https://raw.githubusercontent.com/skfile/traceDashboard/"
                   "a0c9940e56384e930c59a9ed7799bd7b1bf91769/data")

#: file name -> (pinned public URL, SHA-256)
FILES: dict[str, tuple[str, str]] = {
    "R17_factors.npy": (f"{_FACTORS_BASE}/R17_factors.npy",
                        "a442d3afc4e383e4e9df8f54ce991416a54da7b334e8042c20feaf961e7d225b"),
    "R17_lambdas.npy": (f"{_FACTORS_BASE}/R17_lambdas.npy",
                        "9cf598161c7ace1bcdbffb473794cea6792a74789a1721cf1a7d6eb8e871c53d"),
    "retina_R16_best_factors.npy": (f"{_FACTORS_BASE}/retina_R16_best_factors.npy",
                                    "3f112291b04808044f0fc04b8f9f340f100f530a6216738d4e9e1532f52f053b"),
    "retina_R16_best_lambdas.npy": (f"{_FACTORS_BASE}/retina_R16_best_lambdas.npy",
                                    "836c2ddc5556ff16301694a67d70369ce32d4007b1988dc2f1d252e91eab8c35"),
    "V1_cell_info.pkl": (f"{_CELL_INFO_BASE}/V1_cell_info.pkl",
                         "881c7e0f10804c1ca6ed80810f754dffb6f40383b17947d62eb0934db5c3ae24"),
    "retina_cell_info.pkl": (f"{_CELL_INFO_BASE}/retina_cell_info.pkl",
                             "76510042b4d55563c27ffa0f324f4191bace1738ad94eae767b8b1fb0e4c8e72"),
}

_CHUNK = 1 << 16


def default_bio_dir() -> Path:
    """``Settings.from_env().bio_dir`` (TWINSCOPE_DATA_DIR/bio)."""
    from compute.config import Settings

    return Settings.from_env().bio_dir


def _expected_sha256(name: str) -> str:
    if name not in FILES:
        raise ValueError(f"unknown biological data file {name!r}; expected one of {sorted(FILES)}")
    return FILES[name][1]


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, name: str) -> Path:
    """Check ``path`` against the pinned SHA-256 of the published file ``name``; returns the path.

    Raises FileNotFoundError when it is missing and ValueError when its content differs.
    """
    expected = _expected_sha256(name)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found at {path}; run `python -m compute bio fetch` "
                                "(or set TWINSCOPE_DATA_DIR to a folder whose bio/ holds it)")
    got = sha256_of(path)
    if got != expected:
        raise ValueError(f"checksum mismatch for {path}: expected SHA-256 {expected}, got {got}; the file is "
                         "corrupted or not the published one: delete it and run `python -m compute bio fetch`")
    return path


def file_status(bio_dir: str | os.PathLike) -> dict[str, str]:
    """``{name: "ok" | "missing" | "checksum mismatch"}`` for every published file in ``bio_dir``."""
    status = {}
    for name in FILES:
        path = Path(bio_dir) / name
        status[name] = ("missing" if not path.is_file()
                        else "ok" if sha256_of(path) == FILES[name][1] else "checksum mismatch")
    return status


def _download(url: str, target: Path, expected: str, control: JobControl) -> None:
    """Stream ``url`` into a temporary file, verify, rename onto ``target``; nothing is left on failure."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                control.check()
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != expected:
            raise ValueError(f"checksum mismatch for {target.name} downloaded from {url}: expected SHA-256 "
                             f"{expected}, got {h.hexdigest()}; the source changed or the transfer was "
                             "corrupted; nothing was saved")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_bio(dest_dir: str | os.PathLike | None = None, *, base_urls: str | Sequence[str] | None = None,
              control: JobControl | None = None) -> Path:
    """Make sure every published retina / V1 file is present in ``dest_dir`` and verified.

    Parameters
    ----------
    dest_dir : path, default=None
        Folder for the files; None means ``Settings.from_env().bio_dir``.
    base_urls : str or sequence of str, default=None
        Mirrors holding the files flat (``<base>/<name>``), tried in order. None uses the pinned public URLs.
    control : JobControl, default=None
        Progress and cancellation.

    Returns
    -------
    Path
        ``dest_dir``. Files already present with the right checksum are not downloaded again.

    Raises
    ------
    ValueError
        When a download's SHA-256 differs from the pinned one (the partial file is removed).
    OSError
        When no source could be reached for a file (urllib's error, with every URL tried).
    """
    control = ensure_control(control)
    dest = Path(dest_dir) if dest_dir is not None else default_bio_dir()
    dest.mkdir(parents=True, exist_ok=True)
    if isinstance(base_urls, str):
        base_urls = [base_urls]
    for k, (name, (url, expected)) in enumerate(FILES.items()):
        control.check()
        control.report(k / len(FILES), f"checking {name}")
        target = dest / name
        if target.is_file() and sha256_of(target) == expected:
            continue
        urls = [url] if base_urls is None else [f"{base.rstrip('/')}/{name}" for base in base_urls]
        errors = []
        for candidate in urls:
            control.report(k / len(FILES), f"downloading {name}")
            try:
                _download(candidate, target, expected, control.sub(k / len(FILES), (k + 1) / len(FILES)))
                break
            except (urllib.error.URLError, OSError) as exc:
                errors.append(f"{candidate}: {exc}")
        else:
            raise OSError(f"could not download {name}; tried " + "; ".join(errors))
    control.report(1.0, "biological data verified")
    return dest
