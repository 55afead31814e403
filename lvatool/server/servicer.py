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
from lvatool.media.formats import Encoding
from lvatool.media.image_header import ImageHeaderError, check_encoded_frame
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
from lvatool.protocol.wire import Undecodable
from lvatool.server.metrics import ServerMetrics, SessionMetrics
from lvatool.server.processor import Frame, InvalidFrameError, Processor, SessionInfo
from lvatool.server.processor_output import ProcessorMistake, check_batch_results, processor_name
from lvatool.server.pump import EndOfStream, TolerantRequestPump
from lvatool.server.slots import SessionSlots
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
    # One LVA module connects from one address for all its cameras, so the share of one
    # peer is generous; it exists so one host cannot take every slot (issue 8).
    max_sessions_per_peer: int = 32
    # Off by default: a motion-gated LVA session can be silent for hours (A3). When set,
    # a session with no message for this long ends with DEADLINE_EXCEEDED.
    idle_timeout_s: float | None = None
    credentials: tuple[str, str] | None = None


@dataclass(frozen=True)
class SessionEnd:
    """How a session ended: the status its client receives, and why.

    ``settles_late``: the end was judged from a request stream that ended, which a client
    that cancels produces as well as one that half-closes; only once gRPC has closed the
    call does it say which, so the end is logged then (as OK ends are).
    """

    status: Status
    message: str = ""
    settles_late: bool = False


def _client_cancelled(context: grpc.ServicerContext) -> bool:
    """Whether gRPC saw the client cancel, or its connection break, before the call closed.

    The public API cannot tell a half-closed call that got its OK from one whose client
    vanished (a peer dropped by keepalive) just after its last request: gRPC ends the
    request stream the same way, and once the status is sent ``is_active()`` is False for
    both. gRPC's own call state records the difference, so it is read here; should its
    internals change, the answer falls back to "not cancelled", as the log said before.
    """
    state = getattr(context, "_state", None)
    return getattr(state, "client", None) == "cancelled"


class _Abort(Exception):
    """Ends the call with ``status`` and ``message`` (see :attr:`SessionEnd.settles_late`)."""

    def __init__(self, status: Status, message: str, *, settles_late: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.settles_late = settles_late


class MediaGraphExtensionServicer(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    """Serves ``ProcessMediaStream`` with one processor for all sessions."""

    def __init__(
        self, processor: Processor, policy: SessionPolicy, metrics: ServerMetrics | None = None
    ) -> None:
        self.processor = processor
        self.policy = policy
        self.metrics = metrics
        self.slots = SessionSlots(
            policy.max_sessions, min(policy.max_sessions_per_peer, policy.max_sessions)
        )
        self.stopping = threading.Event()
        self._expected_auth = (
            basic_credentials(*policy.credentials) if policy.credentials is not None else None
        )

    def ProcessMediaStream(
        self,
        request_iterator: Iterator[Response | Undecodable],
        context: grpc.ServicerContext,
    ) -> Iterator[Response]:
        self._authenticate(context)
        peer = context.peer()
        refusal = self.slots.acquire(peer)
        if refusal is not None:
            log.warning("session refused peer=%s status=RESOURCE_EXHAUSTED: %s", peer, refusal)
            self._count_end(Status.RESOURCE_EXHAUSTED)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
        log.debug("call from peer=%s: waiting for the media stream descriptor", peer)
        handler = CallHandler(self.processor, self.policy, peer, self.metrics)
        end = SessionEnd(Status.OK)
        try:
            yield from handler.run(request_iterator, context)
        except _Abort as error:
            end = SessionEnd(error.status, error.message, error.settles_late)
        except GeneratorExit:  # gRPC dropped the call: the client cancelled or went away
            self._ended(handler, self._cancelled())
            raise
        except Exception as error:  # a bug of ours; the peer still deserves a status
            log.exception("session failed peer=%s", peer)
            end = SessionEnd(Status.INTERNAL, f"the server failed: {type(error).__name__}: {error}")
        finally:
            self.slots.release(peer)
        if not context.is_active() or self.stopping.is_set():  # no status reaches the client
            end = self._cancelled()
            self._ended(handler, end)
        elif not (end.status is Status.OK or end.settles_late) or not context.add_callback(
            lambda: self._ended(handler, self._settled(context, end))
        ):
            self._ended(handler, end)
        # else: logged once the call is over, when a cancellation is certain
        if end.status is not Status.OK:
            context.abort(grpc.StatusCode[end.status.name], end.message)

    def _ended(self, handler: CallHandler, end: SessionEnd) -> None:
        """Log a session's end and count its status: once per call, whatever ended it."""
        handler.log_end(end)
        self._count_end(end.status)

    def _count_end(self, status: Status) -> None:
        if self.metrics is not None:
            self.metrics.call_ended(status)

    def _settled(self, context: grpc.ServicerContext, end: SessionEnd) -> SessionEnd:
        """How a call our handler ended with ``end`` really ended, once gRPC has closed it."""
        return self._cancelled() if _client_cancelled(context) else end

    def _cancelled(self) -> SessionEnd:
        """How a call that no status can reach ended, as the client saw it."""
        if self.stopping.is_set():
            return SessionEnd(Status.UNAVAILABLE, "cut by the server's shutdown after --grace-s")
        return SessionEnd(Status.CANCELLED, "the client cancelled the call or its connection broke")

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
            message = f"x-ms-authentication is {reason}: this server needs Basic credentials (A1)"
            log.warning(
                "session refused peer=%s status=UNAUTHENTICATED: %s", context.peer(), message
            )
            self._count_end(Status.UNAUTHENTICATED)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, message)


class CallHandler:
    """Runs one session: handshake, batches of frames, one response per sample."""

    def __init__(
        self,
        processor: Processor,
        policy: SessionPolicy,
        peer: str,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.processor = processor
        self.policy = policy
        self.peer = peer
        self.session = ServerSession(policy.name)
        self._shm: SharedMemoryReader | None = None
        self._info: SessionInfo | None = None
        self._started = time.monotonic()
        self._server_metrics = metrics
        self._metrics: SessionMetrics | None = None  # from the accepted descriptor on
        # When each frame of the batch arrived, kept only while round trips are exported.
        self._arrivals: list[float] | None = (
            [] if metrics is not None and metrics.times_round_trips else None
        )

    def run(
        self, requests: Iterator[Response | Undecodable], context: grpc.ServicerContext
    ) -> Iterator[Response]:
        """The session's responses; ends by returning (OK) or raising :class:`_Abort`."""
        pump = TolerantRequestPump(
            requests,
            capacity=max(8, 2 * self.policy.batch_size),
            stamp_arrivals=self._arrivals is not None,
        )
        try:
            yield from self._handshake(pump, context)
            yield from self._stream(pump, context)
        finally:
            pump.stop()
            self._close()

    def _handshake(
        self, pump: TolerantRequestPump, context: grpc.ServicerContext
    ) -> Iterator[Response]:
        message = pump.get(self.policy.handshake_timeout_s)
        if message is None:
            raise _Abort(
                Status.DEADLINE_EXCEEDED,
                f"no media_stream_descriptor within {self.policy.handshake_timeout_s:g} s (H2)",
            )
        if isinstance(message, EndOfStream):
            if message.error is not None or not context.is_active():
                raise _Abort(Status.CANCELLED, "the client cancelled the call")
            raise _Abort(
                Status.INVALID_ARGUMENT,
                "the stream ended before its media_stream_descriptor (H2)",
                settles_late=True,  # or the client cancelled, and gRPC does not know yet
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
                    error.status,
                    f"shared_memory_buffer_transfer_properties.handle_name: {error} ({error.rule})",
                ) from None
            if self._server_metrics is not None:
                self._server_metrics.shared_memory_mapped(self._shm.length)
        self._info = SessionInfo(spec, self.peer)
        try:
            self.processor.open(self._info)
        except ValueError as error:
            raise _Abort(
                Status.INVALID_ARGUMENT, f"the processor refused the session: {error}"
            ) from None
        except BaseException as error:  # SystemExit too: one call, never the server
            raise self._processor_crashed("open()", error) from None
        transfer = "embedded" if spec.embedded else f"shared memory {spec.shared_memory}"
        log.info(
            "session start peer=%s format=%s transfer=%s",
            self.peer,
            describe_format(spec.frame),
            transfer,
        )
        if self._server_metrics is not None:
            self._metrics = self._server_metrics.session_opened(spec)
        yield self.session.reply_descriptor()

    def _stream(
        self, pump: TolerantRequestPump, context: grpc.ServicerContext
    ) -> Iterator[Response]:
        batch: list[Frame] = []
        batch_deadline = 0.0
        last_message = time.monotonic()
        idle_timeout = self.policy.idle_timeout_s
        while True:
            if batch:
                message = pump.get(batch_deadline - time.monotonic())
                if message is None:  # the batch waited long enough
                    yield from self._flush(batch)
                    continue
            else:
                wait = self.policy.idle_poll_s
                if idle_timeout is not None:
                    wait = min(wait, last_message + idle_timeout - time.monotonic())
                message = pump.get(wait)
                if message is None:
                    if not context.is_active():
                        raise _Abort(Status.CANCELLED, "the client went away")
                    if idle_timeout is not None and (
                        time.monotonic() - last_message >= idle_timeout
                    ):
                        raise _Abort(
                            Status.DEADLINE_EXCEEDED,
                            f"no message for {idle_timeout:g} s (--idle-timeout-s)",
                        )
                    continue
            last_message = time.monotonic()
            if isinstance(message, EndOfStream):
                if message.error is not None or not context.is_active():
                    raise _Abort(Status.CANCELLED, "the client cancelled the call")
                self.session.end_of_requests()
                yield from self._flush(batch)
                return
            try:
                event = self._receive(message)
                assert isinstance(event, SampleReceived)
                frame = self._frame(event)
            except _Abort:
                yield from self._flush(batch)  # finish what is in hand, then end the call
                raise
            if not batch:
                batch_deadline = time.monotonic() + self.policy.batch_timeout_s
            batch.append(frame)
            if self._arrivals is not None:
                self._arrivals.append(pump.arrived_at)
            log.debug(
                "session peer=%s sample %d received, %d of %d in the batch",
                self.peer,
                event.sequence_number,
                len(batch),
                self.policy.batch_size,
            )
            if len(batch) >= self.policy.batch_size:
                yield from self._flush(batch)

    def _flush(self, batch: list[Frame]) -> Iterator[Response]:
        """Process a batch, then acknowledge each frame with its own results (Q2, Q3, M3)."""
        if not batch:
            return
        assert self._info is not None
        if self._shm is not None:
            try:  # the frames wait in the batch: the file may have shrunk since (M1, A3)
                self._shm.ensure_intact(f"the {len(batch)} frame(s) waiting to be processed")
            except SharedMemoryError as error:
                raise _Abort(
                    error.status, f"media_sample.content_reference: {error} ({error.rule})"
                ) from None
        started = time.perf_counter()
        try:
            returned = self.processor.process_batch(batch, self._info)
        except InvalidFrameError as error:
            raise _Abort(Status.INVALID_ARGUMENT, f"media_sample content: {error}") from None
        except BaseException as error:  # SystemExit too: one call, never the server
            raise self._processor_crashed("process()", error) from None
        try:
            results = check_batch_results(returned, len(batch), self.processor)
        except ProcessorMistake as mistake:
            log.error("session peer=%s: %s", self.peer, mistake)
            raise _Abort(Status.INTERNAL, str(mistake)) from None
        if self._metrics is not None:
            self._metrics.processed(len(batch), time.perf_counter() - started)
        # Every read of the pixels is done; only now may the client reuse the regions (M3).
        responses = [
            self.session.acknowledge(frame.sequence_number, inferences)
            for frame, inferences in zip(batch, results, strict=True)
        ]
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "session peer=%s acknowledged sample(s) %s with %s inference(s)",
                self.peer,
                ",".join(str(frame.sequence_number) for frame in batch),
                ",".join(str(len(inferences)) for inferences in results),
            )
        batch.clear()
        if self._arrivals is None or self._metrics is None:
            yield from responses
            return
        arrivals, self._arrivals = self._arrivals, []
        for response, arrived_at in zip(responses, arrivals, strict=True):
            self._metrics.answered(arrived_at)  # the moment it is handed to gRPC
            yield response

    def _processor_crashed(self, method: str, error: BaseException) -> _Abort:
        """Log a processor's exception once, with its traceback; the call ends INTERNAL."""
        message = (
            f"processor {processor_name(self.processor)} raised in {method}: "
            f"{type(error).__name__}: {error}"
        )
        log.error("session peer=%s: %s", self.peer, message, exc_info=error)
        return _Abort(Status.INTERNAL, message)

    def _receive(self, message: Response | Undecodable) -> DescriptorReceived | SampleReceived:
        if isinstance(message, Undecodable):
            raise _Abort(
                Status.INVALID_ARGUMENT,
                f"a request is not a valid MediaStreamMessage: {message.reason} (section 2)",
            )
        try:
            return self.session.receive(message)
        except RemoteProtocolError as error:
            raise _Abort(error.status, str(error)) from None

    def _frame(self, event: SampleReceived) -> Frame:
        assert self._info is not None
        data: bytes | memoryview
        if isinstance(event.content, ContentReference):
            assert self._shm is not None
            try:
                data = self._shm.region(event.content.offset, event.content.length)
            except SharedMemoryError as error:  # the peer shrank its file (M1, A3)
                raise _Abort(
                    error.status, f"media_sample.content_reference: {error} ({error.rule})"
                ) from None
        else:
            data = event.content
        frame = self._info.spec.frame
        if frame.encoding is not Encoding.RAW:
            # Judge the header before anyone decodes: a processor reading frame.data is
            # protected from a decompression bomb too (A3, H3).
            try:
                check_encoded_frame(data, frame)
            except ImageHeaderError as error:
                raise _Abort(Status.INVALID_ARGUMENT, f"media_sample content: {error}") from None
        return Frame(
            data,
            self._info.spec.frame,
            timestamp=event.timestamp,
            sequence_number=event.sequence_number,
            inferences=event.inferences,
        )

    def _close(self) -> None:
        if self._metrics is not None:
            self._metrics.closed()
        if self._info is not None:
            try:
                self.processor.close(self._info)
            except BaseException:  # SystemExit too: the session is over either way
                log.exception("processor %s close() failed", processor_name(self.processor))
        if self._shm is not None:
            self._shm.close()
            if self._server_metrics is not None:
                self._server_metrics.shared_memory_mapped(-self._shm.length)

    def log_end(self, end: SessionEnd) -> None:
        """One line per session, naming the status the client received (or would have)."""
        log.info(
            "session end peer=%s received=%d acknowledged=%d seconds=%.3f status=%s%s",
            self.peer,
            self.session.samples_received,
            self.session.samples_acknowledged,
            time.monotonic() - self._started,
            end.status.name,
            f": {end.message}" if end.message else "",
        )
