"""Extensions that treat one session, or every sample, slowly: the fan-out's adversaries.

- ``STALLS_FIRST_SESSION``: the first session gets its reply descriptor and then no
  acknowledgement ever; every later session is served at once. One simulated camera is
  stalled, the others must go on.
- ``STOPS_READING_FIRST_SESSION``: the first session gets its reply descriptor and then
  nothing is read from it any more, so large samples fill gRPC's flow-control window and
  the client's writes wait; every later session is served at once.
- ``SLOW``: every sample is acknowledged :data:`SLOW_S` after it arrives, one at a time:
  a paced sender falls behind its schedule, which its latency must show.

Every call lasts at most :data:`CALL_LIMIT_S`; a stalled call ends when the client
gives up on it (or at that limit).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc

from lvatool.contract import SERVICE_NAME, extension_pb2
from lvatool.grpc_options import channel_options
from lvatool.protocol import SampleReceived, ServerSession
from lvatool.server import classification

Message = extension_pb2.MediaStreamMessage
CALL_LIMIT_S = 60.0
SLOW_S = 0.05  # SLOW: processing time of each sample


class Behaviour(enum.StrEnum):
    STALLS_FIRST_SESSION = "stalls-first-session"
    STOPS_READING_FIRST_SESSION = "stops-reading-first-session"
    SLOW = "slow"


class FanoutServer:
    """An extension with one :class:`Behaviour`, on a free loopback port."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.sessions = 0
        self._lock = threading.Lock()
        self._ended = threading.Event()  # processing delays end when the server stops
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32), options=channel_options(64)
        )
        handler = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "ProcessMediaStream": grpc.stream_stream_rpc_method_handler(
                    self._process,
                    request_deserializer=Message.FromString,
                    response_serializer=Message.SerializeToString,
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.address = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"

    def __enter__(self) -> FanoutServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._ended.set()
        self._server.stop(0).wait(5.0)

    def _process(
        self, requests: Iterator[Message], context: grpc.ServicerContext
    ) -> Iterator[Message]:
        with self._lock:
            self.sessions += 1
            first = self.sessions == 1
        stalled = first and self.behaviour is Behaviour.STALLS_FIRST_SESSION
        deaf = first and self.behaviour is Behaviour.STOPS_READING_FIRST_SESSION
        deadline = time.monotonic() + CALL_LIMIT_S
        session = ServerSession("fanout")
        for message in requests:
            if time.monotonic() > deadline:
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "call limit")
            event = session.receive(message)
            if not isinstance(event, SampleReceived):
                yield session.reply_descriptor()
                if deaf:  # read nothing more until the client gives up or the server stops
                    self._ended.wait(CALL_LIMIT_S)
                    return
                continue
            if stalled:
                continue  # read on, answer nothing
            if self.behaviour is Behaviour.SLOW:
                self._ended.wait(SLOW_S)
            yield session.acknowledge(event.sequence_number, [classification("dark")])
