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

Two modes, one set of rules. The reference server runs the default, *strict* mode: the
first broken rule raises and ends the call. A conformance checker wants every mistake
of a client, not only the first, so ``ServerSession(name, observe=True)`` records each
violation in :attr:`ServerSession.violations` (and on the event of the message that
broke it) and carries on. It still raises where the state table has no transition for
the message — a first message that is not a descriptor, a descriptor that cannot be
served, a descriptor where a sample belongs — because nothing after it can be judged.

Some rules only an observer enforces: the reference server can serve a client that
breaks them, so strict mode tolerates them and only observing mode records them. They
are a client's ``ack_sequence_number`` naming a message never sent to it (Q1), a
sample before the reply descriptor (H5), a descriptor with timescale 0 (H3), and a
reference overlapping the region of a sample not yet acknowledged (M3: the client
wrote into a region still in flight, whenever the receiver happens to look).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from lvatool.contract import extension_pb2, inferencing_pb2, media_pb2
from lvatool.media.formats import Encoding, accepted_raw_sizes
from lvatool.protocol.content import judge_content, overlap
from lvatool.protocol.errors import LocalProtocolError, RemoteProtocolError
from lvatool.protocol.events import ContentReference, DescriptorReceived, SampleReceived
from lvatool.protocol.stream_spec import StreamSpec, spec_from_descriptor


class ServerState(enum.Enum):
    AWAIT_DESCRIPTOR = "await descriptor"
    STREAMING = "streaming"
    DRAINING = "draining"
    CLOSED = "closed"


class ServerSession:
    """Tracks one ``ProcessMediaStream`` call from the extension's side."""

    def __init__(self, name: str = "lvatool", *, observe: bool = False) -> None:
        self.name = name
        self.observe = observe
        self.state = ServerState.AWAIT_DESCRIPTOR
        self.spec: StreamSpec | None = None
        #: Observing mode: every rule the client broke, in the order received.
        self.violations: list[RemoteProtocolError] = []
        self._received = 0  # messages received; the index of the one being judged
        self._current: list[RemoteProtocolError] = []  # violations of that message
        self._last_received = 0
        self._last_sent = 0
        self._descriptor_sequence = 0
        self._pending: dict[int, int] = {}  # sequence number -> timestamp
        self._regions: dict[int, ContentReference] = {}  # observing: pending references
        self._raw_sizes: tuple[int, ...] | None = None  # RAW sample lengths the spec allows
        self.samples_received = 0
        self.samples_acknowledged = 0

    @property
    def pending(self) -> int:
        """How many samples are received but not yet acknowledged."""
        return len(self._pending)

    @property
    def messages_received(self) -> int:
        """Messages received so far: the ``message_index`` of the latest one."""
        return self._received

    def receive(
        self, message: extension_pb2.MediaStreamMessage
    ) -> DescriptorReceived | SampleReceived:
        """Judge one message from the client and say what it was."""
        if self.state in (ServerState.DRAINING, ServerState.CLOSED):
            raise LocalProtocolError(f"message received in state {self.state.value}")
        self._received += 1
        self._current = []
        try:
            return self._judge(message)
        except RemoteProtocolError as error:
            error.message_index = self._received
            if self.observe:
                self.violations.append(error)
            raise

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
        self._regions.pop(sequence_number, None)
        self.samples_acknowledged += 1
        if self.state is ServerState.DRAINING and not self._pending:
            self.state = ServerState.CLOSED
        sample = extension_pb2.MediaSample(timestamp=timestamp, inferences=list(inferences))
        return self._next(ack=sequence_number, media_sample=sample)

    def end_of_requests(self) -> None:
        """The client half-closed its stream; finish what is pending, then close (Q6)."""
        self.state = ServerState.DRAINING if self._pending else ServerState.CLOSED

    # -- judging one message ------------------------------------------------------------
    def _judge(
        self, message: extension_pb2.MediaStreamMessage
    ) -> DescriptorReceived | SampleReceived:
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
            return self._descriptor(message)
        if payload != "media_sample":
            raise RemoteProtocolError(
                "after the descriptor every message must carry a media_sample, "
                f"not {payload or 'nothing'}",
                rule="H2",
                field="media_sample",
            )
        self._check_client_ack(message.ack_sequence_number)
        if not self._last_sent:
            self._broken(
                RemoteProtocolError(
                    "a media_sample arrived before the server's descriptor was sent: "
                    "the client must wait for it",
                    rule="H5",
                    field="media_sample",
                ),
                tolerated=True,
            )
        return self._sample(message)

    def _descriptor(self, message: extension_pb2.MediaStreamMessage) -> DescriptorReceived:
        descriptor = message.media_stream_descriptor
        self._check_client_ack(message.ack_sequence_number)
        self.spec = spec_from_descriptor(descriptor)
        if descriptor.media_descriptor.timescale == 0:
            self._broken(
                RemoteProtocolError(
                    "media_descriptor.timescale is 0: timestamps need a unit "
                    f"(read as {self.spec.timescale} ticks per second)",
                    rule="H3",
                    field="media_descriptor.timescale",
                ),
                tolerated=True,
            )
        frame = self.spec.frame
        if frame.encoding is Encoding.RAW:
            self._raw_sizes = accepted_raw_sizes(
                frame.pixel_format, frame.width, frame.height, frame.stride_bytes
            )
        self._descriptor_sequence = message.sequence_number
        self.state = ServerState.STREAMING
        return DescriptorReceived(self.spec, message.sequence_number, tuple(self._current))

    def _sample(self, message: extension_pb2.MediaStreamMessage) -> SampleReceived:
        assert self.spec is not None
        sample = message.media_sample
        judged = judge_content(self.spec, self._raw_sizes, sample)
        for error in judged.errors:
            self._broken(error)
        content, readable = judged.content, judged.readable
        # M3 is tolerated in strict mode: the server's hot path skips the bookkeeping.
        if self.observe and readable and isinstance(content, ContentReference):
            overlapping = overlap(content, self._regions)
            if overlapping is not None:
                self._broken(overlapping, tolerated=True)
            self._regions[message.sequence_number] = content
        self._pending[message.sequence_number] = sample.timestamp
        self.samples_received += 1
        return SampleReceived(
            sequence_number=message.sequence_number,
            timestamp=sample.timestamp,
            content=content,
            inferences=tuple(sample.inferences),
            violations=tuple(self._current),
            readable=readable,
        )

    def _broken(self, error: RemoteProtocolError, *, tolerated: bool = False) -> None:
        """The message being judged broke a rule: raise, or record it and carry on.

        ``tolerated`` rules are ones the reference server can serve despite; strict mode
        lets them pass, observing mode records them like any other.
        """
        error.message_index = self._received
        if self.observe:
            self.violations.append(error)
            self._current.append(error)
        elif not tolerated:
            raise error

    def _next(self, *, ack: int, **payload: object) -> extension_pb2.MediaStreamMessage:
        self._last_sent += 1
        return extension_pb2.MediaStreamMessage(
            sequence_number=self._last_sent,
            ack_sequence_number=ack,
            **payload,  # type: ignore[arg-type]
        )

    # -- the rules, one by one ----------------------------------------------------------
    def _check_sequence(self, number: int) -> None:
        """Q1: numbered from 1, increasing by 1; an observer carries on from the number seen."""
        expected = self._last_received + 1
        self._last_received = number
        if number != expected:
            self._broken(
                RemoteProtocolError(
                    f"sequence_number {number} where {expected} was expected "
                    "(each side numbers its messages from 1, increasing by 1)",
                    rule="Q1",
                    field="sequence_number",
                )
            )

    def _check_client_ack(self, ack: int) -> None:
        """Q1: an ack names a message the server sent; 0 acknowledges nothing."""
        if ack <= self._last_sent:
            return
        if self._received == 1:
            problem = f"the first message acknowledges {ack}; nothing was sent yet, so it must be 0"
        else:
            problem = (
                f"ack_sequence_number {ack} names no message sent to the client "
                f"(only {self._last_sent} were)"
            )
        self._broken(
            RemoteProtocolError(problem, rule="Q1", field="ack_sequence_number"), tolerated=True
        )
