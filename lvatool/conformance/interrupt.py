"""Ctrl-C and SIGTERM during a conformance run: stop the run, keep its report.

A CI job is cancelled with SIGTERM, a user presses Ctrl-C; either way the checks that
already ran are worth keeping, and a client the suite started must not outlive it. Python
turns SIGINT into :class:`KeyboardInterrupt` but lets SIGTERM kill the process on the
spot, with no ``finally`` run. Inside :func:`interrupts_raise` both raise
:class:`Interrupted` once, in the main thread; the suites catch it (as any
``KeyboardInterrupt``), end what they started and return a report that says so.

A second signal while that cleanup runs does not raise again: the cleanup (ending the
client within a short grace, writing the reports) is bounded, and a second exception in
the middle of it would lose the report and could leave the client running.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals that interrupt a run; SIGTERM is what CI runners send on cancel.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was interrupted by ``signal_name`` (SIGINT or SIGTERM)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def interruption_reason(interrupt: KeyboardInterrupt) -> str:
    """One sentence for the report: which signal ended the run."""
    name = interrupt.signal_name if isinstance(interrupt, Interrupted) else "SIGINT"
    return "interrupted by SIGINT (Ctrl-C)" if name == "SIGINT" else f"interrupted by {name}"


class Interrupts:
    """The signal handlers' state while :func:`interrupts_raise` is active."""

    def __init__(self) -> None:
        self.received: str | None = None  # the first signal's name
        self._raising = True

    def shield(self) -> None:
        """From now on, record signals without raising: the run is over and its reports
        are being written, which must not be cut in half."""
        self._raising = False

    def on_signal(self, number: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # later signals: the cleanup after the first is bounded; let it finish
        name = signal.Signals(number).name
        self.received = name
        if self._raising:
            raise Interrupted(name)


@contextmanager
def interrupts_raise() -> Iterator[Interrupts]:
    """SIGINT and SIGTERM raise :class:`Interrupted` (once) while the block runs.

    Outside the main thread signal handlers cannot be installed; the block then runs
    with Python's defaults (SIGINT still raises ``KeyboardInterrupt``).
    """
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    previous = {number: signal.signal(number, interrupts.on_signal) for number in SIGNALS}
    try:
        yield interrupts
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
