"""Official-weights handling against a fabricated release zip served over local HTTP (with Range support)."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from compute.cli import weights as weights_cli
from compute.models.fnn import FNN, build_fnn
from compute.models.weights import (MANIFEST, check_state_dict, download_weights, has_official_weights,
                                    load_official_fnn, weights_id)

N_UNITS = 20


def _saved(tensors: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def release() -> dict:
    """A random small FNN in the release layout: the zip bytes, its MD5 and the original state dict."""
    state = build_fnn(n_units=N_UNITS, seed=7).state_dict()
    core = {k: v for k, v in state.items() if k.startswith("core.")}
    scan = {k: v for k, v in state.items() if not k.startswith("core.")}
    data = _zip({
        "params_core.pt": _saved(core),
        "params_8_5.pt": _saved(scan),
        "scans.csv": f"session,scan_idx,units\n8,5,{N_UNITS}\n".encode(),
        "units.csv": ("session,scan_idx,readout_id,unit_id\n"
                      + "".join(f"8,5,{i},{100 + i}\n" for i in range(N_UNITS))).encode(),
        "readme_v2.md": b"not extracted",
    })
    return {"zip": data, "md5": hashlib.md5(data).hexdigest(), "state": state}


class _Server:
    """Serves ``files`` (path -> bytes) on 127.0.0.1, honouring ``Range: bytes=N-``; records requests."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                self.wfile.write(data[start:])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(release):
    srv = _Server({"/weights.zip": release["zip"]})
    yield srv
    srv.close()


def _state_equal(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def _refused(dest, data: bytes, match: str, *, md5: str | None = None) -> None:
    """``download_weights`` of ``data`` served at /weights.zip raises a ValueError matching ``match``; ``md5``
    is the expected checksum (default: the data's own, so that the archive check is what refuses)."""
    srv = _Server({"/weights.zip": data})
    try:
        with pytest.raises(ValueError, match=match):
            download_weights(dest, url=srv.url("/weights.zip"), md5=md5 or hashlib.md5(data).hexdigest())
    finally:
        srv.close()


# ------------------------------------------------------------------------------------------------------
# download -> verify -> load
# ------------------------------------------------------------------------------------------------------


def test_download_then_load_round_trips(release, server, tmp_path):
    progress = []
    from compute.jobs import JobControl

    dest = download_weights(tmp_path / "fnn", url=server.url("/weights.zip"), md5=release["md5"],
                            control=JobControl(progress=lambda f, text: progress.append(f)))
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["params_core.pt", "params_8_5.pt", "scans.csv", "units.csv", MANIFEST])
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert has_official_weights(dest) and not has_official_weights(dest, session=8, scan=6)
    model, wid = load_official_fnn(dest)
    assert isinstance(model, FNN) and model.n_units == N_UNITS and not model.training
    assert _state_equal(model.state_dict(), release["state"])
    assert wid == weights_id(release["state"]) == weights_id(model.state_dict())
    # a second call finds the manifest and does not download again
    n_requests = len(server.requests)
    assert download_weights(dest, url=server.url("/weights.zip"), md5=release["md5"]) == dest
    assert len(server.requests) == n_requests


def test_download_resumes_a_truncated_part_file(release, server, tmp_path):
    half = len(release["zip"]) // 2
    (tmp_path / "weights.zip.part").write_bytes(release["zip"][:half])
    download_weights(tmp_path, url=server.url("/weights.zip"), md5=release["md5"])
    assert server.requests == [("/weights.zip", f"bytes={half}-")]
    assert not (tmp_path / "weights.zip.part").exists()
    assert _state_equal(load_official_fnn(tmp_path)[0].state_dict(), release["state"])


def test_corrupted_download_is_removed(release, tmp_path):
    corrupted = bytearray(release["zip"])
    corrupted[len(corrupted) // 3] ^= 0xFF
    _refused(tmp_path, bytes(corrupted), f"MD5 mismatch .* expected {release['md5']}", md5=release["md5"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("member", ["../evil.pt", "/tmp/evil.pt", "sub/../../evil.pt"])
def test_archive_with_unsafe_member_is_refused(release, tmp_path, member):
    data = _zip({"params_core.pt": b"x", member: b"evil"})
    _refused(tmp_path / "fnn", data, "unsafe path")
    assert [p.name for p in tmp_path.rglob("*")] == ["fnn"]  # nothing extracted, the archive deleted


def test_archive_without_core_file_is_refused(tmp_path):
    data = _zip({"scans.csv": b"session,scan_idx,units\n"})
    _refused(tmp_path, data, "holds no params_core.pt")
    assert not (tmp_path / MANIFEST).exists()


def test_archive_that_is_not_a_zip_is_refused(tmp_path):
    data = b"<html>not a zip</html>"
    _refused(tmp_path, data, "is not a valid zip archive")
    assert list(tmp_path.iterdir()) == []


def test_archive_with_duplicate_member_is_refused(tmp_path):
    data = _zip({"params_core.pt": b"x", "copy/params_core.pt": b"y"})
    _refused(tmp_path, data, "'params_core.pt' appears twice")


# ------------------------------------------------------------------------------------------------------
# state-dict checks and ids
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_state():
    return FNN(N_UNITS).state_dict()


def test_check_state_dict_names_every_problem(small_state):
    state = dict(small_state)
    del state["core.recurrent.scales.0"], state["readout.biases.3"]
    state["readout.extra"] = torch.zeros(1)
    state["readout.position.mu"] = torch.zeros(N_UNITS + 1, 2)
    message = ("state dict does not match the FNN: 2 missing keys [core.recurrent.scales.0, readout.biases.3], "
               "1 unexpected key [readout.extra], 1 mis-shaped key [readout.position.mu: expected (20, 2), "
               "got (21, 2)]")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_state_dict(FNN(N_UNITS), state)


def test_check_state_dict_shortens_long_lists(small_state):
    with pytest.raises(ValueError, match=r"338 missing keys \[core\.feedforward\.inputs\.0\.weights\.0, .*, "
                                         r"\.\.\. 330 more\]$"):
        check_state_dict(FNN(N_UNITS), {})


def test_check_state_dict_rejects_non_tensors(small_state):
    with pytest.raises(TypeError, match=r"values must be tensors; 1 key \[readout\.biases\.0\]"):
        check_state_dict(FNN(N_UNITS), dict(small_state, **{"readout.biases.0": [0.0]}))


def test_check_state_dict_accepts_a_matching_dict(small_state):
    assert check_state_dict(FNN(N_UNITS), small_state) is None


def test_weights_id_depends_on_content_only(small_state):
    reordered = dict(reversed(list(small_state.items())))
    assert weights_id(reordered) == weights_id(small_state)
    changed = dict(small_state, **{"readout.biases.0": small_state["readout.biases.0"] + 1})
    assert weights_id(changed) != weights_id(small_state)
    assert len(weights_id(small_state)) == 16


def test_load_official_fnn_rejects_mismatched_files(release, tmp_path):
    core = {k: v for k, v in release["state"].items() if k.startswith("core.")}
    scan = {k: v for k, v in release["state"].items() if not k.startswith("core.")}
    del scan["readout.biases.2"]
    torch.save(core, tmp_path / "params_core.pt")
    torch.save(scan, tmp_path / "params_8_5.pt")
    with pytest.raises(ValueError, match=r"state dict does not match the FNN: 1 missing key \[readout\.biases\.2\]"):
        load_official_fnn(tmp_path)
    torch.save(dict(scan, **{"core.recurrent.scales.0": core["core.recurrent.scales.0"]}), tmp_path / "params_8_5.pt")
    with pytest.raises(ValueError, match=r"params_core\.pt and params_8_5\.pt both hold 1 key"):
        load_official_fnn(tmp_path)
    torch.save([1, 2], tmp_path / "params_8_5.pt")
    with pytest.raises(ValueError, match="params_8_5.pt must hold a dict of tensors; got list"):
        load_official_fnn(tmp_path)


def test_load_official_fnn_without_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing params_core\.pt, params_8_5\.pt; run "
                                                r"`python -m compute weights download`"):
        load_official_fnn(tmp_path)
    assert not has_official_weights(tmp_path)


def test_default_folder_comes_from_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("TWINSCOPE_DATA_DIR", str(tmp_path))
    (tmp_path / "fnn").mkdir()
    for name in ("params_core.pt", "params_8_5.pt"):
        (tmp_path / "fnn" / name).write_bytes(b"")
    assert has_official_weights()


# ------------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------------


def test_cli_download_and_verify(release, server, tmp_path, capsys):
    dest = str(tmp_path / "fnn")
    assert weights_cli.main(["--dest", dest, "verify"]) == 1
    assert "no official FNN weights for session 8, scan 5" in capsys.readouterr().err
    assert weights_cli.main(["--dest", dest, "download", "--url", server.url("/weights.zip"),
                             "--md5", "0" * 32]) == 1
    assert "MD5 mismatch" in capsys.readouterr().err
    assert weights_cli.main(["--dest", dest, "download", "--url", server.url("/weights.zip"),
                             "--md5", release["md5"]]) == 0
    assert weights_cli.main(["--dest", dest, "verify"]) == 0
    out = capsys.readouterr().out
    assert f"session 8, scan 5: {N_UNITS} units" in out
    assert f"weights id {weights_id(release['state'])}" in out


@pytest.mark.parametrize("damage, match", [
    (lambda data: data[: len(data) // 2], "truncated or corrupt"),
    (lambda data: b"not a torch file at all", "truncated or corrupt"),
    (lambda data: _saved({"core.x": object.__new__(zipfile.ZipInfo)}), "truncated or corrupt"),
], ids=["truncated", "not-torch", "non-tensor-object"])
def test_load_official_fnn_names_an_unreadable_file(release, tmp_path, damage, match):
    """v1 let torch.load's RuntimeError / UnpicklingError out: the CLI printed a traceback."""
    core = {k: v for k, v in release["state"].items() if k.startswith("core.")}
    scan = {k: v for k, v in release["state"].items() if not k.startswith("core.")}
    torch.save(core, tmp_path / "params_core.pt")
    (tmp_path / "params_8_5.pt").write_bytes(damage(_saved(scan)))
    with pytest.raises(ValueError, match=rf"params_8_5\.pt is not a readable PyTorch weights file \({match}"):
        load_official_fnn(tmp_path)
