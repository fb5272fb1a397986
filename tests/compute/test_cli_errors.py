"""The commands' shared error handling (``compute.cli._tables``): compute errors -> exit code 2 with
"error: <message>", cancel / Ctrl-C -> 130, a module that is not extracted -> skipped."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from compute.bio.datasets import BIO_STIMULI
from compute.cli._tables import exit_on_error, load_or_skip
from compute.jobs import Cancelled


class TestExitOnError:
    def test_no_error_leaves_no_exit_code(self):
        with exit_on_error() as failure:
            value = 1
        assert failure.exit_code is None and value == 1

    @pytest.mark.parametrize("error, message", [
        (ValueError("rank=40 exceeds n_units=31; reduce rank"), "error: rank=40 exceeds n_units=31; reduce rank"),
        (KeyError("fnn-random / Rec has not been extracted"), "error: fnn-random / Rec has not been extracted"),
        (TypeError("epsilon must be a number"), "error: epsilon must be a number"),
        (OSError("disk full"), "error: disk full"),
    ], ids=["value", "key-without-quotes", "type", "os"])
    def test_compute_errors_exit_2(self, capsys, error, message):
        with exit_on_error() as failure:
            raise error
        assert failure.exit_code == 2 and capsys.readouterr().err == message + "\n"

    @pytest.mark.parametrize("error", [Cancelled(), KeyboardInterrupt()], ids=["cancelled", "ctrl-c"])
    def test_interruptions_exit_130(self, capsys, error):
        with exit_on_error(interrupted="interrupted; nothing was written") as failure:
            raise error
        assert failure.exit_code == 130 and capsys.readouterr().err == "\ninterrupted; nothing was written\n"

    def test_errors_outside_the_chosen_ones_propagate(self):
        with pytest.raises(KeyError, match="not caught"):
            with exit_on_error(errors=(ValueError,)):
                raise KeyError("not caught")


def test_load_or_skip(capsys):
    assert load_or_skip("Rec", lambda: "loaded") == "loaded"

    def missing():
        raise KeyError("fnn-random / Rec has not been extracted")

    assert load_or_skip("Rec", missing) is None
    assert capsys.readouterr().err == "skipped Rec: fnn-random / Rec has not been extracted\n"


@pytest.mark.parametrize("command, argv, interrupted", [
    ("align", ["--modules", "Rec", "--datasets", "V1"], "interrupted"),
    ("tubularity", ["--datasets", "V1"], "interrupted"),
    ("decode", ["--dataset", "V1"], "interrupted; nothing was written"),
    ("encode", ["--dataset", "V1"], "interrupted; nothing was written"),
])
@pytest.mark.parametrize("error, code", [(ValueError("bad data"), 2), (Cancelled(), 130)], ids=["error", "cancel"])
def test_every_command_maps_errors_to_exit_codes(monkeypatch, capsys, tmp_path, command, argv, interrupted, error,
                                                  code):
    def source_responses(source, **kwargs):
        raise error

    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("compute.workflows.source_responses", source_responses)
    cli = importlib.import_module(f"compute.cli.{command}")
    assert cli.main(argv) == code
    assert capsys.readouterr().err == ("error: bad data\n" if code == 2 else f"\n{interrupted}\n")


@pytest.mark.parametrize("command, argv, patched, name, interrupted", [
    ("bio", ["fetch"], "compute.bio.fetch", "fetch_bio", "interrupted; no partial file was kept"),
    ("extract", ["--model", "conv3d-random"], "compute.extraction", "extract",
     "interrupted; no partial result was written"),
])
@pytest.mark.parametrize("error, code", [(ValueError("bad data"), 2), (Cancelled(), 130)], ids=["error", "cancel"])
def test_fetch_and_extract_map_errors_to_exit_codes(monkeypatch, capsys, tmp_path, command, argv, patched, name,
                                                     interrupted, error, code):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(importlib.import_module(patched), name, fail)
    cli = importlib.import_module(f"compute.cli.{command}")
    assert cli.main(argv) == code
    assert capsys.readouterr().err.endswith("error: bad data\n" if code == 2 else f"\n{interrupted}\n")


# ---------------------------------------------------------------------------------------------- issue 11
def test_extract_on_a_full_disk_prints_one_error_line(monkeypatch, capsys, tmp_path):
    """v1 let an ENOSPC OSError out of ``extract``: a traceback instead of one error line and exit 2."""
    import errno

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "artifacts" / ".x.npz.1.2.tmp"))

    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(importlib.import_module("compute.extraction"), "extract", full_disk)
    assert importlib.import_module("compute.cli.extract").main(["--model", "conv3d-random"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on device while writing ") and err.count("\n") == 1
    assert "free disk space under TWINSCOPE_CACHE_DIR" in err and "Traceback" not in err


def _responses(fill):
    from compute.responses import ResponseSet

    return lambda name, **kwargs: ResponseSet(np.full((4, 6, 8, 5), fill), stimuli=BIO_STIMULI,
                                              provenance={"label": name})


@pytest.mark.parametrize("command, argv", [("decode", ["--dataset", "V1"]),
                                           ("encode", ["--dataset", "V1"])])
@pytest.mark.parametrize("fill, message", [
    (0.0, "error: V1: all 960 responses equal 0; nothing to analyse."),
    (2.0, "error: V1: all 960 responses equal 2; nothing to analyse."),
    (np.nan, "error: V1: 960 of 960 responses are NaN or infinite; a ResponseSet needs finite values"),
], ids=["all-zero", "constant", "nan"])
def test_decode_and_encode_name_degenerate_responses(monkeypatch, capsys, tmp_path, command, argv, fill, message):
    """v1: decode / encode on all-zero, constant or NaN responses ended in ARPACK / LAPACK tracebacks."""
    monkeypatch.setenv("TWINSCOPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(importlib.import_module("compute.bio.datasets"), "load_dataset", _responses(fill))
    assert importlib.import_module(f"compute.cli.{command}").main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_an_error_after_a_progress_bar_gets_its_own_line(capsys):
    """v1 glued "error: ..." to the end of an unfinished progress bar (``\\r[##..] 4%``), not a line of its own."""
    import sys

    from compute.jobs import console_control

    with exit_on_error() as failure:
        console_control(sys.stderr).report(0.04, "Conv1")
        raise OSError(28, "No space left on device")
    lines = capsys.readouterr().err.split("\n")
    assert failure.exit_code == 2 and lines[-2].startswith("error: no space left on device") and lines[-1] == ""
    assert lines[0].startswith("\r[#")


# ---------------------------------------------------------------------------------------------- issue 12
@pytest.mark.parametrize("presses, steps", [(1, [0]), (2, [])], ids=["once", "twice"])
def test_ctrl_c_cancels_at_the_next_safe_point(capsys, presses, steps):
    """v1 never set ``JobControl.cancelled`` outside tests (Ctrl-C only ever raised KeyboardInterrupt wherever
    the work was); now a first Ctrl-C cancels the command's control, whose next ``check`` stops the work, and a
    second one stops it at once."""
    import signal

    from compute.jobs import console_control

    before = signal.getsignal(signal.SIGINT)
    done = []
    with exit_on_error(interrupted="interrupted; nothing was written") as failure:
        control = console_control()
        for step in range(4):
            control.check()
            for _ in range(presses if step == 0 else 0):
                signal.raise_signal(signal.SIGINT)
            done.append(step)
    assert failure.exit_code == 130 and done == steps
    err = capsys.readouterr().err
    assert "stopping at the next safe point (Ctrl-C again to stop now)" in err
    assert err.endswith("\ninterrupted; nothing was written\n")
    assert signal.getsignal(signal.SIGINT) is before and not console_control().cancelled()
