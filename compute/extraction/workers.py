"""A pass over the suite in several worker processes (issue 16: on a 2-core CPU, two processes with one torch
thread each run the FNN forward ~1.7x faster than one process with two threads, benchmarks/bench_fnn.py).

The workers are forked inside the pass (model, hooks and pass state are inherited, nothing is pickled on the
way in), set one torch thread, and ask the parent for one batch at a time, so a slow worker takes fewer
batches. Each batch is whole conditions, so a worker's results merge exactly with the others'
(``_Pass.state`` / ``_Pass.merge``: running maxes, per-condition rows, positional spill writes). Progress
reaches the parent frame by frame; the parent polls its control's cancel, kills every worker on cancel or
error, and reports a worker that died without a result as a RuntimeError instead of waiting for it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import Connection, wait
from typing import Callable, Protocol, Sequence

import torch

from compute.jobs import Cancelled, JobControl, fail_to_parent

POLL_S = 0.25  # how often the parent checks its control's cancel while the workers run


class _Mergeable(Protocol):
    def state(self) -> dict: ...
    def merge(self, states: Sequence[dict]) -> None: ...


def n_workers(setting: int | None, device: torch.device) -> int:
    """Worker processes for extraction: ``setting`` (None = min(2, usable cores)) on CPU; 1 on CUDA (a
    forked process cannot use its parent's CUDA context) and inside a daemonic process (which may not
    start children)."""
    if device.type != "cpu" or multiprocessing.current_process().daemon:
        return 1
    return min(2, len(os.sched_getaffinity(0))) if setting is None else setting


def run_in_workers(sizes: Sequence[int], run_batch: Callable[[int, Callable[[int], None]], None],
                   step: _Mergeable, *, workers: int, n_time: int, control: JobControl, stage: str) -> None:
    """Run batches ``0 .. len(sizes) - 1`` in ``workers`` forked processes and merge their pass states into
    ``step``.

    Parameters
    ----------
    sizes : sequence of int
        Sequences in each batch (for progress).
    run_batch : callable(index, report)
        Runs one batch; calls ``report(t)`` before frame t.
    step : the pass whose ``state()`` each worker returns and whose ``merge`` takes them all
    """
    context = multiprocessing.get_context("fork")
    parent, connections, processes = os.getpid(), [], []
    try:
        for i in range(workers):
            here, there = context.Pipe()
            process = context.Process(target=_work, args=(there, run_batch, step, parent), daemon=True,
                                      name=f"twinscope-extract-{i}")
            process.start()
            there.close()
            connections.append(here)
            processes.append(process)
        states = _serve(connections, processes, sizes, n_time=n_time, control=control, stage=stage)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join()
        for connection in connections:
            connection.close()
    step.merge(states)


def _serve(connections: list[Connection], processes: list, sizes: Sequence[int], *, n_time: int,
           control: JobControl, stage: str) -> list[dict]:
    """Hand out batches, relay progress and collect each worker's final state."""
    total, finished, next_batch = sum(sizes) * n_time, 0, 0
    current: dict[int, tuple[int, int]] = {}  # worker -> (batch, frame)
    states: dict[int, dict] = {}
    while len(states) < len(connections):
        control.check()
        for connection in wait([c for i, c in enumerate(connections) if i not in states], timeout=POLL_S):
            i = connections.index(connection)
            try:
                kind, value = connection.recv()
            except EOFError:
                processes[i].join(timeout=5)
                raise RuntimeError(f"extraction worker {i} (pid {processes[i].pid}) stopped without a result "
                                   f"(exit code {processes[i].exitcode}; negative = killed by that signal); "
                                   "nothing was written; run again, or set TWINSCOPE_EXTRACT_WORKERS=1 to "
                                   "extract in one process") from None
            if kind == "error":
                raise value
            if kind == "done":
                states[i] = value
            elif kind == "next":
                if i in current:
                    finished += sizes[current.pop(i)[0]] * n_time
                connection.send(next_batch if next_batch < len(sizes) else None)
                if next_batch < len(sizes):
                    current[i] = (next_batch, 0)
                    next_batch += 1
            else:  # "frame"
                current[i] = (current[i][0], value)
                running = sum(sizes[batch] * t for batch, t in current.values())
                done = sum(sizes[:next_batch]) - sum(sizes[batch] for batch, _ in current.values())
                control.report((finished + running) / total,
                               f"{stage}: {len(connections)} workers, sequences {done}/{sum(sizes)} done")
    return [states[i] for i in range(len(connections))]


def _work(connection: Connection, run_batch: Callable[[int, Callable[[int], None]], None], step: _Mergeable,
          parent: int) -> None:
    """A worker's loop: one thread, Ctrl-C left to the parent, stop when the parent is gone."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def report(t: int) -> None:
        if os.getppid() != parent:
            raise Cancelled("the extraction's parent process is gone")
        connection.send(("frame", t))

    try:
        while True:
            connection.send(("next", None))
            index = connection.recv()
            if index is None:
                break
            run_batch(index, report)
        connection.send(("done", step.state()))
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent
        fail_to_parent(connection, err, f"extraction worker {multiprocessing.current_process().name}")
