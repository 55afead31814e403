"""Extensions that each break exactly one rule, to prove that every server check can fail.

Like gRPC's interop server, there is one configurable servicer: without a fault it is a
correct dark/light extension (R4) built on :class:`~lvatool.protocol.ServerSession`, and a
:class:`Fault` switches exactly one behaviour off (the rule it breaks is in the comment).
Each :class:`MutantServer` is a real gRPC server on a free loopback port, stopped when its
``with`` block ends. Every wait inside a call is bounded: a silent mutant stays silent at
most :data:`SILENCE_LIMIT_S`, or until the client or the server ends the call.

A :class:`Quirk` is the opposite of a fault: a legal but unusual behaviour (answering
late, out of order, in batches, serving one format only) that a checker must pass. The
quirky servers are the negative controls of the conformance tests.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import json
import mmap
import os
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import NoReturn

import grpc

from lvatool.contract import extension_pb2, extension_pb2_grpc, inferencing_pb2, media_pb2
from lvatool.grpc_options import channel_options
from lvatool.media import Encoding, PixelFormat, luma_label
from lvatool.protocol import (
    AUTH_HEADER,
    ContentReference,
    RemoteProtocolError,
    SampleReceived,
    ServerSession,
    basic_credentials,
)
from lvatool.server.processor import Frame, InvalidFrameError, classification
from lvatool.server.pump import EndOfStream, RequestPump
from lvatool.shm import SharedMemoryError, SharedMemoryReader

Message = extension_pb2.MediaStreamMessage
Inference = inferencing_pb2.Inference

NAME = "mutant"
SILENCE_LIMIT_S = 30.0  # the longest any mutant keeps a call open without a word
WAIT_S = 2.0  # the longest the racy mutants (S06, S12) wait for what they provoke
SILENT_PIXEL_FORMAT = PixelFormat.RGB565LE
DIES_AFTER = 20  # DIES_MID_STREAM: samples answered before the "crash"


class Fault(enum.StrEnum):
    """One broken behaviour each; the value is the readable name used in test ids."""

    NONE = "correct"
    DESCRIPTOR_ACKS_ZERO = "descriptor-acks-0"  # H4: the reply must ack the descriptor
    DESCRIPTOR_VIDEO_FORMAT = "descriptor-video-format"  # H4: no video format in the reply
    SKIPS_A_NUMBER = "skips-a-number"  # Q1: responses 2, 4, 5 …
    NUMBERS_ZERO = "numbers-zero"  # Q5: every message numbered 0 (tolerated)
    DESCRIPTOR_NUMBERED_ZERO = "descriptor-numbered-0"  # Q5: replies 0, 1, 2 … (tolerated)
    ACKS_TWICE = "acks-twice"  # Q2: each sample acknowledged twice
    NO_TIMESTAMP_ECHO = "no-timestamp-echo"  # Q2 [decision]: response timestamps left 0
    RESULTS_OF_PREVIOUS_FRAME = "results-of-previous-frame"  # Q3: results one frame late
    READS_AFTER_ACK = "reads-after-ack"  # M3: acks a region on arrival, reads it after
    SILENT_ON_JPEG = "silent-on-jpeg"  # H6: never answers a JPG descriptor
    SILENT_ON_PIXEL_FORMAT = "silent-on-rgb565le"  # H6: never answers one RAW format
    DEFAULT_RECEIVE_LIMIT = "default-receive-limit"  # E2: gRPC's 4 MiB receive limit
    ACKS_OUTSIDE_REFERENCE = "acks-outside-reference"  # M4: acks a reference past the end
    OPENS_ANY_HANDLE = "opens-any-handle"  # M4: opens /dev/shm/<handle_name>, '..' and all
    SHARED_STATE = "shared-state"  # H1: one result slot for all sessions
    IGNORES_HALF_CLOSE = "ignores-half-close"  # Q6: never ends the call after a half-close
    DROPS_PENDING_ON_HALF_CLOSE = "drops-pending-on-half-close"  # Q6: ends OK, one unacked
    WEDGED_AFTER_CANCEL = "wedged-after-cancel"  # A3: refuses every call after a cancel
    IGNORES_CREDENTIALS = "ignores-credentials"  # A1: serves any or no credentials
    CONFIDENCE_OUT_OF_RANGE = "confidence-1.5"  # R2: tag confidence 1.5
    TYPE_MISMATCH = "type-mismatch"  # R1: type ENTITY on a classification value
    NEVER_ACKS = "never-acks"  # Q2: replies to the descriptor, then silence
    INVERTED_LABELS = "inverted-labels"  # R4: dark for light and light for dark
    SAMPLE_FIRST = "sample-first"  # H2: answers the descriptor with a sample
    DIES_MID_STREAM = "dies-mid-stream"  # ends every call UNAVAILABLE after 20 samples
    RESULTS_LAG_BY_ONE = "results-lag-by-one"  # Q3: frame N's results on N+1's ack, none alone
    CRASHES_ON_FRAMES = "crashes-on-frames"  # H6: accepts any format, UNKNOWN at each frame
    DECODES_JPEG_ONLY = "decodes-jpeg-only"  # H6: accepts any format, UNKNOWN on non-JPEG
    THREE_WORKERS = "three-workers"  # H1: a pool of 3 workers; the 4th session just waits
    NEEDS_CONFIGURATION = "needs-configuration"  # serves nothing without a pipeline name
    SERVES_FIRST_SESSION_ONLY = "serves-first-session-only"  # H4: refuses later sessions
    ANSWERS_FIRST_SESSION_ONLY = "answers-first-session-only"  # Q2: later sessions crash
    SECOND_DESCRIPTOR = "second-descriptor"  # H2: a descriptor again after the first ack
    SHARED_MEMORY_CRASHES = "shm-crashes"  # M1: INTERNAL for any shared buffer
    BOX_OUT_OF_RANGE = "box-out-of-range"  # R2: an entity box that runs past the right edge
    NO_VALUE = "no-value"  # R3: an inference with no value LVA could publish
    WEDGED_AFTER_BAD_INPUT = "wedged-after-bad-input"  # A3: refuses all after an INVALID_ARGUMENT
    SILENT = "silent"  # never replies to a descriptor
    SILENT_AFTER_REPLY = "silent-after-reply"  # replies, then never says anything again


class Quirk(enum.StrEnum):
    """Legal but unusual behaviours, each of which a checker must pass (Q4, H6)."""

    NONE = "plain"
    LAGGING = "lagging"  # answers each sample when the next arrives, the last at half-close
    OUT_OF_ORDER = "out-of-order"  # answers samples in pairs, the second first
    JPEG_ONLY = "jpeg-only"  # processes JPG; refuses every other format with UNIMPLEMENTED
    BATCHES_OF_4 = "batches-of-4"  # answers four samples at a time, the rest at half-close


#: The extension configuration NEEDS_CONFIGURATION asks for.
CONFIGURATION = json.dumps({"pipeline": "darklight"})
UNKNOWN_DETAILS = "cannot reshape array of size 57600 into shape (416,416,3)"


class _Ended(Exception):
    """The call is over (cancelled, or ended by us); nothing more to send."""


class MutantServicer(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    """A dark/light extension with at most one :class:`Fault` and one :class:`Quirk`."""

    def __init__(
        self,
        fault: Fault = Fault.NONE,
        credentials: tuple[str, str] | None = None,
        quirk: Quirk = Quirk.NONE,
    ):
        self.fault = fault
        self.quirk = quirk
        self.expected_auth = basic_credentials(*credentials) if credentials is not None else None
        self.wedged = threading.Event()  # WEDGED_AFTER_CANCEL: set once a call was cancelled
        # WEDGED_AFTER_CANCEL: contexts of calls in progress. A new call wedges the servicer
        # when one of them is no longer active: gRPC saw the client's cancel before this
        # call arrived, even if that call's own thread has not noticed it yet (under load
        # it may not have, and the mutant would serve a session it should refuse).
        self._in_progress: list[grpc.ServicerContext] = []
        self._lock = threading.Condition()
        self._calls = 0  # calls begun, for the *_FIRST_SESSION_ONLY faults
        self._active = 0  # calls in progress, for SHARED_STATE
        self._shared_result: list[Inference] = []  # SHARED_STATE: one slot for every session
        self._shared_generation = 0

    def ProcessMediaStream(
        self, request_iterator: Iterator[Message], context: grpc.ServicerContext
    ) -> Iterator[Message]:
        if self.fault is Fault.WEDGED_AFTER_CANCEL:
            with self._lock:
                if any(not earlier.is_active() for earlier in self._in_progress):
                    self.wedged.set()
        if self.wedged.is_set():
            context.abort(grpc.StatusCode.UNAVAILABLE, "wedged since an earlier call")
        if self.expected_auth is not None and self.fault is not Fault.IGNORES_CREDENTIALS:
            supplied = dict(context.invocation_metadata() or ()).get(AUTH_HEADER)
            if not isinstance(supplied, str) or not hmac.compare_digest(
                supplied.encode(), self.expected_auth.encode()
            ):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "x-ms-authentication (A1)")
        with self._lock:
            self._calls += 1
            self._active += 1
            first = self._calls == 1
            self._in_progress.append(context)
        call = _MutantCall(self, request_iterator, context, first_call=first)
        try:
            yield from call.run()
        except _Ended:
            return
        except GeneratorExit:  # gRPC dropped the call while a response was on its way
            call.cancelled = True
            raise
        finally:
            with self._lock:
                self._active -= 1
                if not call.cancelled and context in self._in_progress:
                    self._in_progress.remove(context)
            call.close()
            if self.fault is Fault.WEDGED_AFTER_CANCEL and call.cancelled:
                self.wedged.set()

    def ending(self, context: grpc.ServicerContext) -> None:
        """The mutant itself ends this call: it must not count as one the client cancelled."""
        with self._lock:
            if context in self._in_progress:
                self._in_progress.remove(context)

    def share(self, result: list[Inference]) -> list[Inference]:
        """SHARED_STATE: store this session's result in the servicer, read it back later.

        While other sessions are active it waits (bounded) until one of them has
        overwritten the slot, so concurrent sessions get each other's results.
        """
        with self._lock:
            self._shared_result = result
            self._shared_generation += 1
            mine = self._shared_generation
            if self._active > 1:
                self._lock.wait_for(lambda: self._shared_generation != mine, WAIT_S)
            return self._shared_result


class _RawMapping:
    """OPENS_ANY_HANDLE: ``/dev/shm/<name>`` opened as given, '..' and '/' included."""

    def __init__(self, name: str, length: int) -> None:
        fd = os.open(os.path.join("/dev/shm", name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            self._map = mmap.mmap(fd, length, prot=mmap.PROT_READ)
        finally:
            os.close(fd)

    def region(self, offset: int, length: int) -> memoryview:
        return memoryview(self._map)[offset : offset + length]

    def close(self) -> None:
        with contextlib.suppress(BufferError):
            self._map.close()


class _MutantCall:
    """One session of a :class:`MutantServicer`."""

    def __init__(
        self,
        servicer: MutantServicer,
        requests: Iterator[Message],
        context: grpc.ServicerContext,
        *,
        first_call: bool,
    ) -> None:
        self.fault = servicer.fault
        self.quirk = servicer.quirk
        self.servicer = servicer
        self.context = context
        self.first_call = first_call
        self.session = ServerSession(NAME)
        self.pump = RequestPump(requests)
        self.reader: SharedMemoryReader | _RawMapping | None = None
        self.sent = 0
        self.cancelled = False
        self.finished = threading.Event()
        if not context.add_callback(self.finished.set):
            self.finished.set()

    # -- the session ---------------------------------------------------------------
    def run(self) -> Iterator[Message]:
        yield from self._handshake()
        if self.fault is Fault.SILENT_AFTER_REPLY:
            self._stay_silent()
        late: list[Inference] = []  # READS_AFTER_ACK: results of the last region read late
        previous: list[Inference] | None = None  # RESULTS_OF_PREVIOUS_FRAME, _LAG_BY_ONE
        held: list[tuple[int, list[Inference]]] = []  # answered later: quirks, DROPS_PENDING
        while True:
            message = self._next()
            if message is None:  # the client half-closed (Q6)
                self.session.end_of_requests()
                if self.fault is Fault.IGNORES_HALF_CLOSE:
                    self._stay_silent()
                if self.fault is Fault.DROPS_PENDING_ON_HALF_CLOSE:
                    held = held[:-1]  # the last sample is never acknowledged
                for reply in self._release(held):
                    yield reply
                return
            try:
                event = self.session.receive(message)
            except RemoteProtocolError as error:
                if self.fault is Fault.ACKS_OUTSIDE_REFERENCE and error.rule == "M4":
                    sample = extension_pb2.MediaSample(timestamp=message.media_sample.timestamp)
                    yield self._out(
                        Message(ack_sequence_number=message.sequence_number, media_sample=sample)
                    )
                    continue
                self._abort(grpc.StatusCode[error.status.name], str(error))
            assert isinstance(event, SampleReceived)
            if self.fault is Fault.NEVER_ACKS:
                continue
            if self.fault is Fault.DIES_MID_STREAM and self.session.samples_received > DIES_AFTER:
                self._abort(grpc.StatusCode.UNAVAILABLE, "the extension crashed")
            if self.fault is Fault.CRASHES_ON_FRAMES or (
                self.fault is Fault.ANSWERS_FIRST_SESSION_ONLY and not self.first_call
            ):
                self._abort(grpc.StatusCode.UNKNOWN, UNKNOWN_DETAILS)
            spec = self.session.spec
            assert spec is not None
            if self.fault is Fault.DECODES_JPEG_ONLY and spec.frame.encoding is not Encoding.JPG:
                self._abort(grpc.StatusCode.UNKNOWN, "Can't decode received bytes")
            if self.fault is Fault.READS_AFTER_ACK and isinstance(event.content, ContentReference):
                before = self._digest(event.content)
                yield self._ack(event.sequence_number, late)  # the region is the client's now
                self._wait_for_rewrite(event.content, before)
                late = self._infer(event)  # … and read anyway (M3)
                continue
            result = self._infer(event)
            if self.fault is Fault.RESULTS_OF_PREVIOUS_FRAME:
                previous, result = result, previous if previous is not None else result
            if self.fault is Fault.RESULTS_LAG_BY_ONE:
                previous, result = result, previous or []
            if self.fault is Fault.SHARED_STATE:
                result = self.servicer.share(result)
            held.append((event.sequence_number, result))
            for reply in self._release(held, ready=self._ready(held)):
                yield reply
                if self.fault is Fault.ACKS_TWICE:
                    again = Message()
                    again.CopyFrom(reply)
                    yield self._out(again)

    def _ready(self, held: list[tuple[int, list[Inference]]]) -> int:
        """How many held samples to answer now that one more arrived (Q4 allows holding)."""
        if self.quirk is Quirk.LAGGING or self.fault is Fault.DROPS_PENDING_ON_HALF_CLOSE:
            return len(held) - 1  # all but the newest
        if self.quirk is Quirk.OUT_OF_ORDER:
            return 2 if len(held) >= 2 else 0
        if self.quirk is Quirk.BATCHES_OF_4:
            return 4 if len(held) >= 4 else 0
        return len(held)

    def _release(
        self, held: list[tuple[int, list[Inference]]], ready: int | None = None
    ) -> Iterator[Message]:
        """Answer the first ``ready`` held samples (all by default), removing them."""
        count = len(held) if ready is None else ready
        chosen = held[:count]
        del held[:count]
        if self.quirk is Quirk.OUT_OF_ORDER:
            chosen.reverse()
        for sequence_number, result in chosen:
            yield self._ack(sequence_number, result)
            if self.fault is Fault.SECOND_DESCRIPTOR and self.session.samples_acknowledged == 1:
                descriptor = extension_pb2.MediaStreamDescriptor(extension_identifier=NAME)
                yield self._out(Message(media_stream_descriptor=descriptor))

    def _handshake(self) -> Iterator[Message]:
        first = self._next()
        if first is None:
            self._abort(grpc.StatusCode.INVALID_ARGUMENT, "no media_stream_descriptor (H2)")
        if self.fault is Fault.SILENT:
            self._stay_silent()
        if self.fault is Fault.SERVES_FIRST_SESSION_ONLY and not self.first_call:
            self._abort(grpc.StatusCode.UNAVAILABLE, "the model is reloading")
        handle = ""
        if self.fault is Fault.OPENS_ANY_HANDLE and first.media_stream_descriptor.HasField(
            "shared_memory_buffer_transfer_properties"
        ):
            # Trust the name: open what it names, and give the session a tame one.
            properties = first.media_stream_descriptor.shared_memory_buffer_transfer_properties
            handle = properties.handle_name
            properties.handle_name = "trusted"
        try:
            self.session.receive(first)
        except RemoteProtocolError as error:
            self._abort(grpc.StatusCode[error.status.name], str(error))
        if self.fault is Fault.SAMPLE_FIRST:
            yield self._out(
                Message(ack_sequence_number=first.sequence_number, media_sample={})  # type: ignore[arg-type]
            )
            self._stay_silent()
        spec = self.session.spec
        assert spec is not None
        frame = spec.frame
        if self.fault is Fault.NEEDS_CONFIGURATION and spec.extension_configuration != (
            CONFIGURATION
        ):
            self._abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"extension_configuration must be {CONFIGURATION}",
            )
        if self.quirk is Quirk.JPEG_ONLY and frame.encoding is not Encoding.JPG:
            self._abort(grpc.StatusCode.UNIMPLEMENTED, "only JPG frames are processed")
        if (self.fault is Fault.SILENT_ON_JPEG and frame.encoding is Encoding.JPG) or (
            self.fault is Fault.SILENT_ON_PIXEL_FORMAT
            and frame.encoding is Encoding.RAW
            and frame.pixel_format is SILENT_PIXEL_FORMAT
        ):
            self._stay_silent()
        if spec.shared_memory is not None:
            if self.fault is Fault.SHARED_MEMORY_CRASHES:
                self._abort(grpc.StatusCode.INTERNAL, "Exception calling application: mmap")
            try:
                if handle:
                    self.reader = _RawMapping(handle, spec.shared_memory.length_bytes)
                else:
                    self.reader = SharedMemoryReader(
                        spec.shared_memory.handle_name, spec.shared_memory.length_bytes
                    )
            except (SharedMemoryError, OSError, ValueError) as error:
                self._abort(grpc.StatusCode.FAILED_PRECONDITION, f"{error} (M1)")
        reply = self.session.reply_descriptor()
        if self.fault is Fault.DESCRIPTOR_ACKS_ZERO:
            reply.ack_sequence_number = 0
        if self.fault is Fault.DESCRIPTOR_VIDEO_FORMAT:
            media = reply.media_stream_descriptor.media_descriptor
            media.video_frame_sample_format.CopyFrom(
                media_pb2.VideoFrameSampleFormat(encoding=media_pb2.VideoFrameSampleFormat.RAW)
            )
        yield self._out(reply)

    # -- results -------------------------------------------------------------------
    def _infer(self, event: SampleReceived) -> list[Inference]:
        """The reference classifier (R4), or one of its faulty variants."""
        spec = self.session.spec
        assert spec is not None
        if isinstance(event.content, ContentReference):
            assert self.reader is not None
            data: bytes | memoryview = self.reader.region(
                event.content.offset, event.content.length
            )
        else:
            data = event.content
        try:
            label = luma_label(Frame(data, spec.frame).mean_luma())
        except InvalidFrameError as error:
            self._abort(grpc.StatusCode.INVALID_ARGUMENT, f"media_sample content: {error}")
        if self.fault is Fault.INVERTED_LABELS:
            label = {"dark": "light", "light": "dark"}[label]
        confidence = 1.5 if self.fault is Fault.CONFIDENCE_OUT_OF_RANGE else 1.0
        inference = classification(label, confidence)
        if self.fault is Fault.TYPE_MISMATCH:
            inference.type = Inference.InferenceType.ENTITY
        if self.fault is Fault.BOX_OUT_OF_RANGE:
            entity = Inference(type=Inference.InferenceType.ENTITY)
            entity.entity.tag.value = "car"
            entity.entity.tag.confidence = 0.9
            entity.entity.box.l, entity.entity.box.t = 0.8, 0.1
            entity.entity.box.w, entity.entity.box.h = 0.5, 0.2
            return [inference, entity]
        if self.fault is Fault.NO_VALUE:
            return [inference, Inference(subtype="empty")]
        return [inference]

    def _digest(self, content: ContentReference) -> bytes:
        assert self.reader is not None
        return hashlib.sha256(self.reader.region(content.offset, content.length)).digest()

    def _wait_for_rewrite(self, content: ContentReference, before: bytes) -> None:
        """READS_AFTER_ACK: poll (bounded) until the client reuses the acknowledged region."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not self.finished.is_set():
            if self._digest(content) != before:
                return
            time.sleep(0.001)

    # -- messages out --------------------------------------------------------------
    def _ack(self, sequence_number: int, inferences: list[Inference]) -> Message:
        reply = self.session.acknowledge(sequence_number, inferences)
        if self.fault is Fault.NO_TIMESTAMP_ECHO:
            reply.media_sample.timestamp = 0
        return self._out(reply)

    def _out(self, message: Message) -> Message:
        """Number an outgoing message: 1, 2, 3 … unless the fault says otherwise (Q1)."""
        self.sent += 1
        if self.fault is Fault.SKIPS_A_NUMBER and self.sent == 3:
            self.sent += 1
        number = self.sent
        if self.fault is Fault.NUMBERS_ZERO:
            number = 0
        if self.fault is Fault.DESCRIPTOR_NUMBERED_ZERO:
            number = self.sent - 1
        message.sequence_number = number
        return message

    # -- waiting, bounded ----------------------------------------------------------
    def _next(self) -> Message | None:
        """The next request, or None on the client's half-close; raises when the call ends."""
        deadline = time.monotonic() + SILENCE_LIMIT_S
        while time.monotonic() < deadline:
            item = self.pump.get(0.1)
            if isinstance(item, EndOfStream):
                if item.error is not None:
                    self.cancelled = True
                    raise _Ended
                return None
            if item is not None:
                return item
            if self.finished.is_set():
                self.cancelled = True
                raise _Ended
        self._abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the client went quiet")

    def _stay_silent(self) -> None:
        """Say nothing until the call ends or SILENCE_LIMIT_S passes, then end it."""
        if self.finished.wait(SILENCE_LIMIT_S):
            self.cancelled = True
            raise _Ended
        self._abort(grpc.StatusCode.DEADLINE_EXCEEDED, "silent for too long")

    def _abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        if self.fault is Fault.WEDGED_AFTER_BAD_INPUT and code is grpc.StatusCode.INVALID_ARGUMENT:
            self.servicer.wedged.set()
        self.servicer.ending(self.context)  # ended by us: not a cancelled call
        self.context.abort(code, details)
        raise _Ended  # not reached: abort raises

    def close(self) -> None:
        self.pump.stop()
        if self.reader is not None:
            self.reader.close()


class MutantServer:
    """A :class:`MutantServicer` on a free loopback port; stops when the ``with`` ends."""

    def __init__(
        self,
        fault: Fault = Fault.NONE,
        credentials: tuple[str, str] | None = None,
        quirk: Quirk = Quirk.NONE,
    ):
        self.fault = fault
        self.servicer = MutantServicer(fault, credentials, quirk)
        limits = [] if fault is Fault.DEFAULT_RECEIVE_LIMIT else channel_options(64)
        workers = 3 if fault is Fault.THREE_WORKERS else 64
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=limits)
        extension_pb2_grpc.add_MediaGraphExtensionServicer_to_server(self.servicer, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> MutantServer:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(0).wait(5.0)
