"""The server's log lines, collected from a running in-process server, with waits.

Tests judge what an operator reads: the ``session end`` line must name the status the
client received. A handler on the ``lvatool.server`` logger collects every record,
whatever ``configure_logging`` did to propagation earlier in the same test process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ServerLog(logging.Handler):
    """Every record of ``lvatool.server``; :meth:`wait_for` waits for a line with a deadline."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def lines(self, containing: str = "") -> list[str]:
        with self._changed:
            return [r.getMessage() for r in self.records if containing in r.getMessage()]

    def wait_for(self, containing: str, count: int = 1, timeout_s: float = 30.0) -> list[str]:
        """The lines holding ``containing`` once there are ``count``; fails at the deadline."""
        with self._changed:
            found = self._changed.wait_for(lambda: len(self.lines(containing)) >= count, timeout_s)
        if not found:
            raise AssertionError(
                f"no {count} log line(s) with {containing!r} within {timeout_s:g} s: {self.lines()}"
            )
        return self.lines(containing)


@contextmanager
def server_log() -> Iterator[ServerLog]:
    """Collect ``lvatool.server``'s records at every level while the block runs."""
    logger = logging.getLogger("lvatool.server")
    handler = ServerLog()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
