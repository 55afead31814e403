"""Extensions that attack the simulator rather than break one rule of the protocol.

:class:`HostileServer` serves ``ProcessMediaStream`` through a generic handler that
works on raw bytes, so a hostile behaviour can send what no generated servicer could:
bytes that are not protobuf at all. Each :class:`Hostility` is one attack:

- ``GARBAGE_FIRST``: answers the descriptor with bytes that do not parse (H2).
- ``GARBAGE_AFTER_REPLY``: a proper reply descriptor, then garbage for every sample (Q2).
- ``MARKUP_TAGS``: a correct session whose every result is tagged with rich markup and a
  terminal escape.
- ``MARKUP_STATUS``: acknowledges one sample, then ends the call with such details.

Every wait is bounded: a call lasts at most :data:`CALL_LIMIT_S`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from concurrent import futures

import grpc

from lvatool.contract import SERVICE_NAME, extension_pb2
from lvatool.grpc_options import channel_options
from lvatool.protocol import SampleReceived, ServerSession
from lvatool.server import classification

Message = extension_pb2.MediaStreamMessage
#: Not protobuf: field 31, wire type 7 (there is no wire type 7).
GARBAGE = b"\xff\xff\xff\xff\x0f"
#: What a hostile peer says: rich markup that does not parse, and "clear the screen".
HOSTILE_TEXT = "[/] [bold red]pwned \x1b[2J"
CALL_LIMIT_S = 60.0


class Hostility(enum.StrEnum):
    GARBAGE_FIRST = "garbage-first"
    GARBAGE_AFTER_REPLY = "garbage-after-reply"
    MARKUP_TAGS = "markup-tags"
    MARKUP_STATUS = "markup-status"


class HostileServer:
    """A raw-bytes extension with one :class:`Hostility`, on a free loopback port."""

    def __init__(self, hostility: Hostility) -> None:
        self.hostility = hostility
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=8), options=channel_options(64)
        )
        handler = grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "ProcessMediaStream": grpc.stream_stream_rpc_method_handler(
                    self._process, request_deserializer=None, response_serializer=None
                )
            },
        )
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(0).wait(5.0)

    def _process(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        deadline = time.monotonic() + CALL_LIMIT_S
        session = ServerSession("hostile")
        for raw in requests:
            if time.monotonic() > deadline:
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "call limit")
            event = session.receive(Message.FromString(raw))
            if self.hostility is Hostility.GARBAGE_FIRST:
                yield GARBAGE
                continue
            if not isinstance(event, SampleReceived):
                yield session.reply_descriptor().SerializeToString()
                continue
            if self.hostility is Hostility.GARBAGE_AFTER_REPLY:
                yield GARBAGE
                continue
            ack = session.acknowledge(event.sequence_number, [classification(HOSTILE_TEXT)])
            yield ack.SerializeToString()
            if self.hostility is Hostility.MARKUP_STATUS:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, HOSTILE_TEXT)
