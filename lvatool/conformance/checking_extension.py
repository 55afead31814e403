"""The checking extension: a gRPC server that records what an LVA-like client does.

It answers like a demanding but correct extension: it delays its reply descriptor (so a
client that sends early is caught, H5), holds samples and acknowledges them late and
out of order (Q4), and hashes each shared-memory region when the sample arrives and
again just before acknowledging it (M3). Every observation goes into a
:class:`SessionRecord`; the client suite's checks judge those records afterwards.
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

from lvatool.contract import extension_pb2, extension_pb2_grpc, inferencing_pb2, media_pb2
from lvatool.grpc_options import channel_options
from lvatool.media import Encoding, accepted_raw_sizes, luma_label, mean_luma_raw
from lvatool.protocol import ProtocolError, StreamSpec, spec_from_descriptor
from lvatool.server.processor import classification
from lvatool.server.pump import EndOfStream, RequestPump
from lvatool.shm import SharedMemoryError, SharedMemoryReader

Message = extension_pb2.MediaStreamMessage


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
    """Everything the checking extension saw in one call."""

    metadata: dict[str, str] = field(default_factory=dict)
    first_payload: str | None = None
    first_sequence: int | None = None
    first_ack: int | None = None
    descriptor: extension_pb2.MediaStreamDescriptor | None = None
    spec: StreamSpec | None = None
    descriptor_error: str | None = None
    shm_error: str | None = None
    shm_file_size: int | None = None
    samples: list[SampleRecord] = field(default_factory=list)
    sequence_errors: list[str] = field(default_factory=list)
    size_errors: list[str] = field(default_factory=list)
    reference_errors: list[str] = field(default_factory=list)
    rewritten: list[int] = field(default_factory=list)
    acks_sent: int = 0
    last_sent_sequence: int = 0
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


class _Session:
    def __init__(self, policy: CheckingPolicy, record: SessionRecord) -> None:
        self.policy = policy
        self.record = record
        self.reader: SharedMemoryReader | None = None
        self.expected_sequence = 1
        self.received = 0
        self.sent = 0
        self.rng = random.Random(policy.seed)
        self.held: list[tuple[SampleRecord, bytes | None, list[inferencing_pb2.Inference]]] = []

    def run(self, requests: Iterator[Message], context: grpc.ServicerContext) -> Iterator[Message]:
        pump = RequestPump(requests, capacity=64)
        try:
            first = pump.get(self.policy.handshake_timeout_s)
            if first is None or isinstance(first, EndOfStream):
                self.record.ending = "timeout" if first is None else _ending(first, context)
                return
            self._observe_sequence(first)
            self.record.first_payload = first.WhichOneof("payload")
            self.record.first_sequence = first.sequence_number
            self.record.first_ack = first.ack_sequence_number
            if self.record.first_payload != "media_stream_descriptor":
                self.record.ending = "refused"
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "the first message must be a descriptor (H2)"
                )
            self._accept_descriptor(first.media_stream_descriptor, context)
            # Delay the reply while reading: a sample now arrived before the reply (H5).
            # A half-close or cancel in this window ends the stream: keep it, do not wait on.
            early: list[Message] = []
            ended: EndOfStream | None = None
            deadline = time.monotonic() + self.policy.reply_delay_s
            while ended is None and (left := deadline - time.monotonic()) > 0:
                message = pump.get(left)
                if isinstance(message, Message):
                    early.append(message)
                elif isinstance(message, EndOfStream):
                    ended = message
                    self.record.ending = _ending(message, context)
            yield self._message(
                first.sequence_number,
                media_stream_descriptor=extension_pb2.MediaStreamDescriptor(
                    extension_identifier="lvatool-conformance-checker",
                    media_descriptor=media_pb2.MediaDescriptor(
                        timescale=self.record.spec.timescale if self.record.spec else 90_000
                    ),
                ),
            )
            for message in early:
                yield from self._sample(message, before_reply=True)
            while ended is None:
                # Held samples wait for more traffic, but not for long: a client whose
                # buffer or window is smaller than what we hold must not stall (Q4 only
                # says acks may come late, not never).
                message = pump.get(
                    self.policy.hold_timeout_s if self.held else self.policy.idle_timeout_s
                )
                if message is None and self.held:
                    yield from self._release(len(self.held))
                    continue
                if message is None:
                    self.record.ending = "timeout"
                    break
                if isinstance(message, EndOfStream):
                    self.record.ending = _ending(message, context)
                    break
                yield from self._sample(message, before_reply=False)
            yield from self._release(len(self.held))
        finally:
            pump.stop()
            if self.reader is not None:
                self.reader.close()

    def _message(self, ack: int, **payload: object) -> Message:
        self.sent += 1
        self.record.last_sent_sequence = self.sent
        return Message(sequence_number=self.sent, ack_sequence_number=ack, **payload)  # type: ignore[arg-type]

    def _observe_sequence(self, message: Message) -> None:
        self.received += 1
        if message.sequence_number != self.expected_sequence:
            self.record.sequence_errors.append(
                f"message {self.received} numbered {message.sequence_number}, "
                f"expected {self.expected_sequence}"
            )
        self.expected_sequence = message.sequence_number + 1
        if message.ack_sequence_number > self.sent:
            self.record.sequence_errors.append(
                f"message {message.sequence_number} acknowledges {message.ack_sequence_number}, "
                f"but only {self.sent} were sent to it"
            )

    def _accept_descriptor(
        self, descriptor: extension_pb2.MediaStreamDescriptor, context: grpc.ServicerContext
    ) -> None:
        self.record.descriptor = descriptor
        try:
            spec = spec_from_descriptor(descriptor)
        except ProtocolError as error:
            self.record.descriptor_error = str(error)
            self.record.ending = "refused"
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        self.record.spec = spec
        if spec.shared_memory is not None:
            try:
                self.reader = SharedMemoryReader(
                    spec.shared_memory.handle_name, spec.shared_memory.length_bytes
                )
                self.record.shm_file_size = self.reader.path.stat().st_size
            except (SharedMemoryError, OSError) as error:
                self.record.shm_error = str(error)
                self.record.ending = "refused"
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))

    def _sample(self, message: Message, *, before_reply: bool) -> Iterator[Message]:
        self._observe_sequence(message)
        spec = self.record.spec
        assert spec is not None
        sample = message.media_sample
        kind = sample.WhichOneof("content")
        data: bytes | memoryview | None = None
        record = SampleRecord(
            message.sequence_number, message.ack_sequence_number, sample.timestamp,
            {"content_bytes": "bytes", "content_reference": "reference"}.get(kind or "", "none"),
            0, arrived_before_reply=before_reply,
        )  # fmt: skip
        if message.WhichOneof("payload") != "media_sample":
            self.record.sequence_errors.append(
                f"message {message.sequence_number} is a second descriptor (H2)"
            )
        if kind == "content_bytes":
            data = sample.content_bytes.bytes
            record.length = len(data)
        elif kind == "content_reference":
            ref = sample.content_reference
            record.offset, record.length = ref.address_offset, ref.length_bytes
            if (
                self.reader is None
                or ref.address_offset + ref.length_bytes > self.reader.length
                or not ref.length_bytes
            ):
                self.record.reference_errors.append(
                    f"sample {message.sequence_number}: "
                    f"[{ref.address_offset}, +{ref.length_bytes}) outside the "
                    f"{self.reader.length if self.reader else 0}-byte buffer"
                )
            else:
                data = self.reader.region(ref.address_offset, ref.length_bytes)
        self.record.samples.append(record)
        frame = spec.frame
        if frame.encoding is Encoding.RAW and data is not None:
            sizes = accepted_raw_sizes(
                frame.pixel_format, frame.width, frame.height, frame.stride_bytes
            )
            if len(data) not in sizes:
                self.record.size_errors.append(
                    f"sample {message.sequence_number}: {len(data)} bytes, a declared "
                    f"{frame.pixel_format.name} {frame.width}x{frame.height} frame is {sizes[0]}"
                )
        inferences = []
        if data is not None and frame.encoding is Encoding.RAW and not self.record.size_errors:
            label = luma_label(
                mean_luma_raw(
                    data, frame.pixel_format, frame.width, frame.height, frame.stride_bytes
                )
            )
            inferences = [classification(label)]
        digest = hashlib.sha256(data).digest() if isinstance(data, memoryview) else None
        self.held.append((record, digest, inferences))
        if len(self.held) >= self.policy.hold:
            yield from self._release(max(1, self.policy.hold - 1))

    def _release(self, count: int) -> Iterator[Message]:
        """Acknowledge ``count`` held samples in a shuffled order, re-hashing each region."""
        self.rng.shuffle(self.held)
        chosen, self.held = self.held[:count], self.held[count:]
        for record, digest, inferences in chosen:
            if digest is not None and self.reader is not None:
                again = hashlib.sha256(self.reader.region(record.offset, record.length)).digest()
                if again != digest:
                    self.record.rewritten.append(record.sequence_number)
            self.record.acks_sent += 1
            response = self._message(record.sequence_number)
            response.media_sample.timestamp = record.timestamp
            response.media_sample.inferences.extend(inferences)
            yield response


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
        extension_pb2_grpc.add_MediaGraphExtensionServicer_to_server(self.servicer, self._server)  # type: ignore[no-untyped-call]
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
