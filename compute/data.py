"""External data files: one manifest (pinned URL, SHA-256, size) and one fetcher (pooch).

Every file twinscope or its tests read from outside the repository is listed in ``data_manifest.json``
with the path it gets under ``$TWINSCOPE_DATA_DIR``. Groups: ``bio`` (the published retina / V1 files the
app needs) and ``reference`` (the seed authors' stimulus images, for the tests that re-measure them).

Sources are tried in order for each file: the mirror folders (``TWINSCOPE_MIRROR``, ``os.pathsep``-separated,
each laid out like the data folder) or mirror URLs, then the pinned public URL. pooch downloads into a
temporary file beside the target and renames it only after the SHA-256 matches, so an interrupted fetch
leaves nothing half-written and a rerun continues with the files still missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pooch
import requests

from compute.jobs import JobControl, ensure_control

MANIFEST_PATH = Path(__file__).with_name("data_manifest.json")
GROUPS = ("bio", "reference")
MIRROR_VARIABLE = "TWINSCOPE_MIRROR"
#: (connect, read) seconds for one HTTP request: offline, a fetch must fail within seconds, not minutes.
HTTP_TIMEOUT = (5, 60)


@dataclass(frozen=True)
class DataFile:
    """One external file: ``path`` relative to the data folder, its pinned ``url``, ``sha256`` and ``size``."""

    path: str
    url: str
    sha256: str
    size: int

    @property
    def group(self) -> str:
        return self.path.split("/", 1)[0]


class DataUnavailableError(OSError):
    """Some files could not be provided; the message lists them and the two ways to provide them."""


def manifest(groups: Iterable[str] = GROUPS) -> tuple[DataFile, ...]:
    """The manifest's files of ``groups`` (a subset of ``GROUPS``), in manifest order."""
    groups = tuple(groups)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown data groups {unknown}; expected a subset of {GROUPS}")
    entries = json.loads(MANIFEST_PATH.read_text())["files"]
    return tuple(f for f in (DataFile(**e) for e in entries) if f.group in groups)


def group_summary(groups: Iterable[str] = GROUPS) -> dict[str, tuple[int, int]]:
    """``{group: (n_files, total bytes)}`` for messages and the README."""
    summary: dict[str, tuple[int, int]] = {}
    for f in manifest(groups):
        n, size = summary.get(f.group, (0, 0))
        summary[f.group] = (n + 1, size + f.size)
    return summary


def sha256_of(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_state(path: str | os.PathLike, entry: DataFile) -> str:
    """``"ok"``, ``"missing"`` or ``"checksum mismatch"`` of ``path`` against ``entry``."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    ok = path.stat().st_size == entry.size and sha256_of(path) == entry.sha256
    return "ok" if ok else "checksum mismatch"


def missing_files(data_dir: str | os.PathLike, groups: Iterable[str] = GROUPS) -> list[DataFile]:
    """Files of ``groups`` that are absent from ``data_dir`` or differ from the manifest."""
    return [f for f in manifest(groups) if file_state(Path(data_dir) / f.path, f) != "ok"]


def mirrors_from_env(environ: dict | None = None) -> list[str]:
    """``TWINSCOPE_MIRROR`` split on ``os.pathsep``: folders (or URLs) laid out like the data folder."""
    value = (os.environ if environ is None else environ).get(MIRROR_VARIABLE, "")
    return [m for m in value.split(os.pathsep) if m.strip()]


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _copy_from_folder(source: str, output_file: str, pooch_obj) -> None:
    """A pooch downloader for a local mirror: copy ``source`` (a path) into pooch's temporary file."""
    shutil.copyfile(source, output_file)


def _sources(entry: DataFile, mirrors: Sequence[str], network: bool) -> list[str]:
    sources = [f"{m.rstrip('/')}/{entry.path}" if _is_url(m) else str(Path(m) / entry.path) for m in mirrors]
    return sources + ([entry.url] if network else [])


def _retrieve(source: str, target: Path, entry: DataFile) -> None:
    """Fetch ``source`` onto ``target`` with pooch: temporary file, SHA-256 check, atomic rename."""
    if _is_url(source):
        downloader = pooch.HTTPDownloader(progressbar=False, timeout=HTTP_TIMEOUT)
    else:
        if not Path(source).is_file():
            raise FileNotFoundError("not in this mirror")
        downloader = _copy_from_folder
    pooch.retrieve(source, known_hash=f"sha256:{entry.sha256}", fname=target.name, path=target.parent,
                   downloader=downloader)


def fetch(data_dir: str | os.PathLike, *, groups: Iterable[str] = GROUPS, mirrors: Sequence[str] | None = None,
          network: bool = True, control: JobControl | None = None) -> Path:
    """Make every manifest file of ``groups`` present and verified under ``data_dir``.

    Parameters
    ----------
    data_dir : path
        The data folder (``$TWINSCOPE_DATA_DIR``); files go to ``data_dir / entry.path``.
    groups : iterable of str, default=GROUPS
        Which manifest groups to fetch (``"bio"``, ``"reference"``).
    mirrors : sequence of str, default=None
        Folders or base URLs laid out like the data folder, tried before the public URL, in order; a mirror
        that lacks a file or holds a different one is passed over. None reads ``TWINSCOPE_MIRROR``.
    network : bool, default=True
        Whether to fall back to the pinned public URLs. After the first connection failure the network is
        not tried again in this call, so an offline fetch fails in seconds.
    control : JobControl, default=None
        Progress (one step per file) and cancellation.

    Returns
    -------
    Path
        ``data_dir``. Files already present with the right checksum are left alone.

    Raises
    ------
    DataUnavailableError
        When some files could not be provided; the message names each one, what every source answered
        (including a local file that failed its check) and how to provide them.
    """
    control = ensure_control(control)
    data_dir = Path(data_dir)
    mirrors = mirrors_from_env() if mirrors is None else list(mirrors)
    entries = manifest(groups)
    failures: dict[DataFile, list[str]] = {}
    pooch.get_logger().setLevel(logging.WARNING)  # one progress line per file instead of pooch's log lines
    offline_reason = "network not used (offline)"
    for k, entry in enumerate(entries):
        control.check()
        control.report(k / len(entries), entry.path)
        target = data_dir / entry.path
        state = file_state(target, entry)
        if state == "ok":
            continue
        notes = [f"local file {target} failed its check (size or SHA-256 differs)"] if state != "missing" else []
        tried_network = network
        for source in _sources(entry, mirrors, network):
            try:
                _retrieve(source, target, entry)
                break
            except ValueError as exc:                                  # pooch: SHA-256 mismatch
                notes.append(f"{source}: checksum mismatch ({str(exc).split('. Deleted')[0]})")
            except requests.ConnectionError as exc:
                notes.append(f"{source}: network unreachable ({type(exc).__name__})")
                network, offline_reason = False, "network unreachable (see the first file)"
            except (OSError, requests.RequestException) as exc:
                notes.append(f"{source}: {exc}")
        else:
            failures[entry] = notes + ([] if tried_network else [offline_reason])
    if failures:
        control.report(1.0, f"{len(failures)} of {len(entries)} files could not be provided")
        raise DataUnavailableError(unavailable_message(failures, data_dir))
    control.report(1.0, f"{len(entries)} files verified in {data_dir}")
    return data_dir


def unavailable_message(failures: dict[DataFile, list[str]] | Sequence[DataFile], data_dir: Path) -> str:
    """The one message for missing data: what is missing, why, and the two ways to provide it."""
    entries = list(failures)
    groups = sorted({f.group for f in entries}, key=GROUPS.index)
    counts = ", ".join(f"{sum(f.group == g for f in entries)} {g} file(s)" for g in groups)
    lines = [f"missing data in {data_dir}: {counts}"]
    for f in entries[:8]:
        reasons = failures[f] if isinstance(failures, dict) else []
        lines.append(f"  {f.path}" + (f": {'; '.join(reasons)}" if reasons else ""))
    if len(entries) > 8:
        lines.append(f"  ... and {len(entries) - 8} more")
    sizes = ", ".join(f"{g}: {n} files, {size / 1e6:.1f} MB" for g, (n, size) in group_summary(groups).items())
    group_flags = " ".join(f"--only {g}" for g in groups) if len(groups) < len(GROUPS) else ""
    lines += [
        "Provide them in one of two ways:",
        f"  1. with a network: python -m compute data fetch {group_flags}".rstrip()
        + f"   (downloads {sizes} from pinned GitHub commits, SHA-256 checked)",
        f"  2. offline: {MIRROR_VARIABLE}=<folder laid out like the data folder, e.g. <folder>/bio/R17_factors.npy>"
        " (several separated by ':'), then run the same command",
    ]
    return "\n".join(lines)
