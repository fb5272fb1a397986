"""The official FNN weights (BossDB release, METHODS.md section 2.1): download, check, load.

The release zip holds ``params_core.pt`` (every ``core.*`` entry), one ``params_<session>_<scan>.pt`` per
scan (all other entries), ``scans.csv`` and ``units.csv``. The seed study used session 8, scan 5 (9,941
units). Files are read with ``torch.load(weights_only=True)`` only; the zip is MD5-checked before anything
is extracted, and only the expected member names are extracted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Mapping

from compute.config import Settings
from compute.jobs import JobControl, ensure_control

if TYPE_CHECKING:  # torch loads only where tensors are handled: the web process checks files without it
    import torch

    from compute.models.fnn import FNN

WEIGHTS_URL = ("https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/functional_data/foundation_model/"
               "foundational_model_weights_and_metadata_v1.zip")
WEIGHTS_MD5 = "58fcac4b31ad2902c81e339432cec787"
MANIFEST = "manifest.json"
_MEMBER = re.compile(r"params_core\.pt|params_\d+_\d+\.pt|scans\.csv|units\.csv")
_CHUNK = 1 << 20
_LISTED = 8  # key names quoted per category in a mismatch message


def _weights_dir(data_dir: str | os.PathLike | None) -> Path:
    return Settings.from_env().weights_dir if data_dir is None else Path(data_dir)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, part: Path, control: JobControl) -> None:
    """Download ``url`` into ``part``, continuing a previous partial file with an HTTP Range request."""
    import requests

    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with requests.get(url, headers=headers, stream=True, timeout=60) as response:
        if offset and response.status_code == 416:  # the partial file is already complete
            return
        response.raise_for_status()
        if response.status_code != 206:  # the server ignored the range: start over
            offset = 0
        total = offset + int(response.headers.get("Content-Length", 0))
        with open(part, "ab" if offset else "wb") as handle:
            done = offset
            for chunk in response.iter_content(chunk_size=_CHUNK):
                control.check()
                handle.write(chunk)
                done += len(chunk)
                if total:
                    control.report(done / total, f"downloading FNN weights: {done / 2**20:.0f} of "
                                                 f"{total / 2**20:.0f} MiB")


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The expected members by file name; ValueError on an unsafe path or a missing core file."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", info.filename):
            raise ValueError(f"refusing the weights archive: member {info.filename!r} has an unsafe path "
                             f"(absolute or containing '..')")
        if info.is_dir() or not _MEMBER.fullmatch(path.name):
            continue
        if path.name in members:
            raise ValueError(f"refusing the weights archive: {path.name!r} appears twice")
        members[path.name] = info
    if "params_core.pt" not in members:
        raise ValueError("the weights archive holds no params_core.pt; expected the FNN release layout "
                         "(params_core.pt, params_<session>_<scan>.pt, scans.csv, units.csv)")
    return members


def _extract(source: Path, dest: Path, md5: str) -> list[str]:
    """Extract the expected members of ``source`` into ``dest`` via a temporary folder and atomic renames."""
    with zipfile.ZipFile(source) as archive:
        members = _members(archive)
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
        try:
            for name, info in members.items():
                with archive.open(info) as src, open(staging / name, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            for name in members:
                os.replace(staging / name, dest / name)
            manifest = staging / MANIFEST
            manifest.write_text(json.dumps({"md5": md5, "files": sorted(members)}, indent=1))
            os.replace(manifest, dest / MANIFEST)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(members)


def download_weights(dest_dir: str | os.PathLike | None = None, *, url: str = WEIGHTS_URL,
                     md5: str = WEIGHTS_MD5, control: JobControl | None = None) -> Path:
    """Download, MD5-check and extract the official FNN weights into ``dest_dir``; returns that folder.

    Resumable: an interrupted download leaves ``<zip name>.part``, which the next call continues with an
    HTTP Range request. A finished download is checked against ``md5``; on a mismatch the partial file is
    removed and ValueError is raised. Only ``params_core.pt``, ``params_<session>_<scan>.pt``,
    ``scans.csv`` and ``units.csv`` are extracted (an archive with an absolute or '..' member is refused
    and deleted).
    Files appear by atomic rename; ``manifest.json`` is written last, and a folder whose manifest carries
    the same MD5 is returned without downloading again. The zip itself is not kept.

    Parameters
    ----------
    dest_dir : path or None, default=None
        Target folder; None = ``Settings.from_env().weights_dir`` (``$TWINSCOPE_DATA_DIR/fnn``).
    url : str
        Where to fetch the zip (a mirror may be given).
    md5 : str
        Expected MD5 hex digest of the zip.
    control : JobControl or None
        Progress (download 0-90 %, extraction 90-100 %) and cancellation (the .part file is kept).
    """
    control = ensure_control(control)
    dest = _weights_dir(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = dest / MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text()).get("md5") == md5:
        control.report(1.0, "FNN weights already present")
        return dest
    part = dest / (PurePosixPath(url.split("?")[0]).name + ".part")
    _fetch(url, part, control.sub(0.0, 0.9))
    got = _md5(part)
    if got != md5:
        part.unlink()
        raise ValueError(f"MD5 mismatch for the downloaded FNN weights from {url}: expected {md5}, got {got}; "
                         f"the download was removed, run it again (or check the url / md5)")
    control.report(0.9, "extracting FNN weights")
    try:
        _extract(part, dest, md5)
    except zipfile.BadZipFile as error:
        raise ValueError(f"the download from {url} is not a valid zip archive ({error})") from error
    finally:
        part.unlink()
    control.report(1.0, "FNN weights ready")
    return dest


def _paths(data_dir: str | os.PathLike | None, session: int, scan: int) -> tuple[Path, Path]:
    folder = _weights_dir(data_dir)
    return folder / "params_core.pt", folder / f"params_{int(session)}_{int(scan)}.pt"


def has_official_weights(data_dir: str | os.PathLike | None = None, session: int = 8, scan: int = 5) -> bool:
    """Whether ``data_dir`` (default: the weights folder of the settings) holds the core and the scan file."""
    return all(path.is_file() for path in _paths(data_dir, session, scan))


def _listing(names: list[str], what: str) -> str:
    shown = ", ".join(names[:_LISTED]) + (f", ... {len(names) - _LISTED} more" if len(names) > _LISTED else "")
    return f"{len(names)} {what}{'' if len(names) == 1 else 's'} [{shown}]"


def check_state_dict(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """ValueError naming every missing, unexpected and mis-shaped key, before a strict load."""
    import torch

    expected = model.state_dict()
    not_tensors = sorted(k for k, v in state_dict.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise TypeError(f"state dict values must be tensors; {_listing(not_tensors, 'key')} hold other types")
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k}: expected {tuple(expected[k].shape)}, got {tuple(v.shape)}" for k, v in state_dict.items()
              if k in expected and v.shape != expected[k].shape]
    problems = [_listing(names, what) for names, what in
                ((missing, "missing key"), (unexpected, "unexpected key"), (shapes, "mis-shaped key")) if names]
    if problems:
        raise ValueError(f"state dict does not match the FNN: {', '.join(problems)}")


def weights_id(state_dict: Mapping[str, torch.Tensor]) -> str:
    """A stable short id of a state dict: sha256 over the sorted keys, dtypes, shapes and tensor bytes."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def _load_tensors(path: Path, device) -> Mapping[str, Any]:
    """``torch.load(path, weights_only=True)``: a dict, or ValueError naming the file when it is truncated,
    not a PyTorch file, or holds something else."""
    import pickle

    import torch

    try:
        part = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, zipfile.BadZipFile) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path} is not a readable PyTorch weights file (truncated or corrupt: {first}); "
                         "run `python -m compute weights download` again") from None
    if not isinstance(part, Mapping):
        raise ValueError(f"{path.name} must hold a dict of tensors; got {type(part).__name__}")
    return part


def load_official_fnn(data_dir: str | os.PathLike | None = None, *, session: int = 8, scan: int = 5,
                      map_location: str | torch.device = "cpu") -> tuple[FNN, str]:
    """The FNN with the official weights of one scan, strictly loaded, in eval mode; and its weights id.

    ``n_units`` comes from ``readout.feature.weights.0`` (9,941 for session 8, scan 5). Raises
    FileNotFoundError when the files are absent (run ``python -m compute weights download``) and
    ValueError when they do not fit the FNN.
    """
    import torch

    from compute.models.fnn import FNN

    core_path, scan_path = _paths(data_dir, session, scan)
    missing = [path.name for path in (core_path, scan_path) if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"official FNN weights not found in {core_path.parent}: missing "
                                f"{', '.join(missing)}; run `python -m compute weights download`")
    device = torch.device(map_location)
    parts = [_load_tensors(path, device) for path in (core_path, scan_path)]
    overlap = sorted(set(parts[0]) & set(parts[1]))
    if overlap:
        raise ValueError(f"{core_path.name} and {scan_path.name} both hold {_listing(overlap, 'key')}")
    state = {**parts[0], **parts[1]}
    units = state.get("readout.feature.weights.0")
    model = FNN(int(units.shape[0]) if isinstance(units, torch.Tensor) and units.dim() == 3 else 9941)
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), weights_id(state)
