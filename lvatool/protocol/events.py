"""Events the session state machines hand to their callers.

Each is a small frozen value. A gRPC adapter feeds a received ``MediaStreamMessage``
to a session and gets one of these back; it never has to look inside the protobuf
message again to know what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lvatool.contract import extension_pb2, inferencing_pb2
from lvatool.protocol.errors import RemoteProtocolError
from lvatool.protocol.stream_spec import StreamSpec


@dataclass(frozen=True)
class ContentReference:
    """A sample's place in the shared buffer (M2)."""

    offset: int
    length: int


@dataclass(frozen=True)
class DescriptorReceived:
    """The server received the client's descriptor (H2, H3).

    ``violations`` are the rules it broke that a session in observing mode stepped over
    (always empty in strict mode, which raises instead).
    """

    spec: StreamSpec
    sequence_number: int
    violations: tuple[RemoteProtocolError, ...] = ()


@dataclass(frozen=True)
class SampleReceived:
    """The server received a sample; it must acknowledge it once, after processing (Q2).

    In observing mode a sample that broke rules still arrives here, with ``violations``
    saying which. ``readable`` is False when its content must not be read at all: of the
    wrong kind for the stream's transfer, or a reference outside the shared buffer.
    """

    sequence_number: int
    timestamp: int
    content: bytes | ContentReference
    inferences: tuple[inferencing_pb2.Inference, ...] = ()
    violations: tuple[RemoteProtocolError, ...] = ()
    readable: bool = True


@dataclass(frozen=True)
class ReplyReceived:
    """The client received the server's descriptor and may now send samples (H4, H5)."""

    descriptor: extension_pb2.MediaStreamDescriptor
    warnings: tuple[str, ...] = ()
    sequence_number: int = 1
    ack_sequence_number: int = 1


@dataclass(frozen=True)
class AckReceived:
    """The client received the acknowledgement of one of its samples (Q2).

    ``tag`` is whatever the caller attached when it sent the sample (a send time, a
    shared-memory region), handed back so the caller needs no lookup table of its own.
    """

    sequence_number: int
    timestamp: int
    inferences: tuple[inferencing_pb2.Inference, ...]
    tag: Any = None
    warnings: tuple[str, ...] = ()
    response_sequence: int = 0
    response_timestamp: int = 0
