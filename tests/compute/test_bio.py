"""Biological references: checksums, the restricted unpickler, fetching, the cell join and the loaders.

Expected values come from the published files (Dyballa et al. 2024) described in
shared/data/bio/README.md, pinned by the SHA-256 values in ``compute.bio.fetch.FILES``.
"""

from __future__ import annotations

import functools
import http.server
import os
import pickle
import shutil
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from compute.bio.datasets import (BIO_STIMULI, DATASETS, load_dataset, load_factors,
                                  match_cells_to_factor_rows)
from compute.bio.fetch import FILES, fetch_bio, file_status, verify_file
from compute.bio.safe_pickle import RefusedGlobalError, safe_load_object_npy, safe_load_pickle
from compute.jobs import JobControl
from tests.facts import load_fact

DATASET_FILES = {"retina": ("retina_R16_best_factors.npy", "retina_R16_best_lambdas.npy", "retina_cell_info.pkl"),
                 "V1": ("R17_factors.npy", "R17_lambdas.npy", "V1_cell_info.pkl")}
DATASET_OF_FILE = {f: name for name, files in DATASET_FILES.items() for f in files}


@pytest.fixture(scope="module")
def factors(bio_dir):
    return {name: load_factors(name, data_dir=bio_dir) for name in DATASETS}


def _copy_published(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(src / name, dest / name)
    return dest


class _Exploit:
    """Pickles as a call of os.system that would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ------------------------------------------------------------------ shapes and the cell join
class TestFactors:
    @pytest.mark.parametrize("name, rows, cells, rank", [("retina", 1149, 1146, 16), ("V1", 641, 637, 17)])
    def test_shapes(self, factors, name, rows, cells, rank):
        f = factors[name]
        assert f.lambdas.shape == (rank,)
        assert f.neurons.shape == (rows, rank)
        assert f.stimuli.shape == (6, rank)
        assert f.maps.shape == (8 * 135, rank)
        assert f.cell_rows.shape == (cells,) and f.significant.shape == (cells, 6)
        assert f.to_tensor().shape == (cells, 6, 8, 135)
        # README: factor columns have unit L2 norm and are non-negative
        for m in (f.neurons, f.stimuli, f.maps):
            np.testing.assert_allclose(np.linalg.norm(m, axis=0), 1.0, atol=1e-6)
            assert m.min() >= 0

    def test_retina_cell_types(self, factors):
        # README: 'type' is e.g. 'on_brisk_transient', 'ds', or None (-> ''); counts computed from the file
        counts = Counter(factors["retina"].cells["cell_type"].tolist())
        assert counts == {"": 811, "ds": 80, "on_brisk_sustained": 70, "on_brisk_transient": 54,
                          "off_brisk_sustained": 42, "off_slow_transient": 42, "off_brisk_transient": 28,
                          "on_monophasic_small": 19}

    def test_v1_layers(self, factors):
        # README: layer 3/4/5/6 and put. type 0/1
        assert Counter(factors["V1"].cells["layer"].tolist()) == {3: 130, 4: 128, 5: 173, 6: 206}
        assert Counter(factors["V1"].cells["put_type"].tolist()) == {0: 155, 1: 482}

    @pytest.mark.parametrize("name", DATASETS)
    def test_derived_join_reproduces_shared_table(self, factors, name):
        shared = load_fact("cell_to_factor_row.json")[name]
        f = factors[name]
        np.testing.assert_array_equal(f.cell_rows, shared["factor_row_of_cell"])
        skipped = sorted(set(range(f.neurons.shape[0])) - set(f.cell_rows.tolist()))
        assert skipped == shared["skipped_factor_rows"]

    @pytest.mark.parametrize("name", DATASETS)
    def test_joined_sizes_agree_with_significance(self, factors, name):
        # README: about 0.5 % disagreement between response size and the significance flags
        f = factors[name]
        sizes = f.response_sizes()[f.cell_rows]
        assert np.mean((sizes > 0.4) != f.significant) < 0.01

    def test_response_sizes_are_map_norms(self, factors):
        f = factors["V1"]
        rows = np.array([0, 5, 640])
        np.testing.assert_allclose(f.response_sizes()[rows],
                                   np.linalg.norm(f.row_tensor(rows).reshape(3, 6, -1), axis=2), rtol=1e-10)

    def test_bio_stimuli_are_the_suite_preset(self):
        from compute.stimuli import CLASS_NAMES, PRESETS

        assert BIO_STIMULI == tuple(CLASS_NAMES[k] for k in PRESETS["bio-matched"])

    def test_data_folder_with_bio_subfolder(self, data_dir, factors):
        np.testing.assert_array_equal(load_factors("V1", data_dir=data_dir).cell_rows, factors["V1"].cell_rows)


class TestMatchCells:
    def test_recovers_planted_skips(self, rng):
        n_rows, skipped = 60, [0, 17, 18, 59]
        sig = rng.random((n_rows - len(skipped), 6)) > 0.5
        rows_of_cells = np.setdiff1d(np.arange(n_rows), skipped)
        sizes = rng.random((n_rows, 6))                      # the skipped rows look like nothing in particular
        sizes[rows_of_cells] = sig + rng.normal(0, 0.1, sig.shape)
        np.testing.assert_array_equal(match_cells_to_factor_rows(sizes, sig), rows_of_cells)

    def test_no_skips_is_identity(self, rng):
        sig = rng.random((10, 6)) > 0.5
        np.testing.assert_array_equal(match_cells_to_factor_rows(sig.astype(float), sig), np.arange(10))

    def test_errors(self):
        with pytest.raises(ValueError, match="3 cells cannot be matched to only 2 factor rows"):
            match_cells_to_factor_rows(np.zeros((2, 6)), np.zeros((3, 6), bool))
        with pytest.raises(ValueError, match=r"must be 2-D with the same number of stimuli; got \(4, 6\) and \(3, 5\)"):
            match_cells_to_factor_rows(np.zeros((4, 6)), np.zeros((3, 5), bool))


# ------------------------------------------------------------------ checksums before parsing
class TestChecksums:
    @pytest.mark.parametrize("filename", list(FILES))
    def test_tampered_copy_is_rejected(self, bio_dir, tmp_path, filename):
        folder = _copy_published(bio_dir, tmp_path / "bio")
        data = bytearray((folder / filename).read_bytes())
        data[-1] ^= 0x01
        (folder / filename).write_bytes(bytes(data))
        with pytest.raises(ValueError, match=f"checksum mismatch for .*{filename}: expected SHA-256"):
            load_factors(DATASET_OF_FILE[filename], data_dir=folder)
        assert file_status(folder)[filename] == "checksum mismatch"

    @pytest.mark.parametrize("filename", ["V1_cell_info.pkl", "R17_factors.npy"])
    def test_malicious_file_is_never_unpickled(self, bio_dir, tmp_path, filename):
        folder = _copy_published(bio_dir, tmp_path / "bio")
        marker = tmp_path / "executed"
        if filename.endswith(".pkl"):
            (folder / filename).write_bytes(pickle.dumps({0: _Exploit(marker)}))
        else:
            np.save(folder / filename, np.array([_Exploit(marker), 1, 2], dtype=object), allow_pickle=True)
        with pytest.raises(ValueError, match="checksum mismatch"):
            load_factors("V1", data_dir=folder)
        assert not marker.exists()
        # and without the checksum, the restricted unpickler refuses it
        loader = safe_load_pickle if filename.endswith(".pkl") else safe_load_object_npy
        with pytest.raises(RefusedGlobalError, match=f"refused global '{os.system.__module__}.system'"):
            loader(folder / filename)
        assert not marker.exists()

    def test_verify_file_errors(self, bio_dir, tmp_path):
        assert verify_file(bio_dir / "R17_lambdas.npy", "R17_lambdas.npy") == bio_dir / "R17_lambdas.npy"
        with pytest.raises(ValueError, match="unknown biological data file 'x.npy'"):
            verify_file(bio_dir / "R17_lambdas.npy", "x.npy")
        with pytest.raises(FileNotFoundError, match="R17_lambdas.npy not found at .*; run `python -m compute bio fetch`"):
            verify_file(tmp_path / "R17_lambdas.npy", "R17_lambdas.npy")
        with pytest.raises(ValueError, match="checksum mismatch"):
            verify_file(bio_dir / "R17_factors.npy", "R17_lambdas.npy")


# ------------------------------------------------------------------ restricted unpickler
class TestSafePickle:
    def test_builtin_containers_round_trip(self):
        value = {0: {"a": [1, 2.5, None, True], "b": (1, "x"), "c": {3, 4}, "d": frozenset({5}), "e": b"raw"}}
        assert safe_load_pickle(pickle.dumps(value)) == value

    def test_refuses_os_system_without_running_it(self, tmp_path):
        marker = tmp_path / "executed"
        with pytest.raises(RefusedGlobalError, match=f"refused global '{os.system.__module__}.system'"):
            safe_load_pickle(pickle.dumps(_Exploit(marker)))
        assert not marker.exists()

    def test_numpy_arrays_only_when_allowed(self):
        data = pickle.dumps([np.arange(3.0)])
        with pytest.raises(RefusedGlobalError, match="refused global 'numpy"):
            safe_load_pickle(data)
        np.testing.assert_array_equal(safe_load_pickle(data, allow_numpy_arrays=True)[0], [0.0, 1.0, 2.0])

    def test_refused_global_is_value_and_unpickling_error(self):
        with pytest.raises(pickle.UnpicklingError, match="refused global 'builtins.eval'"):
            safe_load_pickle(b"cbuiltins\neval\n(S'1'\ntR.")
        assert issubclass(RefusedGlobalError, ValueError)

    def test_bad_source_type(self):
        with pytest.raises(TypeError, match="expected a path or bytes; got int"):
            safe_load_pickle(3)

    def test_object_npy_shape_must_match_header(self, tmp_path):
        import io

        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (3,)})
        path = tmp_path / "list.npy"
        path.write_bytes(buf.getvalue() + pickle.dumps([1, 2, 3]))
        with pytest.raises(ValueError, match=r"object .npy payload must be an array of shape \(3,\); got list"):
            safe_load_object_npy(path)

    def test_unsupported_npy_version(self):
        with pytest.raises(ValueError, match=r".npy format version \(3, 0\) is not supported"):
            safe_load_object_npy(np.lib.format.magic(3, 0) + b"\x00" * 16)

    def test_numeric_npy(self, tmp_path):
        np.save(tmp_path / "a.npy", np.arange(4.0))
        np.testing.assert_array_equal(safe_load_object_npy(tmp_path / "a.npy"), np.arange(4.0))


# ------------------------------------------------------------------ fetch over HTTP
@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server on 127.0.0.1 serving a temporary folder; yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class TestFetch:
    """``fetch_bio`` = the data manifest's ``bio`` group through ``compute.data.fetch`` (pooch)."""

    def test_fetch_verifies_every_file(self, bio_dir, http_folder, tmp_path):
        served, url = http_folder
        _copy_published(bio_dir, served / "bio")
        reports = []
        dest = fetch_bio(tmp_path / "data", mirrors=[url], network=False,
                         control=JobControl(progress=lambda f, t: reports.append(f)))
        assert dest == tmp_path / "data" / "bio"
        assert file_status(dest) == {name: "ok" for name in FILES}
        assert reports[-1] == 1.0
        # present and valid files are not downloaded again (the server is now empty)
        shutil.rmtree(served / "bio")
        fetch_bio(tmp_path / "data", mirrors=[url], network=False)
        assert file_status(dest) == {name: "ok" for name in FILES}

    def test_corrupted_download_leaves_nothing(self, bio_dir, http_folder, tmp_path):
        served, url = http_folder
        _copy_published(bio_dir, served / "bio")
        (served / "bio" / "V1_cell_info.pkl").write_bytes(b"corrupted")
        with pytest.raises(OSError, match=r"bio/V1_cell_info.pkl: http://127.0.0.1:\d+/bio/V1_cell_info.pkl: "
                                          "checksum mismatch"):
            fetch_bio(tmp_path, mirrors=[url], network=False)
        assert not (tmp_path / "bio" / "V1_cell_info.pkl").exists()
        assert sorted(p.name for p in (tmp_path / "bio").iterdir()) == sorted(set(FILES) - {"V1_cell_info.pkl"})

    def test_a_mismatching_mirror_falls_through_to_the_next(self, bio_dir, http_folder, tmp_path):
        """v1 stopped at the first mirror's checksum mismatch (issue 11 item 6); now the next mirror is tried."""
        served, url = http_folder
        bad = _copy_published(bio_dir, tmp_path / "bad" / "bio")
        (bad / "R17_factors.npy").write_bytes(b"not the published file")
        _copy_published(bio_dir, served / "bio")
        dest = fetch_bio(tmp_path / "data", mirrors=[str(tmp_path / "bad"), url], network=False)
        assert file_status(dest) == {name: "ok" for name in FILES}

    def test_offline_names_the_local_file_that_failed(self, bio_dir, tmp_path):
        """v1, offline, did not say which local file failed its check (issue 11 item 6)."""
        folder = _copy_published(bio_dir, tmp_path / "data" / "bio")
        (folder / "R17_lambdas.npy").write_bytes(b"truncated")
        with pytest.raises(OSError) as caught:
            fetch_bio(tmp_path / "data", mirrors=[], network=False)
        message = str(caught.value)
        assert message.startswith(f"missing data in {tmp_path / 'data'}: 1 bio file(s)\n")
        assert f"local file {folder / 'R17_lambdas.npy'} failed its check (size or SHA-256 differs)" in message
        assert "python -m compute data fetch --only bio" in message and "TWINSCOPE_MIRROR=" in message

    def test_unreachable_source(self, http_folder, tmp_path):
        _, url = http_folder                                    # serves an empty folder: 404 for every file
        with pytest.raises(OSError, match=r"missing data in .*: 6 bio file\(s\)\n  bio/R17_factors.npy: "
                                          r"http://127.0.0.1:\d+/bio/R17_factors.npy: 404"):
            fetch_bio(tmp_path, mirrors=[url], network=False)

    def test_pinned_urls(self):
        for name, (url, sha) in FILES.items():
            assert url.startswith("https://raw.githubusercontent.com/") and url.endswith("/" + name)
            assert len(sha) == 64


# ------------------------------------------------------------------ response sets
@pytest.fixture(scope="module")
def v1(bio_dir):
    return load_dataset("V1", data_dir=bio_dir, random_state=0)


class TestReconstruction:
    def test_labels(self, v1, factors):
        assert v1.shape == (637, 6, 8, 135)
        assert v1.stimuli == BIO_STIMULI and v1.time_unit == "bin" and v1.onset_index == 10
        np.testing.assert_array_equal(v1.time, np.arange(135))
        assert v1.provenance["reconstructed"] is True
        assert v1.label == "V1 (reconstructed from published factors)"
        np.testing.assert_array_equal(v1.significant, factors["V1"].significant)
        assert {"cell_id", "experiment", "layer", "put_type", "factor_row", "direction_offset"} <= set(v1.units)

    def test_offset_zero_neuron_is_the_factor_sum(self, v1, factors):
        f = factors["V1"]
        offsets = v1.units["direction_offset"]
        cell = int(np.flatnonzero(offsets == 0)[0])
        a = f.neurons[f.cell_rows[cell]]
        expected = np.zeros((6, 8, 135))
        for r in range(f.rank):                              # brute force, index = direction + 8 * time
            for d in range(8):
                for t in range(135):
                    expected[:, d, t] += f.lambdas[r] * a[r] * f.stimuli[:, r] * f.maps[d + 8 * t, r]
        np.testing.assert_allclose(v1.responses[cell], expected, rtol=1e-5, atol=1e-7)

    def test_other_neurons_are_rolled_over_directions(self, v1, factors):
        aligned = factors["V1"].to_tensor()
        offsets = v1.units["direction_offset"]
        assert set(offsets.tolist()) == set(range(8))
        for cell in np.flatnonzero(offsets != 0)[:5]:
            np.testing.assert_allclose(v1.responses[cell], np.roll(aligned[cell], offsets[cell], axis=1), rtol=1e-6)

    def test_seeds(self, bio_dir, v1):
        assert load_dataset("V1", data_dir=bio_dir, random_state=0).equals(v1)
        other = load_dataset("V1", data_dir=bio_dir, random_state=1)
        assert not np.array_equal(other.units["direction_offset"], v1.units["direction_offset"])

    def test_unknown_dataset(self, bio_dir):
        with pytest.raises(ValueError, match=r"unknown dataset 'LGN'; expected one of \('retina', 'V1'\)"):
            load_dataset("LGN", data_dir=bio_dir)


class TestTraces:
    def test_traces_file_is_used(self, bio_dir, tmp_path, v1):
        traces = v1.responses * 3.0
        np.save(tmp_path / "V1_tensor_traces.npy", traces)
        rs = load_dataset("V1", data_dir=bio_dir, traces=tmp_path)
        assert rs.provenance["reconstructed"] is False and rs.label == "V1"
        np.testing.assert_array_equal(rs.responses, traces)
        assert "direction_offset" not in rs.units

    def test_traces_folder_from_settings(self, bio_dir, tmp_path, v1, monkeypatch):
        np.save(tmp_path / "tensor4d_V1.npy", v1.responses)
        monkeypatch.setenv("TWINSCOPE_BIO_TRACES", str(tmp_path))
        assert load_dataset("V1", data_dir=bio_dir).provenance["reconstructed"] is False
        # a traces folder without this dataset falls back to the reconstruction
        assert load_dataset("retina", data_dir=bio_dir).provenance["reconstructed"] is True

    @pytest.mark.parametrize("bad, message", [
        (np.zeros((637, 6, 8, 100), np.float32),
         r"V1 traces must have shape \(637, 6, 8, 135\) \(cell, stimulus, direction, time\); got \(637, 6, 8, 100\)"),
        (np.full((637, 6, 8, 135), np.nan, np.float32), "V1 traces contain NaN or infinite values"),
        (-np.ones((637, 6, 8, 135), np.float32), "V1 traces must be non-negative firing rates; minimum is -1"),
        (np.full((637, 6, 8, 135), "x"), "V1 traces must be numeric; got dtype <U1"),
    ], ids=["shape", "nan", "negative", "strings"])
    def test_invalid_traces(self, bio_dir, tmp_path, bad, message):
        path = tmp_path / "traces.npy"
        np.save(path, bad)
        with pytest.raises(ValueError, match=message):
            load_dataset("V1", data_dir=bio_dir, traces=path)

    def test_pickled_traces_are_refused(self, bio_dir, tmp_path):
        path = tmp_path / "traces.npy"
        np.save(path, np.array([1, None], dtype=object), allow_pickle=True)
        with pytest.raises(ValueError, match="is not a plain numeric .npy array"):
            load_dataset("V1", data_dir=bio_dir, traces=path)

    def test_missing_traces(self, bio_dir, tmp_path):
        with pytest.raises(FileNotFoundError, match="no V1 trace tensor at .*V1_tensor_traces.npy"):
            load_dataset("V1", data_dir=bio_dir, traces=tmp_path)


# ------------------------------------------------------------------ command line
class TestCli:
    def test_info(self, data_dir, capsys):
        from compute.cli import main

        assert main(["bio", "info", "--data-dir", str(data_dir)]) == 0
        out = capsys.readouterr().out
        assert "V1_cell_info.pkl               ok" in out
        assert "1146 cells (factor rows without a cell: [486, 977, 1029])" in out
        assert "layer: 3: 130, 4: 128, 5: 173, 6: 206" in out and "(untyped): 811" in out

    def test_info_reports_a_bad_file(self, bio_dir, tmp_path, capsys):
        from compute.cli import main

        folder = _copy_published(bio_dir, tmp_path / "bio")
        (folder / "R17_lambdas.npy").unlink()
        assert main(["bio", "info", "--data-dir", str(tmp_path)]) == 1
        captured = capsys.readouterr()
        assert "R17_lambdas.npy                missing" in captured.out
        assert "run `python -m compute bio fetch`" in captured.err

    def test_fetch_from_mirror(self, bio_dir, http_folder, tmp_path, capsys):
        from compute.cli import main

        served, url = http_folder
        _copy_published(bio_dir, served / "bio")
        assert main(["bio", "fetch", "--data-dir", str(tmp_path), "--mirror", url, "--offline"]) == 0
        assert file_status(tmp_path / "bio") == {name: "ok" for name in FILES}
        assert f"fetched and verified: {tmp_path / 'bio'}" in capsys.readouterr().out
