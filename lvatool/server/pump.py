"""Moves a call's requests from gRPC's blocking iterator into a bounded queue.

The session loop must be able to wait for the next message *with a deadline* (to
flush a partial batch after ``--batch-timeout-ms``, to give up on a silent client),
which gRPC's synchronous request iterator cannot do. A small thread per call reads
the iterator; the queue is bounded, so a fast client is held back by gRPC's flow
control rather than by our memory (A3).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from lvatool.contract import extension_pb2
from lvatool.handover import Handover


@dataclass(frozen=True)
class EndOfStream:
    """The client half-closed its stream (``error`` is None) or the call broke."""

    error: BaseException | None = None


class RequestPump:
    """A background reader of one call's request stream."""

    def __init__(
        self, requests: Iterator[extension_pb2.MediaStreamMessage], capacity: int = 8
    ) -> None:
        self._requests = requests
        self._stopped = threading.Event()
        self._handover: Handover[extension_pb2.MediaStreamMessage | EndOfStream] = Handover(
            capacity, self._stopped
        )
        self._thread = threading.Thread(target=self._run, name="lvatool-request-pump", daemon=True)
        self._thread.start()

    def get(self, timeout: float) -> extension_pb2.MediaStreamMessage | EndOfStream | None:
        """The next message, :class:`EndOfStream`, or ``None`` if ``timeout`` passed first."""
        return self._handover.get(timeout)

    def stop(self) -> None:
        """Stop handing over messages (the call is over); the thread ends with the call."""
        self._stopped.set()

    def _run(self) -> None:
        end = EndOfStream()
        try:
            for message in self._requests:
                if not self._handover.put(message):
                    return
        except Exception as error:  # the call was cancelled or broke
            end = EndOfStream(error)
        self._handover.put(end)
