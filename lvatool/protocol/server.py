"""The server side of one session, as a pure state machine (no gRPC, no sockets).

Theory of operation: a session starts in ``AWAIT_DESCRIPTOR``. The client's first
message must be its descriptor (H2); once validated (H3, H6, M4) the caller sends the
reply from :meth:`ServerSession.reply_descriptor` (H4) and the session is
``STREAMING``. Every sample received is *pending* until the caller acknowledges it with
:meth:`ServerSession.acknowledge`, once, with its results (Q2, Q3). The client's
half-close moves the session to ``DRAINING``; it is ``CLOSED`` when nothing is pending
(Q6). Numbers are checked on the way in and made on the way out (Q1).

Anything the client does wrong raises :class:`RemoteProtocolError`; anything the caller
does wrong (a second ack, an ack for a sample never received) raises
:class:`LocalProtocolError`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from lvatool.contract import extension_pb2, inferencing_pb2, media_pb2
from lvatool.media import Encoding, accepted_raw_sizes
from lvatool.protocol.errors import LocalProtocolError, RemoteProtocolError
from lvatool.protocol.events import ContentReference, DescriptorReceived, SampleReceived
from lvatool.protocol.stream_spec import StreamSpec, describe_format, spec_from_descriptor


class ServerState(enum.Enum):
    AWAIT_DESCRIPTOR = "await descriptor"
    STREAMING = "streaming"
    DRAINING = "draining"
    CLOSED = "closed"


class ServerSession:
    """Tracks one ``ProcessMediaStream`` call from the extension's side."""

    def __init__(self, name: str = "lvatool") -> None:
        self.name = name
        self.state = ServerState.AWAIT_DESCRIPTOR
        self.spec: StreamSpec | None = None
        self._last_received = 0
        self._last_sent = 0
        self._descriptor_sequence = 0
        self._pending: dict[int, int] = {}  # sequence number -> timestamp
        self._raw_sizes: tuple[int, ...] | None = None  # RAW sample lengths the spec allows
        self.samples_received = 0
        self.samples_acknowledged = 0

    @property
    def pending(self) -> int:
        """How many samples are received but not yet acknowledged."""
        return len(self._pending)

    def receive(
        self, message: extension_pb2.MediaStreamMessage
    ) -> DescriptorReceived | SampleReceived:
        """Judge one message from the client and say what it was."""
        if self.state in (ServerState.DRAINING, ServerState.CLOSED):
            raise LocalProtocolError(f"message received in state {self.state.value}")
        self._check_sequence(message.sequence_number)
        payload = message.WhichOneof("payload")
        if self.state is ServerState.AWAIT_DESCRIPTOR:
            if payload != "media_stream_descriptor":
                raise RemoteProtocolError(
                    "the first message must be a media_stream_descriptor, "
                    f"not {payload or 'an empty message'}",
                    rule="H2",
                    field="media_stream_descriptor",
                )
            self.spec = spec_from_descriptor(message.media_stream_descriptor)
            frame = self.spec.frame
            if frame.encoding is Encoding.RAW:
                self._raw_sizes = accepted_raw_sizes(
                    frame.pixel_format, frame.width, frame.height, frame.stride_bytes
                )
            self._descriptor_sequence = message.sequence_number
            self.state = ServerState.STREAMING
            return DescriptorReceived(self.spec, message.sequence_number)
        if payload != "media_sample":
            raise RemoteProtocolError(
                "after the descriptor every message must carry a media_sample, "
                f"not {payload or 'nothing'}",
                rule="H2",
                field="media_sample",
            )
        assert self.spec is not None
        sample = message.media_sample
        event = SampleReceived(
            sequence_number=message.sequence_number,
            timestamp=sample.timestamp,
            content=self._content(sample),
            inferences=tuple(sample.inferences),
        )
        self._pending[message.sequence_number] = sample.timestamp
        self.samples_received += 1
        return event

    def reply_descriptor(self) -> extension_pb2.MediaStreamMessage:
        """The server's descriptor, which also acknowledges the client's (H4)."""
        if self.spec is None or self._last_sent:
            raise LocalProtocolError("the reply descriptor is sent once, after the client's")
        descriptor = extension_pb2.MediaStreamDescriptor(
            extension_identifier=self.name,
            media_descriptor=media_pb2.MediaDescriptor(timescale=self.spec.timescale),
        )
        return self._next(
            ack=self._descriptor_sequence,
            media_stream_descriptor=descriptor,
        )

    def acknowledge(
        self,
        sequence_number: int,
        inferences: Iterable[inferencing_pb2.Inference] = (),
    ) -> extension_pb2.MediaStreamMessage:
        """The response for one processed sample: its ack, timestamp and results (Q2, Q3)."""
        if not self._last_sent:
            raise LocalProtocolError("the reply descriptor must be sent before any ack (H4)")
        timestamp = self._pending.pop(sequence_number, None)
        if timestamp is None:
            raise LocalProtocolError(
                f"sample {sequence_number} is not pending: acknowledged already or never received",
                rule="Q2",
            )
        self.samples_acknowledged += 1
        if self.state is ServerState.DRAINING and not self._pending:
            self.state = ServerState.CLOSED
        sample = extension_pb2.MediaSample(timestamp=timestamp, inferences=list(inferences))
        return self._next(ack=sequence_number, media_sample=sample)

    def end_of_requests(self) -> None:
        """The client half-closed its stream; finish what is pending, then close (Q6)."""
        self.state = ServerState.DRAINING if self._pending else ServerState.CLOSED

    def _next(self, *, ack: int, **payload: object) -> extension_pb2.MediaStreamMessage:
        self._last_sent += 1
        return extension_pb2.MediaStreamMessage(
            sequence_number=self._last_sent,
            ack_sequence_number=ack,
            **payload,  # type: ignore[arg-type]
        )

    def _check_sequence(self, number: int) -> None:
        expected = self._last_received + 1
        if number != expected:
            raise RemoteProtocolError(
                f"sequence_number {number} where {expected} was expected "
                "(each side numbers its messages from 1, increasing by 1)",
                rule="Q1",
                field="sequence_number",
            )
        self._last_received = number

    def _content(self, sample: extension_pb2.MediaSample) -> bytes | ContentReference:
        assert self.spec is not None
        frame = self.spec.frame
        raw_sizes = self._raw_sizes
        kind = sample.WhichOneof("content")
        if self.spec.shared_memory is None:
            if kind != "content_bytes":
                raise RemoteProtocolError(
                    "media_sample.content_bytes is missing: this stream is embedded (E1)",
                    rule="E1",
                    field="media_sample.content_bytes",
                )
            data = sample.content_bytes.bytes
            if raw_sizes is not None and len(data) not in raw_sizes:
                raise RemoteProtocolError(
                    f"media_sample.content_bytes holds {len(data)} bytes; "
                    f"a {describe_format(frame)} frame is {raw_sizes[0]}",
                    rule="F1",
                    field="media_sample.content_bytes",
                )
            if not data:
                raise RemoteProtocolError(
                    "media_sample.content_bytes is empty",
                    rule="E1",
                    field="media_sample.content_bytes",
                )
            return data
        if kind != "content_reference":
            raise RemoteProtocolError(
                "media_sample.content_reference is missing: this stream uses shared memory (M2)",
                rule="M2",
                field="media_sample.content_reference",
            )
        ref = sample.content_reference
        limit = self.spec.shared_memory.length_bytes
        if ref.length_bytes == 0 or ref.address_offset + ref.length_bytes > limit:
            raise RemoteProtocolError(
                f"content_reference [{ref.address_offset}, +{ref.length_bytes}) lies outside "
                f"the {limit}-byte shared buffer",
                rule="M4",
                field="media_sample.content_reference",
            )
        if raw_sizes is not None and ref.length_bytes not in raw_sizes:
            raise RemoteProtocolError(
                f"content_reference.length_bytes is {ref.length_bytes}; a {describe_format(frame)} "
                f"frame is {raw_sizes[0]}",
                rule="M4",
                field="media_sample.content_reference.length_bytes",
            )
        return ContentReference(ref.address_offset, ref.length_bytes)
