"""Moves a call's requests from gRPC's blocking iterator into a bounded queue.

The session loop must be able to wait for the next message *with a deadline* (to
flush a partial batch after ``--batch-timeout-ms``, to give up on a silent client),
which gRPC's synchronous request iterator cannot do. A small thread per call reads
the iterator; the queue is bounded, so a fast client is held back by gRPC's flow
control rather than by our memory (A3).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc

from lvatool.contract import SERVICE_NAME, extension_pb2
from lvatool.handover import Handover
from lvatool.protocol.wire import Undecodable, decode_message

Request = extension_pb2.MediaStreamMessage


def tolerant_extension_handler(
    process_media_stream: Callable[..., Iterator[Request]],
) -> grpc.GenericRpcHandler:
    """``ProcessMediaStream`` served with :func:`decode_message` as its deserializer.

    Used in place of the generated ``add_MediaGraphExtensionServicer_to_server``, which
    lets gRPC end a call on garbage bytes by itself: the reference server and the
    conformance checker both want to see the garbage and say what it was.
    """
    method = grpc.stream_stream_rpc_method_handler(
        process_media_stream,
        request_deserializer=decode_message,
        response_serializer=Request.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, {"ProcessMediaStream": method})


@dataclass(frozen=True)
class EndOfStream:
    """The client half-closed its stream (``error`` is None) or the call broke."""

    error: BaseException | None = None


T = TypeVar("T")


class Pump(Generic[T]):
    """A background reader of one call's request stream of ``T``."""

    def __init__(
        self, requests: Iterator[T], capacity: int = 8, *, stamp_arrivals: bool = False
    ) -> None:
        self._requests = requests
        self._stopped = threading.Event()
        self._handover: Handover[T | EndOfStream] = Handover(capacity, self._stopped)
        # With ``stamp_arrivals``, the moment gRPC handed over each message, in order: a
        # frame's round trip starts at its arrival, not when the session got round to taking
        # it from the queue. Without, no clock is read per message.
        self._arrivals: deque[float] | None = deque() if stamp_arrivals else None
        self.arrived_at = 0.0
        self._thread = threading.Thread(target=self._run, name="lvatool-request-pump", daemon=True)
        self._thread.start()

    def get(self, timeout: float) -> T | EndOfStream | None:
        """The next message, :class:`EndOfStream`, or ``None`` if ``timeout`` passed first.

        After a message, with ``stamp_arrivals``, :attr:`arrived_at` is the
        ``time.monotonic()`` at which the reader thread received it from gRPC.
        """
        item = self._handover.get(timeout)
        if self._arrivals is not None and item is not None and not isinstance(item, EndOfStream):
            self.arrived_at = self._arrivals.popleft()
        return item

    def stop(self) -> None:
        """Stop handing over messages (the call is over); the thread ends with the call."""
        self._stopped.set()

    def _run(self) -> None:
        end = EndOfStream()
        arrivals = self._arrivals
        try:
            for message in self._requests:
                if arrivals is not None:
                    arrivals.append(time.monotonic())  # before the put: get pops after it
                if not self._handover.put(message):
                    return
        except Exception as error:  # the call was cancelled or broke
            end = EndOfStream(error)
        self._handover.put(end)


RequestPump = Pump[Request]
"""Requests decoded by gRPC's generated deserializer."""

TolerantRequestPump = Pump[Request | Undecodable]
"""Requests decoded by :func:`decode_message`, which hands on what it cannot decode."""
