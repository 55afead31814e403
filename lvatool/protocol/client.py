"""The client side of one session (LVA's side), as a pure state machine.

Theory of operation: :meth:`ClientSession.start` gives the descriptor to send first
(H2, H3) and the session waits in ``AWAIT_REPLY``; no sample may be sent before the
server's descriptor arrives (H5). In ``STREAMING`` each :meth:`send_sample` numbers a
sample (Q1) and keeps it pending, with a caller's tag, until a response acknowledges it.
Responses may come late and in any order (Q4), but each must acknowledge exactly one
pending sample, once (Q2). :meth:`close` half-closes; the session is ``DONE`` when
nothing is pending any more.

Errors of the server raise :class:`RemoteProtocolError` naming the rule; misuse by the
caller raises :class:`LocalProtocolError`. Tolerated oddities of real servers, such as
sequence number 0 on replies (Q5), come back as warnings on the event.

A checker wants to see every mistake of a server, not only the first, and to judge each
under its own rule. With ``observe=True`` the session records the errors it can step
over (a number out of sequence, an acknowledgement of no pending sample, a second
descriptor) in :attr:`ClientSession.violations` and carries on; ``receive`` then
returns None for a message that acknowledges nothing. Only a stream that never began
with a descriptor still raises.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from lvatool.contract import extension_pb2, inferencing_pb2
from lvatool.protocol.errors import LocalProtocolError, RemoteProtocolError
from lvatool.protocol.events import AckReceived, ContentReference, ReplyReceived
from lvatool.protocol.stream_spec import StreamSpec, descriptor_from_spec


class ClientState(enum.Enum):
    IDLE = "idle"
    AWAIT_REPLY = "await reply"
    STREAMING = "streaming"
    CLOSING = "closing"
    DONE = "done"


class ClientSession:
    """Tracks one ``ProcessMediaStream`` call from LVA's side."""

    def __init__(self, spec: StreamSpec, *, observe: bool = False) -> None:
        self.spec = spec
        self.observe = observe
        self.violations: list[RemoteProtocolError] = []
        self.state = ClientState.IDLE
        self._last_sent = 0
        self._last_received = 0
        self._pending: dict[int, tuple[int, Any]] = {}  # sequence -> (timestamp, tag)
        self.reply: extension_pb2.MediaStreamDescriptor | None = None

    @property
    def pending(self) -> int:
        """Samples sent and not yet acknowledged."""
        return len(self._pending)

    def pending_tags(self) -> list[Any]:
        """Tags of the samples still unacknowledged, oldest first."""
        return [tag for _, tag in self._pending.values()]

    def start(self) -> extension_pb2.MediaStreamMessage:
        """The client's descriptor, the first message of the call (H2)."""
        if self.state is not ClientState.IDLE:
            raise LocalProtocolError("the descriptor is sent once, first")
        self.state = ClientState.AWAIT_REPLY
        return self._next(media_stream_descriptor=descriptor_from_spec(self.spec))

    def send_sample(
        self,
        timestamp: int,
        content: bytes | ContentReference,
        *,
        inferences: Iterable[inferencing_pb2.Inference] = (),
        tag: Any = None,
    ) -> extension_pb2.MediaStreamMessage:
        """A sample message; it stays pending until acknowledged (Q2)."""
        if self.state is not ClientState.STREAMING:
            raise LocalProtocolError(
                f"no sample may be sent in state {self.state.value}", rule="H5"
            )
        if isinstance(content, ContentReference) != (self.spec.shared_memory is not None):
            raise LocalProtocolError(
                "content references go with shared-memory streams, bytes with embedded ones"
            )
        # Built in place: passing a finished MediaSample to the constructor would copy
        # a multi-megabyte frame once more.
        message = self._next()
        sample = message.media_sample
        sample.timestamp = timestamp
        sample.inferences.extend(inferences)
        if isinstance(content, ContentReference):
            sample.content_reference.address_offset = content.offset
            sample.content_reference.length_bytes = content.length
        else:
            sample.content_bytes.bytes = content
        self._pending[message.sequence_number] = (timestamp, tag)
        return message

    def close(self) -> None:
        """Half-close the request stream: no more samples (Q6)."""
        if self.state in (ClientState.CLOSING, ClientState.DONE):
            return
        self.state = ClientState.CLOSING if self._pending else ClientState.DONE

    def receive(
        self, message: extension_pb2.MediaStreamMessage
    ) -> ReplyReceived | AckReceived | None:
        """Judge one message from the server and say what it was.

        None only in observing mode, for a message recorded as a violation.
        """
        warnings = self._check_sequence(message.sequence_number)
        payload = message.WhichOneof("payload")
        if self.state is ClientState.AWAIT_REPLY:
            if payload != "media_stream_descriptor":
                raise RemoteProtocolError(
                    f"the server's first message must be a media_stream_descriptor, "
                    f"not {payload or 'empty'}",
                    rule="H2",
                    field="media_stream_descriptor",
                )
            if message.ack_sequence_number not in (0, 1):
                warnings += (
                    f"reply descriptor acknowledges {message.ack_sequence_number}, "
                    "not the client's descriptor (1)",
                )
            self.reply = message.media_stream_descriptor
            self.state = ClientState.STREAMING
            return ReplyReceived(
                message.media_stream_descriptor,
                warnings,
                message.sequence_number,
                message.ack_sequence_number,
            )
        if self.state is ClientState.IDLE:
            raise LocalProtocolError("message received before the descriptor was sent")
        if payload == "media_stream_descriptor":
            self._violation(
                RemoteProtocolError(
                    "the server sent a second media_stream_descriptor", rule="H2", field="payload"
                )
            )
            return None
        ack = message.ack_sequence_number
        entry = self._pending.pop(ack, None)
        if entry is None:
            if ack == 0:
                problem = "acknowledges no sample (ack_sequence_number 0)"
            elif ack <= self._last_sent:
                problem = f"acknowledges sample {ack} a second time"
            else:
                problem = f"acknowledges sample {ack}, which was never sent"
            self._violation(
                RemoteProtocolError(f"a response {problem}", rule="Q2", field="ack_sequence_number")
            )
            return None
        timestamp, tag = entry
        if self.state is ClientState.CLOSING and not self._pending:
            self.state = ClientState.DONE
        sample = message.media_sample
        if payload == "media_sample" and sample.timestamp != timestamp:
            warnings += (
                f"response for sample {ack} carries timestamp {sample.timestamp}, "
                f"not the sample's {timestamp}",
            )
        return AckReceived(
            ack,
            timestamp,
            tuple(sample.inferences),
            tag,
            warnings,
            message.sequence_number,
            sample.timestamp,
        )

    def _next(self, **payload: object) -> extension_pb2.MediaStreamMessage:
        self._last_sent += 1
        return extension_pb2.MediaStreamMessage(
            sequence_number=self._last_sent,
            ack_sequence_number=0,
            **payload,  # type: ignore[arg-type]
        )

    def _check_sequence(self, number: int) -> tuple[str, ...]:
        if number == 0:
            return ("the server sent sequence_number 0 (tolerated, rule Q5)",)
        expected = self._last_received + 1
        self._last_received = number
        if number != expected:
            self._violation(
                RemoteProtocolError(
                    f"the server sent sequence_number {number} where {expected} was expected",
                    rule="Q1",
                    field="sequence_number",
                )
            )
        return ()

    def _violation(self, error: RemoteProtocolError) -> None:
        """Raise ``error``, or in observing mode record it and carry on."""
        if not self.observe:
            raise error
        self.violations.append(error)
