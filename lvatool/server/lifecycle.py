"""How ``lvatool serve`` ends: signals, the grace period, and the exit code.

A processor that never returns, or a client that never ends its call, cannot be
cancelled from outside its thread, and Python waits for every worker thread before it
exits: the server used to log "stopped" and stay. So the first SIGINT/SIGTERM asks for a
graceful stop (``--grace-s``), what is left after it is cancelled, and whatever still
runs then is ended by leaving the process; a second signal leaves at once.

Exit codes (documented in the README):

- 0: every session ended, by itself within the grace period or cut after it. Live LVA
  sessions never end by themselves, so cutting them (their clients see ``UNAVAILABLE``
  and reconnect) is the ordinary way a server stops, not a failure;
- 1: a session was still stuck in the processor after being cut, and the process had to
  be left with it running: frames were lost inside the user's code, which a supervisor
  should see as a failed stop;
- 130: a second signal ended the process at once (128 + SIGINT, lvatool's "interrupted"
  code whichever of SIGINT/SIGTERM it was, so scripts check one number).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from lvatool.logs import flush_logs
from lvatool.server.runner import StopReport

log = logging.getLogger("lvatool.serve")

EXIT_STOPPED = 0
EXIT_PROCESSOR_STUCK = 1
EXIT_INTERRUPTED = 130


def exit_code(report: StopReport) -> int:
    """The exit code for a stop that went as ``report`` says."""
    return EXIT_STOPPED if report.complete else EXIT_PROCESSOR_STUCK


def leave(code: int) -> None:
    """End the process now with ``code``, logs written, without waiting for stuck threads."""
    flush_logs()
    os._exit(code)


class StopSignals:
    """SIGINT/SIGTERM: the first asks for a graceful stop, a second leaves at once."""

    def __init__(self) -> None:
        self._requested = threading.Event()
        self.name = ""

    def install(self) -> None:
        """Handle SIGINT and SIGTERM (from the main thread, as Python requires)."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def wait(self) -> str:
        """Block until the first signal; its name (``SIGTERM``)."""
        self._requested.wait()
        return self.name

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._requested.is_set():
            log.warning("received %s again: exiting at once (exit %d)", name, EXIT_INTERRUPTED)
            leave(EXIT_INTERRUPTED)
        self.name = name
        self._requested.set()
