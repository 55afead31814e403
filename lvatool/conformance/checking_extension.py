"""The checking extension: a gRPC server that records what an LVA-like client does.

It answers like a demanding but correct extension: it delays its reply descriptor (so a
client that sends early is caught, H5), holds samples and acknowledges them late and
out of order (Q4), and hashes each shared-memory region when the sample arrives and
again just before acknowledging it (M3).

It does not judge messages itself. Every message goes to a
:class:`~lvatool.protocol.ServerSession` in observing mode — the same rules the
reference server enforces, recording every violation instead of stopping at the first.
What only a live peer can show is added here: a shared buffer that cannot be opened
(M1), a region whose bytes changed before its ack (M3), how the call ended (Q6). All of
it goes into a :class:`SessionRecord`; the client suite's checks judge those afterwards.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from lvatool.contract import extension_pb2, extension_pb2_grpc, inferencing_pb2
from lvatool.grpc_options import channel_options
from lvatool.media import Encoding, luma_label, mean_luma_raw
from lvatool.protocol import (
    ContentReference,
    DescriptorReceived,
    LocalProtocolError,
    RemoteProtocolError,
    SampleReceived,
    ServerSession,
    StreamSpec,
)
from lvatool.protocol.wire import Undecodable
from lvatool.server.processor import classification
from lvatool.server.pump import EndOfStream, TolerantRequestPump, tolerant_extension_handler
from lvatool.shm import SharedMemoryError, SharedMemoryReader

Message = extension_pb2.MediaStreamMessage
CHECKER_NAME = "lvatool-conformance-checker"


@dataclass
class SampleRecord:
    sequence_number: int
    ack_sequence_number: int
    timestamp: int
    content: str  # "bytes", "reference" or "none"
    length: int
    offset: int = 0
    arrived_before_reply: bool = False


@dataclass
class SessionRecord:
    """Everything the checking extension saw in one call.

    ``violations`` holds every rule the client broke, each a
    :class:`~lvatool.protocol.RemoteProtocolError` naming its rule, field and message
    (``message_index``); ``replied`` says whether the handshake completed, so checks of
    the stream know whether there was a stream to judge.
    """

    metadata: dict[str, str] = field(default_factory=dict)
    descriptor: extension_pb2.MediaStreamDescriptor | None = None
    spec: StreamSpec | None = None
    replied: bool = False
    samples: list[SampleRecord] = field(default_factory=list)
    violations: list[RemoteProtocolError] = field(default_factory=list)
    rewritten: list[int] = field(default_factory=list)
    acks_sent: int = 0
    ending: str = "open"  # "half-close", "cancelled", "timeout", "refused"
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class CheckingPolicy:
    reply_delay_s: float = 0.3
    hold: int = 3
    handshake_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    hold_timeout_s: float = 0.2
    seed: int = 7


class CheckingServicer(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    def __init__(self, policy: CheckingPolicy) -> None:
        self.policy = policy
        self.sessions: list[SessionRecord] = []
        self._lock = threading.Lock()
        self.session_started = threading.Event()

    def ProcessMediaStream(
        self, request_iterator: Iterator[Message], context: grpc.ServicerContext
    ) -> Iterator[Message]:
        record = SessionRecord(metadata={k: v for k, v in context.invocation_metadata() or ()
                                         if isinstance(v, str)})  # fmt: skip
        with self._lock:
            self.sessions.append(record)
        self.session_started.set()
        try:
            yield from _Session(self.policy, record).run(request_iterator, context)
        finally:
            record.done.set()


@dataclass
class _Held:
    """A sample held for a late acknowledgement, with its region's hash on arrival."""

    record: SampleRecord
    message_index: int
    reference: ContentReference | None
    digest: bytes | None
    inferences: list[inferencing_pb2.Inference]


class _Session:
    def __init__(self, policy: CheckingPolicy, record: SessionRecord) -> None:
        self.policy = policy
        self.record = record
        self.protocol = ServerSession(CHECKER_NAME, observe=True)
        self.seen: list[RemoteProtocolError] = []  # violations only a live peer shows
        self.reader: SharedMemoryReader | None = None
        self.rng = random.Random(policy.seed)
        self.held: list[_Held] = []

    def run(self, requests: Iterator[Message], context: grpc.ServicerContext) -> Iterator[Message]:
        pump = TolerantRequestPump(requests, capacity=64)
        try:
            yield from self._stream(pump, context)
        except RemoteProtocolError as error:  # nothing after it can be judged: end the call
            self.record.ending = "refused"
            context.abort(grpc.StatusCode[error.status.name], str(error))
        finally:
            pump.stop()
            if self.reader is not None:
                self.reader.close()
            found = self.protocol.violations + self.seen
            self.record.violations = sorted(found, key=lambda v: v.message_index or 0)

    def _stream(
        self, pump: TolerantRequestPump, context: grpc.ServicerContext
    ) -> Iterator[Message]:
        first = pump.get(self.policy.handshake_timeout_s)
        if first is None or isinstance(first, EndOfStream):
            self.record.ending = "timeout" if first is None else _ending(first, context)
            self.seen.append(
                RemoteProtocolError(
                    "the call ended before its first message, the media_stream_descriptor"
                    if first
                    else f"no media_stream_descriptor within {self.policy.handshake_timeout_s:g} s",
                    rule="H2",
                    field="media_stream_descriptor",
                    message_index=1,
                )
            )
            return
        first = self._decoded(first)
        if first.HasField("media_stream_descriptor"):
            self.record.descriptor = first.media_stream_descriptor
        event = self.protocol.receive(first)
        assert isinstance(event, DescriptorReceived)
        self.record.spec = event.spec
        self._open_buffer(event.spec)
        ended = self._delay_reply(pump, context)
        yield self.protocol.reply_descriptor()
        self.record.replied = True
        yield from self._release_due()
        while ended is None:
            # Held samples wait for more traffic, but not for long: a client whose
            # buffer or window is smaller than what we hold must not stall (Q4 only
            # says acks may come late, not never).
            message = pump.get(
                self.policy.hold_timeout_s if self.held else self.policy.idle_timeout_s
            )
            if message is None and self.held:
                yield from self._release(len(self.held))
            elif message is None:
                self.record.ending = "timeout"
                break
            elif isinstance(message, EndOfStream):
                ended = message
                self.record.ending = _ending(message, context)
            else:
                self._take(message)
                yield from self._release_due()
        self.protocol.end_of_requests()
        yield from self._release(len(self.held))
        # A half-closed call stays active until we return; one that is not was cancelled
        # (seen late when the cancellation took longer than _ending's grace to show).
        if self.record.ending == "half-close" and not context.is_active():
            self.record.ending = "cancelled"

    def _open_buffer(self, spec: StreamSpec) -> None:
        """M1: map the client's shared buffer, or end the call naming why not."""
        if spec.shared_memory is None:
            return
        try:
            self.reader = SharedMemoryReader(
                spec.shared_memory.handle_name, spec.shared_memory.length_bytes
            )
        except SharedMemoryError as error:
            violation = self._unusable_buffer(error, "shared_memory_buffer_transfer_properties", 1)
            raise violation from None

    def _read_region(self, reference: ContentReference, message_index: int) -> memoryview:
        """The region's bytes; a file the client shrank ends the call, never the checker.

        Reading the mapping past the end of a shrunk file would be SIGBUS, which would
        kill the checker and lose the report (A3): the reader checks the size first.
        """
        assert self.reader is not None
        try:
            return self.reader.region(reference.offset, reference.length)
        except SharedMemoryError as error:
            field = "media_sample.content_reference"
            violation = self._unusable_buffer(error, field, message_index)
            raise violation from None

    def _unusable_buffer(
        self, error: SharedMemoryError, field: str, message_index: int
    ) -> RemoteProtocolError:
        """Record that the client's buffer cannot be read (M1, M4); the call then ends."""
        violation = RemoteProtocolError(
            f"the shared buffer cannot be used: {error}",
            status=error.status,
            rule=error.rule,
            field=field,
            message_index=message_index,
        )
        self.seen.append(violation)
        return violation

    def _delay_reply(
        self, pump: TolerantRequestPump, context: grpc.ServicerContext
    ) -> EndOfStream | None:
        """Hold the reply back; a sample that arrives meanwhile was sent too early (H5).

        A half-close or cancel in this window ends the stream: keep it, do not wait on.
        """
        deadline = time.monotonic() + self.policy.reply_delay_s
        while (left := deadline - time.monotonic()) > 0:
            message = pump.get(left)
            if isinstance(message, EndOfStream):
                self.record.ending = _ending(message, context)
                return message
            if message is not None:
                self._take(message)
        # Messages already in hand when the reply goes out came before it too.
        for _ in range(64):
            message = pump.get(0)
            if message is None:
                break
            if isinstance(message, EndOfStream):
                self.record.ending = _ending(message, context)
                return message
            self._take(message)
        return None

    def _decoded(self, message: Message | Undecodable) -> Message:
        """The message, or the end of the call: bytes that are not a message break H2.

        gRPC would otherwise end the call with INTERNAL by itself, and the session would
        see only the end of its requests, as if the client had half-closed cleanly.
        """
        if not isinstance(message, Undecodable):
            return message
        violation = RemoteProtocolError(
            f"message {self.protocol.messages_received + 1} is not a MediaStreamMessage: "
            f"{message.reason}",
            rule="H2",
            field="payload",
            message_index=self.protocol.messages_received + 1,
        )
        self.seen.append(violation)
        raise violation

    def _take(self, message: Message | Undecodable) -> None:
        """Judge a sample, hash its region on arrival (M3) and hold it for a late ack."""
        message = self._decoded(message)
        event = self.protocol.receive(message)
        assert isinstance(event, SampleReceived)
        content = event.content
        kind = message.media_sample.WhichOneof("content")
        record = SampleRecord(
            event.sequence_number, message.ack_sequence_number, event.timestamp,
            {"content_bytes": "bytes", "content_reference": "reference"}.get(kind or "", "none"),
            content.length if isinstance(content, ContentReference) else len(content),
            content.offset if isinstance(content, ContentReference) else 0,
            arrived_before_reply=not self.record.replied,
        )  # fmt: skip
        self.record.samples.append(record)
        data: bytes | memoryview | None = None
        reference = content if isinstance(content, ContentReference) else None
        if event.readable and reference is not None and self.reader is not None:
            data = self._read_region(reference, self.protocol.messages_received)
        elif event.readable and isinstance(content, bytes):
            data = content
        digest = hashlib.sha256(data).digest() if isinstance(data, memoryview) else None
        self.held.append(
            _Held(
                record,
                self.protocol.messages_received,
                reference if digest is not None else None,
                digest,
                self._classify(data) if data is not None and not event.violations else [],
            )
        )

    def _classify(self, data: bytes | memoryview) -> list[inferencing_pb2.Inference]:
        """Answer like a real extension: the dark/light label of a RAW frame (R4)."""
        spec = self.record.spec
        assert spec is not None
        frame = spec.frame
        if frame.encoding is not Encoding.RAW:
            return []
        mean = mean_luma_raw(data, frame.pixel_format, frame.width, frame.height,
                             frame.stride_bytes)  # fmt: skip
        return [classification(luma_label(mean))]

    def _release_due(self) -> Iterator[Message]:
        if len(self.held) >= self.policy.hold:
            yield from self._release(max(1, self.policy.hold - 1))

    def _release(self, count: int) -> Iterator[Message]:
        """Acknowledge ``count`` held samples in a shuffled order, re-hashing each region."""
        self.rng.shuffle(self.held)
        chosen, self.held = self.held[:count], self.held[count:]
        for held in chosen:
            if held.reference is not None and self.reader is not None:
                region = self._read_region(held.reference, held.message_index)
                if hashlib.sha256(region).digest() != held.digest:
                    self._rewritten(held)
            try:
                response = self.protocol.acknowledge(held.record.sequence_number, held.inferences)
            except LocalProtocolError:
                continue  # a number the client used twice (a Q1 violation) is acked once
            self.record.acks_sent += 1
            yield response

    def _rewritten(self, held: _Held) -> None:
        number = held.record.sequence_number
        assert held.reference is not None
        self.record.rewritten.append(number)
        self.seen.append(
            RemoteProtocolError(
                f"the region [{held.reference.offset}, +{held.reference.length}) of sample "
                f"{number} changed before its acknowledgement",
                rule="M3",
                field="media_sample.content_reference",
                message_index=held.message_index,
            )
        )


#: How long a request stream that ended cleanly is watched for the call's cancellation.
_CANCEL_GRACE_S = 0.1


def _ending(end: EndOfStream, context: grpc.ServicerContext) -> str:
    """How the client ended its request stream: ``half-close`` or ``cancelled`` (Q6).

    gRPC may end the request iterator of a cancelled call exactly as it ends a half-closed
    one (the end of the messages is seen before the cancellation). A half-closed call stays
    active, waiting for our replies; a cancelled one goes inactive within a millisecond.
    """
    if end.error is not None:
        return "cancelled"
    deadline = time.monotonic() + _CANCEL_GRACE_S
    while context.is_active():
        if time.monotonic() >= deadline:
            return "half-close"
        time.sleep(0.005)
    return "cancelled"


class CheckingExtension:
    """The checking extension on ``host:port`` (port 0 picks one)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, policy: CheckingPolicy | None = None
    ) -> None:
        self.servicer = CheckingServicer(policy or CheckingPolicy())
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="lvatool-checker"),
            options=channel_options(64),
        )
        # Garbage bytes from the client reach the session, which records them (H2).
        self._server.add_generic_rpc_handlers(
            (tolerant_extension_handler(self.servicer.ProcessMediaStream),)
        )
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.port = int(self._server.add_insecure_port(bind))
        if not self.port:
            raise OSError(f"cannot listen on {bind}")
        self.host = host

    @property
    def address(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{host}:{self.port}"

    def __enter__(self) -> CheckingExtension:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(0.5)

    @property
    def sessions(self) -> list[SessionRecord]:
        return list(self.servicer.sessions)
