"""One camera's session with an extension, each frame's round trip reported as it ends.

A :class:`CameraSession` is one ``ProcessMediaStream`` call driven by lvatool's protocol
core (:class:`~lvatool.sim.call.ExtensionCall`): the handshake (H2–H5), then samples
embedded or through this camera's own shared buffer (M1–M5), acknowledged late and in
any order (Q4). It knows nothing of Locust: every outcome goes to a ``report`` callback
as ``(kind, name, response_time_ms, length, error)``, and the Locust user turns those into
Locust requests. So it can be driven and tested from plain Python too.

Who runs what: the caller's thread opens the session and sends frames
(:meth:`CameraSession.send_next` waits, bounded, for a free in-flight slot); a collector
thread takes each acknowledgement the moment it arrives, so a frame's round trip is
measured from its send to its ack's arrival and not to whenever the sender next looks.
Under Locust, gevent's monkey-patching makes both of them greenlets.

A frame that gets no ack within ``ack_timeout_s`` is reported failed; when nothing at all
has been acknowledged since it was sent, the extension has stopped answering and the
session ends (the user opens a new one), as ``lvatool simulate`` ends a stalled stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from lvatool.loadtest.clip import SharedClip
from lvatool.loadtest.settings import CameraSettings
from lvatool.protocol import (
    AckReceived,
    ContentReference,
    ProtocolError,
    ReplyReceived,
    SharedMemoryTransfer,
    StreamSpec,
)
from lvatool.shm import RegionAllocator, SharedMemoryCreateError, SharedMemoryWriter
from lvatool.sim.call import (
    CallEnded,
    CallError,
    ExtensionCall,
    ReaderCrashed,
    open_channel,
    wait_for_channel,
)
from lvatool.text import visible

#: ``kind`` of a report: one frame's round trip, or the opening of a session.
FRAME, HANDSHAKE = "frame", "handshake"
_MIB = 1 << 20
_TIMESCALE = 90_000  # F3: ticks per second, counted from the Unix epoch

Report = Callable[[str, str, float, int, "BaseException | None"], None]


class FrameFailed(Exception):
    """A frame or a session start that failed; ``str()`` names the status or the rule.

    Messages carry no frame numbers, so Locust's failure table groups them by cause.
    They often quote the extension (a status's details), and Locust prints them on the
    user's terminal as they are: control characters are escaped here, once for all.
    """

    def __init__(self, message: str) -> None:
        super().__init__(visible(message))


@dataclass
class _InFlight:
    sent_at: float
    size: int
    region: int | None


class CameraSession:
    """A live session: open it, send frames, close it; it reports every round trip."""

    def __init__(self, settings: CameraSettings, clip: SharedClip, report: Report) -> None:
        self.settings = settings
        self.clip = clip
        self.report = report
        self.name = settings.request_name(clip.format.width, clip.format.height)
        self.ended = threading.Event()
        self._cond = threading.Condition()
        self._inflight: dict[int, _InFlight] = {}
        # Regions of timed-out frames: held until their ack after all arrives (M3).
        self._late_regions: dict[int, int] = {}
        self._last_ack = 0.0
        self._next_index = 0
        self._channel: grpc.Channel | None = None
        self._call: ExtensionCall | None = None
        self._shm: SharedMemoryWriter | None = None
        self._allocator: RegionAllocator | None = None
        self._collector: threading.Thread | None = None

    # -- opening -------------------------------------------------------------------------
    def open(self) -> bool:
        """Connect and complete the handshake; report it; False (and ended) if it failed."""
        started = time.monotonic()
        try:
            self._open()
        except Exception as error:
            self._release()
            self.ended.set()
            self.report(HANDSHAKE, self.name, _ms_since(started), 0, _as_failure(error))
            return False
        self.report(HANDSHAKE, self.name, _ms_since(started), 0, None)
        self._last_ack = time.monotonic()
        self._collector = threading.Thread(
            target=self._collect, name="lvatool-loadtest-collector", daemon=True
        )
        self._collector.start()
        return True

    def _open(self) -> None:
        settings = self.settings
        shared: SharedMemoryTransfer | None = None
        if settings.shm_mib:
            size = int(settings.shm_mib * _MIB)
            if self.clip.largest > size:
                raise FrameFailed(
                    f"a {self.clip.largest}-byte frame does not fit the {size}-byte shared "
                    "buffer: raise --lva-shm"
                )
            self._shm = SharedMemoryWriter(size, requested_by=f"--lva-shm {settings.shm_mib:g}")
            self._allocator = RegionAllocator(self._shm.size)
            shared = SharedMemoryTransfer(self._shm.name, self._shm.size)
        spec = StreamSpec(
            self.clip.format,
            timescale=_TIMESCALE,
            shared_memory=shared,
            extension_configuration=settings.extension_configuration,
            identifier="lvatool-locust",
        )
        connect = settings.connect()
        self._channel = open_channel(connect)
        wait_for_channel(self._channel, connect)
        self._call = ExtensionCall(self._channel, spec, connect)
        self._call.handshake(settings.connect_timeout_s)

    # -- sending -------------------------------------------------------------------------
    def send_next(self) -> bool:
        """Send the clip's next frame; False when the session has ended.

        Waits at most ``ack_timeout_s`` for an in-flight slot (and shared-buffer room);
        the collector meanwhile expires overdue frames, so the wait always ends.
        """
        call = self._call
        if call is None or self.ended.is_set():
            return False
        data = self.clip.frame(self._next_index)
        deadline = time.monotonic() + self.settings.ack_timeout_s
        with self._cond:
            while not self.ended.is_set() and not self._room_for(len(data)):
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail_frame(
                        len(data), "no room to send: the extension acknowledged too little "
                        f"within {self.settings.ack_timeout_s:g} s"
                    )  # fmt: skip
                    return True
                self._cond.wait(min(left, 0.5))
            if self.ended.is_set():
                return False
            region = None
            content: bytes | ContentReference = data
            if self._allocator is not None and self._shm is not None:
                region = self._allocator.allocate(len(data))
                assert region is not None  # _room_for said it fits
                self._shm.write(region, data)
                content = ContentReference(region, len(data))
            self._next_index += 1
            timestamp = int(time.time() * _TIMESCALE)
            sequence = call.send(timestamp, content)
            self._inflight[sequence] = _InFlight(time.monotonic(), len(data), region)
        return True

    def _room_for(self, size: int) -> bool:
        if len(self._inflight) >= self.settings.max_in_flight:
            return False
        return self._allocator is None or self._allocator.fits(size)

    def _fail_frame(self, size: int, sentence: str) -> None:
        self.report(FRAME, self.name, 0.0, size, FrameFailed(sentence))

    # -- acknowledgements ----------------------------------------------------------------
    def _collect(self) -> None:
        """Take events as they arrive until the call ends; expire overdue frames."""
        call = self._call
        assert call is not None
        while not self.ended.is_set():
            event = call.next_event(0.1)
            with self._cond:
                if event is not None:
                    self._handle(event)
                self._expire(time.monotonic())
                self._cond.notify_all()

    def _handle(self, event: object) -> None:
        if isinstance(event, AckReceived):
            now = time.monotonic()
            sent = self._inflight.pop(event.sequence_number, None)
            if sent is None:  # already reported as timed out; its region is still ours
                self._free_late(event.sequence_number)
                return
            self._last_ack = now
            if sent.region is not None and self._allocator is not None:
                self._allocator.free(sent.region)  # only now may it be reused (M3)
            self.report(FRAME, self.name, 1000 * (now - sent.sent_at), sent.size, None)
        elif isinstance(event, CallEnded):
            if event.code == "OK" and not self._inflight:
                self._end(None)
            elif event.code == "OK":
                self._end(
                    f"the extension ended the call with {len(self._inflight)} frames "
                    "unacknowledged (rule Q6)"
                )
            else:
                self._end(f"{event.code}: {event.details}".rstrip(": "))
        elif isinstance(event, ProtocolError):
            self._end(f"protocol violation: {event}")
        elif isinstance(event, ReaderCrashed):
            self._end(f"internal error in lvatool, not the extension's fault: {event}")
        elif isinstance(event, ReplyReceived):
            self._end("protocol violation: a second reply descriptor (rule H2)")

    def _free_late(self, sequence: int) -> None:
        region = self._late_regions.pop(sequence, None)
        if region is not None and self._allocator is not None:
            self._allocator.free(region)

    def _expire(self, now: float) -> None:
        timeout = self.settings.ack_timeout_s
        overdue = [seq for seq, sent in self._inflight.items() if now - sent.sent_at >= timeout]
        stalled = False
        for sequence in overdue:
            sent = self._inflight.pop(sequence)
            if sent.region is not None:
                self._late_regions[sequence] = sent.region
            stalled = stalled or self._last_ack <= sent.sent_at
            self._fail_frame(sent.size, f"ack timeout: no acknowledgement within {timeout:g} s")
        if stalled:
            self._end(f"the extension acknowledged nothing for {timeout:g} s: session ended")

    def _end(self, failure: str | None) -> None:
        """The session is over: frames still in flight failed with ``failure`` (or not)."""
        if self.ended.is_set():
            return
        self.ended.set()
        if failure is not None:
            for sent in self._inflight.values():
                self._fail_frame(sent.size, failure)
            self._inflight.clear()
        if self._call is not None:
            self._call.cancel()
        self._cond.notify_all()

    # -- closing -------------------------------------------------------------------------
    def close(self, wait_s: float = 2.0) -> None:
        """Half-close, take the acks that come within ``wait_s``, then end everything.

        Frames still unacknowledged after that are not reported: the run is stopping,
        and they would be counted as the extension's failures when it did nothing wrong.
        """
        if self._call is not None and not self.ended.is_set():
            self._call.close()
            deadline = time.monotonic() + wait_s
            with self._cond:
                while self._inflight and not self.ended.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(min(left, 0.2))
                self._inflight.clear()
                self._end(None)
        self.ended.set()
        if self._collector is not None and self._collector is not threading.current_thread():
            self._collector.join(timeout=1.0)
        self._release()

    def _release(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._shm is not None:
            self._shm.close()
            self._shm = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def _ms_since(started: float) -> float:
    return 1000 * (time.monotonic() - started)


def _as_failure(error: Exception) -> FrameFailed:
    """Why a session could not start, as one sentence that names the status or rule."""
    if isinstance(error, FrameFailed):
        return error
    if isinstance(error, CallError):
        return FrameFailed(f"{error.code}: {error}")
    if isinstance(error, ProtocolError):
        return FrameFailed(f"protocol violation: {error}")
    if isinstance(error, SharedMemoryCreateError):
        return FrameFailed(str(error))
    return FrameFailed(f"internal error in lvatool, not the extension's fault: {error!r}")
