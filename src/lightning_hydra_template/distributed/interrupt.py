"""Stopping on a signal across processes: the exception a stopped run ends with, and the stop request
that a launching process passes to the DDP workers it started.

A worker started by the run (fork or spawn) gets Ctrl-C from the terminal itself, but not a SIGTERM
sent to the launching process alone (``kill <pid>``, a container stop). The launching process keeps
the signal in a shared integer that the workers read (a plain integer, no device work) and agree on at
intervals (``GracefulInterrupt``), so both reach the same checkpoint; it is not forwarded as a signal, which would count as a second Ctrl-C in a worker that
already got the first one.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any

from lightning_hydra_template.distributed.slurm import slurm_requeue_signal


class Interrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int, checkpoint: Any = None, requeued: bool = False) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.requeued = requeued
        super().__init__(signum)

    def __str__(self) -> str:
        saved = f"; checkpoint saved to {self.checkpoint}" if self.checkpoint else ""
        return f"stopped by {signal.Signals(self.signum).name}{saved}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def stop_signals() -> list[int]:
    """Ctrl-C, SIGTERM, and under SLURM the pre-timeout signal."""
    requeue = slurm_requeue_signal()
    return [signal.SIGINT, signal.SIGTERM] + ([requeue] if requeue else [])


def announce(signum: int) -> None:
    print(
        f"\n{signal.Signals(signum).name} received: saving a checkpoint after this step "
        "(Ctrl-C again to abort without one)",
        file=sys.stderr,
        flush=True,
    )


_request: Any = None  # in a DDP worker: the launching process's shared stop request


def attach_stop_request(request: Any) -> None:
    """Called in a worker process: read stop requests from the process that started it."""
    global _request
    _request = request


def requested_stop() -> int | None:
    """The signal the launching process received, if any (None outside a DDP worker)."""
    return (_request.value or None) if _request is not None else None


@contextlib.contextmanager
def recording_stop_signals(request: Any) -> Iterator[None]:
    """In the launching process, while its workers train: a stop signal is written to ``request``
    (a shared ``ctypes`` int) instead of ending this process; a second Ctrl-C aborts."""

    def handle(signum: int, frame: Any) -> None:
        if request.value and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not request.value:
            request.value = signum
            announce(signum)

    previous = {}
    for signum in stop_signals():
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[signum] = signal.signal(signum, handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
