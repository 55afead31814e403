"""A bounded hand-over between two threads, with deadlines on both ends.

The server's request pump and the simulator's decode and prepare stages all pass
items from one thread to another through a small queue. The producer must never
block forever on a consumer that has gone away, and the consumer must be able to wait
with a deadline; :class:`Handover` is that, once.
"""

from __future__ import annotations

import queue
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Handover(Generic[T]):
    """A queue of at most ``depth`` items that gives up once ``stop`` is set."""

    def __init__(self, depth: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[T] = queue.Queue(depth)
        self._stop = stop

    def put(self, item: T) -> bool:
        """Hand ``item`` over, waiting for room; False if stopped first."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, timeout_s: float) -> T | None:
        """The next item, or None if none arrives within ``timeout_s`` (0: do not wait)."""
        try:
            if timeout_s > 0:
                return self._queue.get(timeout=timeout_s)
            return self._queue.get_nowait()
        except queue.Empty:
            return None
