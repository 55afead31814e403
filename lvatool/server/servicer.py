"""The gRPC servicer: an adapter from grpc's streaming call to the protocol core.

Each call runs :class:`CallHandler`, which feeds every request to a
:class:`~lvatool.protocol.ServerSession`, gives frames to the processor in batches and
yields one response per sample. The session's typed errors become gRPC statuses here
and nowhere else; a misbehaving peer ends its own call, never the server.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from lvatool.contract import extension_pb2, extension_pb2_grpc
from lvatool.protocol import (
    AUTH_HEADER,
    ContentReference,
    DescriptorReceived,
    RemoteProtocolError,
    SampleReceived,
    ServerSession,
    Status,
    basic_credentials,
    describe_format,
)
from lvatool.server.processor import Frame, InvalidFrameError, Processor, SessionInfo
from lvatool.server.pump import EndOfStream, RequestPump
from lvatool.shm import SharedMemoryError, SharedMemoryReader

log = logging.getLogger("lvatool.server")
Response = extension_pb2.MediaStreamMessage


@dataclass(frozen=True)
class SessionPolicy:
    """How every session of a server behaves."""

    name: str = "lvatool"
    batch_size: int = 1
    batch_timeout_s: float = 0.05
    handshake_timeout_s: float = 30.0
    idle_poll_s: float = 1.0
    max_sessions: int = 64
    credentials: tuple[str, str] | None = None


class _Abort(Exception):
    """Ends the call with ``status`` and ``message``."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class MediaGraphExtensionServicer(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    """Serves ``ProcessMediaStream`` with one processor for all sessions."""

    def __init__(self, processor: Processor, policy: SessionPolicy) -> None:
        self.processor = processor
        self.policy = policy
        self._slots = threading.BoundedSemaphore(policy.max_sessions)
        self._expected_auth = (
            basic_credentials(*policy.credentials) if policy.credentials is not None else None
        )

    def ProcessMediaStream(
        self, request_iterator: Iterator[Response], context: grpc.ServicerContext
    ) -> Iterator[Response]:
        self._authenticate(context)
        if not self._slots.acquire(blocking=False):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server is at its limit of {self.policy.max_sessions} sessions",
            )
        try:
            handler = CallHandler(self.processor, self.policy, context.peer())
            yield from handler.run(request_iterator, context)
        except _Abort as error:
            context.abort(grpc.StatusCode[error.status.name], error.message)
        finally:
            self._slots.release()

    def _authenticate(self, context: grpc.ServicerContext) -> None:
        """Rule A1: check ``x-ms-authentication`` before reading any frame."""
        if self._expected_auth is None:
            return
        metadata = dict(context.invocation_metadata() or ())
        supplied = metadata.get(AUTH_HEADER)
        if not isinstance(supplied, str) or not hmac.compare_digest(
            supplied.encode(), self._expected_auth.encode()
        ):
            reason = "missing" if supplied is None else "wrong"
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"x-ms-authentication is {reason}: this server needs Basic credentials (A1)",
            )


class CallHandler:
    """Runs one session: handshake, batches of frames, one response per sample."""

    def __init__(self, processor: Processor, policy: SessionPolicy, peer: str) -> None:
        self.processor = processor
        self.policy = policy
        self.peer = peer
        self.session = ServerSession(policy.name)
        self._shm: SharedMemoryReader | None = None
        self._info: SessionInfo | None = None
        self._started = time.monotonic()

    def run(
        self, requests: Iterator[Response], context: grpc.ServicerContext
    ) -> Iterator[Response]:
        pump = RequestPump(requests, capacity=max(8, 2 * self.policy.batch_size))
        outcome = "ended"
        try:
            yield from self._handshake(pump)
            yield from self._stream(pump, context)
            outcome = "ended OK"
        except _Abort as error:
            outcome = f"ended with {error.status.name}: {error.message}"
            raise
        finally:
            pump.stop()
            self._close()
            self._log_end(outcome)

    def _handshake(self, pump: RequestPump) -> Iterator[Response]:
        message = pump.get(self.policy.handshake_timeout_s)
        if message is None:
            raise _Abort(
                Status.DEADLINE_EXCEEDED,
                f"no media_stream_descriptor within {self.policy.handshake_timeout_s:g} s (H2)",
            )
        if isinstance(message, EndOfStream):
            raise _Abort(
                Status.CANCELLED if message.error else Status.INVALID_ARGUMENT,
                "the stream ended before its media_stream_descriptor (H2)",
            )
        event = self._receive(message)
        assert isinstance(event, DescriptorReceived)
        spec = event.spec
        if spec.shared_memory is not None:
            try:
                self._shm = SharedMemoryReader(
                    spec.shared_memory.handle_name, spec.shared_memory.length_bytes
                )
            except SharedMemoryError as error:
                raise _Abort(
                    Status.FAILED_PRECONDITION,
                    f"shared_memory_buffer_transfer_properties.handle_name: {error} (M1)",
                ) from None
        self._info = SessionInfo(spec, self.peer)
        try:
            self.processor.open(self._info)
        except ValueError as error:
            raise _Abort(
                Status.INVALID_ARGUMENT, f"the processor refused the session: {error}"
            ) from None
        transfer = "embedded" if spec.embedded else f"shared memory {spec.shared_memory}"
        log.info(
            "session start peer=%s format=%s transfer=%s",
            self.peer,
            describe_format(spec.frame),
            transfer,
        )
        yield self.session.reply_descriptor()

    def _stream(self, pump: RequestPump, context: grpc.ServicerContext) -> Iterator[Response]:
        batch: list[Frame] = []
        batch_deadline = 0.0
        while True:
            if batch:
                message = pump.get(batch_deadline - time.monotonic())
                if message is None:  # the batch waited long enough
                    yield from self._flush(batch)
                    continue
            else:
                message = pump.get(self.policy.idle_poll_s)
                if message is None:
                    if not context.is_active():
                        raise _Abort(Status.CANCELLED, "the client went away")
                    continue
            if isinstance(message, EndOfStream):
                if message.error is not None:
                    raise _Abort(Status.CANCELLED, "the client cancelled the call")
                self.session.end_of_requests()
                yield from self._flush(batch)
                return
            try:
                event = self._receive(message)
            except _Abort:
                yield from self._flush(batch)  # finish what is in hand, then end the call
                raise
            assert isinstance(event, SampleReceived)
            if not batch:
                batch_deadline = time.monotonic() + self.policy.batch_timeout_s
            batch.append(self._frame(event))
            if len(batch) >= self.policy.batch_size:
                yield from self._flush(batch)

    def _flush(self, batch: list[Frame]) -> Iterator[Response]:
        """Process a batch, then acknowledge each frame with its own results (Q2, Q3, M3)."""
        if not batch:
            return
        assert self._info is not None
        try:
            results = self.processor.process_batch(batch, self._info)
        except InvalidFrameError as error:
            raise _Abort(Status.INVALID_ARGUMENT, f"media_sample content: {error}") from None
        except Exception as error:
            log.exception("processor failed")
            raise _Abort(
                Status.INTERNAL, f"the processor failed: {type(error).__name__}: {error}"
            ) from None
        if len(results) != len(batch):
            raise _Abort(
                Status.INTERNAL,
                f"the processor returned {len(results)} results for {len(batch)} frames",
            )
        # Every read of the pixels is done; only now may the client reuse the regions (M3).
        responses = [
            self.session.acknowledge(frame.sequence_number, inferences)
            for frame, inferences in zip(batch, results, strict=True)
        ]
        batch.clear()
        yield from responses

    def _receive(self, message: Response) -> DescriptorReceived | SampleReceived:
        try:
            return self.session.receive(message)
        except RemoteProtocolError as error:
            raise _Abort(error.status, str(error)) from None

    def _frame(self, event: SampleReceived) -> Frame:
        assert self._info is not None
        data: bytes | memoryview
        if isinstance(event.content, ContentReference):
            assert self._shm is not None
            data = self._shm.region(event.content.offset, event.content.length)
        else:
            data = event.content
        return Frame(
            data,
            self._info.spec.frame,
            timestamp=event.timestamp,
            sequence_number=event.sequence_number,
            inferences=event.inferences,
        )

    def _close(self) -> None:
        if self._info is not None:
            try:
                self.processor.close(self._info)
            except Exception:
                log.exception("processor close failed")
        if self._shm is not None:
            self._shm.close()

    def _log_end(self, outcome: str) -> None:
        log.info(
            "session end peer=%s received=%d acknowledged=%d seconds=%.3f %s",
            self.peer,
            self.session.samples_received,
            self.session.samples_acknowledged,
            time.monotonic() - self._started,
            outcome,
        )
