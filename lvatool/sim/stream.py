"""One simulated camera: a session that streams a video to an extension, as LVA does.

:class:`StreamRunner` performs the handshake (H2–H5), sends each prepared frame
embedded or through the shared buffer (E1, M1–M5), keeps at most ``max_in_flight``
samples unacknowledged, accepts acks late and in any order (Q4), frees a region only
when its ack arrives (M3) and bounds every wait: an ack that does not come within
``ack_timeout_s`` is counted as timed out, and an extension that acknowledges nothing
for that long ends the stream.

Nothing escapes :meth:`StreamRunner.run`: the extension's faults, the video's and our
own bugs all end the stream as a :class:`StreamFailure` of a kind the command maps to
its exit code, so a crash can never look like a clean run.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc.aio

from lvatool.protocol import (
    AckReceived,
    ContentReference,
    LocalProtocolError,
    ProtocolError,
    ReplyReceived,
    SharedMemoryTransfer,
    StreamSpec,
)
from lvatool.shm import RegionAllocator, SharedMemoryWriter
from lvatool.shm.writer import SharedMemoryCreateError
from lvatool.sim.aio_call import AsyncExtensionCall, open_async_channel, wait_for_async_channel
from lvatool.sim.call import CallEnded, CallError, ConnectOptions, ReaderCrashed
from lvatool.sim.decoder import DecodeEnded, PreparedFrame
from lvatool.sim.observe import (
    FrameRecord,
    FrameStatus,
    ObserverError,
    RunObserver,
    SentFrame,
)
from lvatool.sim.prepare import FramePreparer, ImageOptions
from lvatool.sim.publish import EventWriter
from lvatool.sim.shared_frames import FrameReader, SharedFrames
from lvatool.sim.source import VideoSource
from lvatool.sim.stats import StreamStats


@dataclass(frozen=True)
class StreamOptions:
    """How one stream behaves (see ``lvatool simulate --help`` for each)."""

    connect: ConnectOptions
    image: ImageOptions = field(default_factory=ImageOptions)
    shm_bytes: int | None = None
    on_full: str = "wait"
    realtime: bool = False
    max_fps: float | None = None
    max_in_flight: int = 8
    ack_timeout_s: float = 10.0
    extension_configuration: str = ""
    graph: tuple[str, str, str] | None = None
    timescale: int = 90_000

    def __post_init__(self) -> None:
        """Refuse values that would make a stream wait forever, before it starts.

        With no frame allowed in flight, or no time for an ack, a stream could never send
        or never give up; the command line's ranges refuse them, this refuses them for
        callers from Python.
        """
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {self.max_in_flight}")
        if not self.ack_timeout_s > 0:
            raise ValueError(f"ack_timeout_s must be positive, not {self.ack_timeout_s}")
        if self.on_full not in ("wait", "drop"):
            raise ValueError(f"on_full must be 'wait' or 'drop', not {self.on_full!r}")
        if self.max_fps is not None and not self.max_fps > 0:
            raise ValueError(f"max_fps must be positive, not {self.max_fps}")
        if self.shm_bytes is not None and self.shm_bytes <= 0:
            raise ValueError(f"shm_bytes must be positive, not {self.shm_bytes}")


class StreamFailure(Exception):
    """The stream ended early.

    ``kind``: connect, refused, violation, stalled, source, stopped (interrupted) or error
    (lvatool's own fault: a bug, or a local file it cannot write); ``details`` keeps the
    traceback of an unexpected exception, for ``--debug``.
    """

    def __init__(self, kind: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details


def internal_failure(error: BaseException) -> StreamFailure:
    """An unexpected exception as a failure: one sentence, the traceback kept aside."""
    return our_fault(f"{type(error).__name__}: {error}", "".join(traceback.format_exception(error)))


def our_fault(what: str, details: str | None) -> StreamFailure:
    """A failure on lvatool's side (exit 1, never blamed on the extension); ``details``
    is the traceback ``--debug`` prints."""
    return StreamFailure(
        "error", f"internal error in lvatool simulate, not the extension's fault: {what}", details
    )


def _buffer_failure(error: OSError) -> StreamFailure:
    """The shared buffer cannot be made: no transfer can be set up (exit 3, like connect)."""
    if error.strerror and str(error).startswith("[Errno"):
        where = f" {error.filename}" if error.filename else ""
        return StreamFailure(
            "connect", f"cannot create the shared buffer{where} for --shm: {error.strerror}"
        )
    return StreamFailure("connect", str(error))


@dataclass
class _Sent:
    sequence: int
    index: int
    sent_at: float
    region: int | None
    scheduled_at: float  # when it was due: its media time paced, else ``sent_at``
    time_s: float = 0.0  # media time
    timestamp: int = 0  # presentation timestamp sent (ticks)
    timed_out: bool = False


class StreamRunner:
    """Runs one session against the extension and records what happened.

    ``source`` is a video of its own (decoded for this stream alone) or a
    :class:`FrameReader` of frames decoded once for several streams; then whoever made
    the :class:`SharedFrames` starts them, after :attr:`connected` is set.
    ``schedule_offset_s`` shifts this stream's real-time schedule (staggered cameras).
    ``observers`` are told of every frame (:mod:`lvatool.sim.observe`), as stream
    number ``stream_index``, with times counted from ``origin`` (``time.monotonic()``).

    :meth:`run` is a coroutine: every stream of a run shares one event loop (see
    :mod:`lvatool.sim.aio_call` for why); ``asyncio.run(runner.run())`` runs one alone.
    """

    def __init__(
        self,
        options: StreamOptions,
        source: VideoSource | FrameReader,
        *,
        schedule_offset_s: float = 0.0,
        truth: list[str] | None = None,
        events: EventWriter | None = None,
        events_lock: threading.Lock | None = None,
        stop: threading.Event | None = None,
        stream_index: int = 0,
        observers: tuple[RunObserver, ...] = (),
        origin: float | None = None,
    ) -> None:
        self.options = options
        self.stream_index = stream_index
        self.observers = observers
        self.origin = time.monotonic() if origin is None else origin
        self.source = source
        self.schedule_offset_s = schedule_offset_s
        self.connected = threading.Event()  # handshake done, or the stream has ended
        self.truth = truth
        self.events = events
        self._events_lock = events_lock or threading.Lock()
        self.stop = stop or threading.Event()
        self.stats = StreamStats()
        self.failure: StreamFailure | None = None
        self._inflight: OrderedDict[int, _Sent] = OrderedDict()
        self._expired: dict[int, _Sent] = {}
        self._allocator: RegionAllocator | None = None
        self._call: AsyncExtensionCall | None = None
        self._ended: CallEnded | None = None
        self._last_progress = 0.0

    # -- the run -----------------------------------------------------------------------
    async def run(self) -> StreamStats:
        """Stream the whole source; failures are kept in ``self.failure``, never raised."""
        own: SharedFrames | None = None
        reader: FrameReader | None = None
        channel: grpc.aio.Channel | None = None
        shm: SharedMemoryWriter | None = None
        try:
            if isinstance(self.source, FrameReader):
                reader = self.source
            else:
                own = SharedFrames(
                    self.source,
                    self.options.image,
                    max_fps=self.options.max_fps,
                    paced=self.options.realtime,
                    as_bytes=not self.options.shm_bytes,
                )
                reader = own.reader()
            preparer = reader.preparer
            channel = self._open_channel()
            if self.options.shm_bytes:
                try:  # reserving the file faults it in: not on the loop's time
                    shm = await asyncio.to_thread(
                        SharedMemoryWriter,
                        self.options.shm_bytes,
                        requested_by=f"--shm {self.options.shm_bytes / (1 << 20):g}",
                    )
                except SharedMemoryCreateError as error:  # exit 3: no transfer can be set up
                    raise StreamFailure("connect", str(error)) from None
                self._allocator = RegionAllocator(shm.size)
            spec = StreamSpec(
                preparer.format,
                timescale=self.options.timescale,
                shared_memory=SharedMemoryTransfer(shm.name, shm.size) if shm else None,
                extension_configuration=self.options.extension_configuration,
                identifier="lvatool-simulate",
                graph=self.options.graph,
            )
            await self._connect(channel, spec)
            assert self._call is not None
            reader.on_ready(self._call.wake)
            self.connected.set()
            if own is not None:
                own.start()
            await self._stream(reader, preparer, shm)
            await self._finish()
        except StreamFailure as failure:
            self.failure = failure
        except OSError as error:
            # Before the allocator exists, only making the buffer does I/O that can fail.
            made = self._allocator is not None or not self.options.shm_bytes
            self.failure = internal_failure(error) if made else _buffer_failure(error)
        except Exception as error:  # a bug of ours must end the run as a failure, not "ok"
            self.failure = internal_failure(error)
        finally:
            self.connected.set()
            await self._clean_up(own, reader, channel, shm)
        return self.stats

    async def _clean_up(
        self,
        own: SharedFrames | None,
        reader: FrameReader | None,
        channel: grpc.aio.Channel | None,
        shm: SharedMemoryWriter | None,
    ) -> None:
        """Stop the stages, end the call, remove the buffer: whatever ended the stream."""
        if reader is not None:
            reader.close()  # hold no shared frame back from the other streams
            self.stats.frames_dropped_behind = reader.dropped
            self.stats.frames_dropped += reader.dropped
        if own is not None:
            await asyncio.to_thread(own.stop)  # joins its threads
            self.stats.frames_decoded = own.decoded
            self.stats.frames_sampled_out = own.sampled_out
            self.stats.warnings.extend(skipped_packets_warning(own.source))
        self._give_up_on_pending()
        try:
            if self._call is not None:
                if self._ended is None:
                    self._call.cancel()
                await self._call.finished()
                self.stats.warnings.extend(self._call.warnings)
        finally:  # the buffer goes whatever happened above
            if shm is not None:
                shm.close()
            if channel is not None:
                await channel.close()

    def _open_channel(self) -> grpc.aio.Channel:
        try:
            return open_async_channel(self.options.connect)
        except CallError as error:
            raise StreamFailure("connect", str(error)) from None

    async def _connect(self, channel: grpc.aio.Channel, spec: StreamSpec) -> None:
        options = self.options.connect
        try:
            await wait_for_async_channel(channel, options)
            self._call = AsyncExtensionCall(channel, spec, options)
            await self._call.handshake(options.connect_timeout_s)
        except CallError as error:
            kind = "connect" if error.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") else "refused"
            raise StreamFailure(kind, str(error)) from None
        except LocalProtocolError as error:  # our side broke a rule: our bug, not theirs
            raise internal_failure(error) from None
        except ProtocolError as error:
            raise StreamFailure("violation", f"the extension broke the protocol: {error}") from None
        except ReaderCrashed as error:
            raise internal_reader_failure(error) from None
        self._last_progress = time.monotonic()

    async def _stream(
        self, reader: FrameReader, preparer: FramePreparer, shm: SharedMemoryWriter | None
    ) -> None:
        call = self._call
        assert call is not None
        base_ticks = int(time.time() * self.options.timescale)  # F3: ticks since the epoch
        while not self.stop.is_set():
            item = await self._next_frame(reader)
            if isinstance(item, DecodeEnded):
                if item.crash is not None:
                    raise our_fault(str(item.error), item.crash)
                if item.error:
                    raise StreamFailure("source", item.error)
                return
            scheduled: float | None = None
            if self.options.realtime:  # an absolute schedule: no drift over a long run
                scheduled = reader.epoch + self.schedule_offset_s + item.time_s
                await self._pause_until(scheduled)
            await self._wait_until(lambda: len(self._inflight) < self.options.max_in_flight)
            size = preparer.sample_size(item.prepared)
            timestamp = base_ticks + round(item.time_s * self.options.timescale)
            content: bytes | ContentReference
            region = None
            if shm is not None:
                region = await self._place(size)
                if region is None:
                    self.stats.frames_dropped += 1
                    if self.observers:
                        self._tell_dropped(item, timestamp)
                    continue
                preparer.write(item.prepared, shm.region(region, size))
                content = ContentReference(region, size)
            else:
                content = preparer.to_bytes(item.prepared)
            now = time.monotonic()
            sent = _Sent(
                0,
                item.index,
                now,
                region,
                scheduled if scheduled is not None else now,
                item.time_s,
                timestamp,
            )
            if self.stats.first_sent_at is None:
                self.stats.first_sent_at = sent.sent_at
            sent.sequence = call.send(timestamp, content, tag=sent)
            self._inflight[sent.sequence] = sent
            self.stats.frames_sent += 1
            self.stats.bytes_sent += size
            if self.observers:
                self._tell_sent(sent, item, preparer)

    async def _next_frame(self, reader: FrameReader) -> PreparedFrame | DecodeEnded:
        """The next prepared frame; acknowledgements are serviced while it is awaited.

        One wait serves both: the reader wakes the call's event wait when a frame comes
        (:meth:`FrameReader.on_ready`), so no frame waits on a poll interval.
        """
        while not self.stop.is_set():
            item = reader.get(0.0)
            if item is not None:
                return item
            await self._service(0.05)
            self._expire(time.monotonic())
        raise StreamFailure("stopped", "interrupted")

    async def _place(self, size: int) -> int | None:
        """A region for a sample of ``size`` bytes, waiting or dropping when full (M5)."""
        assert self._allocator is not None
        if size > self._allocator.capacity:
            raise StreamFailure(
                "source",
                f"a {size}-byte frame does not fit the {self._allocator.capacity}-byte "
                "shared buffer; raise --shm",
            )
        allocator = self._allocator
        if self.options.on_full == "wait":
            timeout = self.options.ack_timeout_s
            await self._wait_until(
                lambda: allocator.fits(size), deadline=time.monotonic() + timeout
            )
            if not allocator.fits(size):
                raise StreamFailure(
                    "stalled",
                    f"the shared buffer stayed full for {timeout:g} s: the extension "
                    "acknowledged none of the frames occupying it",
                )
        return allocator.allocate(size)

    async def _finish(self) -> None:
        """Half-close, collect the outstanding acks, and see the call end OK (Q6)."""
        call = self._call
        assert call is not None
        call.close()
        await self._wait_until(lambda: not self._inflight, final=True)
        deadline = time.monotonic() + self.options.ack_timeout_s
        while self._ended is None and time.monotonic() < deadline:
            await self._service(deadline - time.monotonic())
        if self._ended is None:
            self.stats.warnings.add(
                f"the extension did not end the call within {self.options.ack_timeout_s:g} s "
                "of the half-close (Q6)"
            )

    # -- waiting and events ---------------------------------------------------------------
    async def _wait_until(
        self, check: Callable[[], bool], *, deadline: float | None = None, final: bool = False
    ) -> None:
        """Service events until ``check()`` holds or ``deadline`` passes; never unbounded."""
        while not check():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if self.stop.is_set():
                raise StreamFailure("stopped", "interrupted")
            self._expire(now, final=final)
            if check():
                return
            wait = 0.05
            if deadline is not None:
                wait = min(wait, deadline - now)
            await self._service(max(wait, 0.0))

    async def _pause_until(self, moment: float) -> None:
        """Service events until the monotonic clock reaches ``moment`` (real-time pacing)."""
        await self._wait_until(lambda: time.monotonic() >= moment, deadline=moment)

    async def _service(self, timeout_s: float) -> None:
        assert self._call is not None
        event = await self._call.next_event(timeout_s)
        while event is not None:
            self._handle(event)
            event = await self._call.next_event(0.0)

    def _handle(self, event: object) -> None:
        if isinstance(event, AckReceived):
            self._on_ack(event)
        elif isinstance(event, ProtocolError):
            raise StreamFailure("violation", f"the extension broke the protocol: {event}")
        elif isinstance(event, ReaderCrashed):
            raise internal_reader_failure(event)
        elif isinstance(event, CallEnded):
            self._ended = event
            pending = len(self._inflight) + len(self._expired)
            if event.code != "OK":
                kind = "connect" if event.code in ("UNAVAILABLE", "CANCELLED") else "refused"
                raise StreamFailure(
                    kind,
                    f"the extension ended the call: {event.code}: {event.details}".rstrip(": "),
                )
            if pending:
                raise StreamFailure(
                    "violation",
                    f"the extension ended the call with {pending} samples unacknowledged (rule Q6)",
                )
        elif isinstance(event, ReplyReceived):
            raise StreamFailure("violation", "a second reply descriptor (rule H2)")

    def _on_ack(self, event: AckReceived) -> None:
        sent: _Sent = event.tag
        now = time.monotonic()
        self._last_progress = now
        self._inflight.pop(sent.sequence, None)
        self._expired.pop(sent.sequence, None)
        if sent.region is not None and self._allocator is not None:
            self._allocator.free(sent.region)  # only now may the region be reused (M3)
        self.stats.warnings.extend(event.warnings)
        if sent.timed_out:
            self.stats.late_acks += 1  # its record already said "timed_out"
            return
        stats = self.stats
        stats.frames_acked += 1
        stats.last_acked_at = now
        stats.latency.add(1000 * (now - sent.scheduled_at))
        stats.service.add(1000 * (now - sent.sent_at))
        if event.inferences:
            stats.frames_with_inferences += 1
        label = None  # the frame's label: its first classification or entity tag
        for inference in event.inferences:
            kind = inference.WhichOneof("value")
            if kind in ("classification", "entity"):
                tag = getattr(inference, kind).tag.value
                stats.labels[tag] += 1
                label = label or tag
        if self.truth:
            stats.truth_compared += 1
            if label == self._truth_of(sent.index):
                stats.truth_matched += 1
        if self.observers:
            self._tell_done(sent, "acked", now, tuple(event.inferences), label)
        if self.events is not None:
            try:
                with self._events_lock:
                    self.events.write(event.timestamp, event.inferences)
            except OSError as error:
                raise StreamFailure(
                    "error", f"cannot write the --output file: {error.strerror or error}"
                ) from None

    def _expire(self, now: float, *, final: bool = False) -> None:
        """Count acks overdue by ``ack_timeout_s`` as timed out; detect a silent extension.

        A sample that times out with no acknowledgement of anything since it was sent
        means the extension has stopped answering: the stream ends rather than wait
        ``ack_timeout_s`` once more for every frame left in the video.
        """
        timeout = self.options.ack_timeout_s
        stalled = False
        while self._inflight:
            sequence, sent = next(iter(self._inflight.items()))
            if now - sent.sent_at < timeout:
                break
            sent.timed_out = True
            self.stats.frames_timed_out += 1
            if self.observers:
                self._tell_done(sent, "timed_out")
            del self._inflight[sequence]
            self._expired[sequence] = sent
            stalled = stalled or self._last_progress <= sent.sent_at
        if stalled and not final:
            self._give_up_on_pending()
            raise StreamFailure(
                "stalled",
                f"the extension acknowledged nothing for {timeout:g} s "
                f"({self.stats.frames_timed_out} frames timed out)",
            )

    def _give_up_on_pending(self) -> None:
        """Stop waiting for what is in flight: timed out, or interrupted by a stop."""
        interrupted = self.stop.is_set()
        for sent in self._inflight.values():
            sent.timed_out = True
            if interrupted:
                self.stats.frames_interrupted += 1
            else:
                self.stats.frames_timed_out += 1
            if self.observers:
                self._tell_done(sent, "interrupted" if interrupted else "timed_out")
        self._expired.update(self._inflight)
        self._inflight.clear()

    # -- observers -----------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Frames sent and not yet acknowledged (nor timed out)."""
        return len(self._inflight)

    @property
    def shm_bytes_in_use(self) -> int:
        """Bytes of the shared buffer held by frames awaiting their acks."""
        return self._allocator.used if self._allocator is not None else 0

    def _truth_of(self, index: int) -> str | None:
        return self.truth[index % len(self.truth)] if self.truth else None

    def _tell(self, call: Callable[[RunObserver], None]) -> None:
        """Call every observer; one that cannot go on ends the stream with its reason."""
        for observer in self.observers:
            try:
                call(observer)
            except ObserverError as error:
                self.observers = ()  # told once; the clean-up tells it nothing more
                raise StreamFailure("error", str(error)) from None

    def _tell_sent(self, sent: _Sent, item: PreparedFrame, preparer: FramePreparer) -> None:
        frame = SentFrame(
            self.stream_index,
            sent.index,
            sent.sequence,
            sent.time_s,
            sent.sent_at - self.origin,
            item.prepared,
            preparer.format,
        )
        self._tell(lambda observer: observer.frame_sent(frame))

    def _tell_dropped(self, item: PreparedFrame, timestamp: int) -> None:
        record = FrameRecord(
            stream=self.stream_index,
            index=item.index,
            time_s=item.time_s,
            timestamp=timestamp,
            sequence=None,
            sent_s=None,
            acked_s=None,
            latency_ms=None,
            service_ms=None,
            status="dropped",
            truth=self._truth_of(item.index),
        )
        self._tell(lambda observer: observer.frame_done(record))

    def _tell_done(
        self,
        sent: _Sent,
        status: FrameStatus,
        acked_at: float | None = None,
        inferences: tuple[Any, ...] = (),
        label: str | None = None,
    ) -> None:
        record = FrameRecord(
            stream=self.stream_index,
            index=sent.index,
            time_s=sent.time_s,
            timestamp=sent.timestamp,
            sequence=sent.sequence,
            sent_s=sent.sent_at - self.origin,
            acked_s=None if acked_at is None else acked_at - self.origin,
            latency_ms=None if acked_at is None else 1000 * (acked_at - sent.scheduled_at),
            service_ms=None if acked_at is None else 1000 * (acked_at - sent.sent_at),
            status=status,
            inferences=inferences,
            truth=self._truth_of(sent.index),
            label=label,
        )
        self._tell(lambda observer: observer.frame_done(record))


def internal_reader_failure(error: ReaderCrashed) -> StreamFailure:
    return our_fault(str(error), error.details)


def skipped_packets_warning(source: VideoSource) -> list[str]:
    """The warning for packets of ``source`` that did not decode, if any did not."""
    skipped = source.skipped_packets
    if not skipped:
        return []
    return [f"skipped {skipped} undecodable packets of {source.location} (corrupt video data)"]
