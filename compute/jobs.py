"""Progress reporting and cooperative cancellation shared by every long computation.

A long function takes ``control: JobControl | None = None`` and calls ``control.report(fraction, text)``
between steps and ``control.check()`` where stopping is safe. The UI passes a control whose progress goes
to a Dash background job (Dash's Cancel ends the job's process; cache writes are atomic); the CLI passes one
that draws a progress bar and is cancelled by Ctrl-C (``stop_on_interrupt``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Callable, Iterator


class Cancelled(Exception):
    """Raised by ``JobControl.check`` when the user cancelled the job."""


def _no_progress(fraction: float, text: str) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class JobControl:
    """Progress sink and cancel flag for one job.

    progress : callable(fraction in [0, 1], stage text)
    cancelled : callable() -> bool, polled by ``check``
    """

    progress: Callable[[float, str], None] = _no_progress
    cancelled: Callable[[], bool] = _never
    start: float = 0.0
    span: float = 1.0

    def report(self, fraction: float, text: str = "") -> None:
        fraction = self.start + self.span * min(max(float(fraction), 0.0), 1.0)
        self.progress(fraction, text)

    def check(self) -> None:
        if self.cancelled():
            raise Cancelled("job cancelled")

    def sub(self, start: float, stop: float) -> "JobControl":
        """A control for a sub-step that maps its [0, 1] onto [start, stop] of this one."""
        return JobControl(self.progress, self.cancelled, self.start + self.span * start,
                          self.span * (stop - start))


_UNFINISHED_BARS: set[int] = set()  # ids of streams whose last progress bar has no line end yet
_INTERRUPTED = threading.Event()  # set by the first Ctrl-C inside ``stop_on_interrupt``


def interrupted() -> bool:
    """Whether Ctrl-C asked the running command to stop (the ``cancelled`` of the CLI's controls)."""
    return _INTERRUPTED.is_set()


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[None]:
    """While the block runs, a first Ctrl-C asks the work to stop at its next safe point (``check`` of a
    control whose ``cancelled`` is ``interrupted`` raises Cancelled); a second one stops at once
    (KeyboardInterrupt). Outside the main thread (no signals there) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        if _INTERRUPTED.is_set():
            raise KeyboardInterrupt
        _INTERRUPTED.set()
        end_progress_line(sys.stderr)
        sys.stderr.write("stopping at the next safe point (Ctrl-C again to stop now)\n")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _INTERRUPTED.clear()


def console_control(stream=sys.stderr, width: int = 30) -> JobControl:
    """A JobControl that draws a one-line progress bar on a terminal; cancelled by Ctrl-C
    (``stop_on_interrupt``)."""

    def progress(fraction: float, text: str) -> None:
        filled = int(round(width * fraction))
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * fraction:5.1f}% {text[:60]:<60}")
        if fraction >= 1.0:
            stream.write("\n")
            _UNFINISHED_BARS.discard(id(stream))
        else:
            _UNFINISHED_BARS.add(id(stream))
        stream.flush()

    return JobControl(progress=progress, cancelled=interrupted)


def end_progress_line(stream=sys.stderr) -> None:
    """End a progress bar that stopped part-way, so that the next message starts on its own line."""
    if id(stream) in _UNFINISHED_BARS:
        _UNFINISHED_BARS.discard(id(stream))
        stream.write("\n")


def ensure_control(control: JobControl | None) -> JobControl:
    return control if control is not None else JobControl()


def fail_to_parent(connection, err: BaseException, where: str) -> None:
    """In a forked worker: send ``("error", err)`` down ``connection`` (a RuntimeError with the traceback when
    ``err`` cannot be pickled), noting ``where`` it happened, then end the process with status 1."""
    err.add_note(f"in {where}:\n{traceback.format_exc()}")
    try:
        connection.send(("error", err))
    except Exception:  # noqa: BLE001 - unpicklable error or parent gone
        connection.send(("error", RuntimeError(traceback.format_exc())))
    os._exit(1)
