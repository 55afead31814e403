"""Decode once, send N times: one decoder and preparer feeding every stream of a process.

:class:`SharedFrames` runs the decode and prepare stages once (:class:`DecoderThread`)
and a publisher thread that puts each prepared frame into a :class:`FanoutWindow`. Each
stream reads through its own :class:`FrameReader`. Usable on its own from Python (a
Locust worker's users share one per process)::

    frames = SharedFrames(VideoSource(path, loop=True), ImageOptions(416, 416), paced=True)
    readers = [frames.reader() for _ in range(cameras)]   # before start(): none miss frame 0
    frames.start()
    item = readers[0].get(timeout_s=1.0)   # PreparedFrame, DecodeEnded or None (not yet)
    ...
    frames.stop()

When may a slow reader lose frames? The window holds ``window`` frames; when it is full
the oldest frame is still needed by the slowest readers. The publisher then waits for
them while nobody else is starved; once another reader has taken everything and waits,
it waits ``lag_grace_s`` more and then drops the oldest frame for the slow readers
(each counts it in :attr:`FrameReader.dropped`). ``lag_grace_s`` is 0 for paced streams
(a camera does not wait for a slow viewer) and for ``--on-full drop``, and the ack
timeout for ``--on-full wait``. With a single reader nobody else starves, so it is never
dropped for: one stream behaves as before.

Paced (``--realtime``), the publisher keeps at most about half a window ahead of the
media clock (:attr:`epoch` + the frame's time), so frames are ready before any stream's
schedule without decoding the whole video into evictions.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

import av

from lvatool.sim.decoder import DecodeEnded, DecoderThread, PreparedFrame
from lvatool.sim.fanout import FanoutWindow
from lvatool.sim.prepare import FramePreparer, ImageOptions
from lvatool.sim.source import VideoSource

#: Frames held for the readers by default: a few in-flight limits' worth at 30 frames/s.
DEFAULT_WINDOW = 16


class FrameReader:
    """One stream's view of the shared frames: its own cursor and drop count."""

    def __init__(self, frames: SharedFrames, reader: int) -> None:
        self._frames = frames
        self._reader = reader
        self._closed = False

    @property
    def preparer(self) -> FramePreparer:
        """The shared preparer: its format, and ``write``/``to_bytes`` (safe to share)."""
        return self._frames.preparer

    @property
    def epoch(self) -> float:
        """``time.monotonic()`` at which media time 0 is due (set by ``start``)."""
        return self._frames.epoch

    @property
    def dropped(self) -> int:
        """Frames this reader lost by falling a whole window behind the others."""
        with self._frames.condition:
            return self._frames.window.dropped(self._reader)

    def on_ready(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (from the publisher's thread) when a frame or the end comes
        after :meth:`get` found none.

        A stream that also waits for acknowledgements then waits on one thing (its
        call's events, which ``wake`` feeds) instead of polling both. Only a reader that
        found nothing is woken: one woken at every frame published would be woken once
        per frame it sends, for nothing.
        """
        with self._frames.condition:
            self._frames.wakers[self._reader] = wake

    def get(self, timeout_s: float) -> PreparedFrame | DecodeEnded | None:
        """The next frame; :class:`DecodeEnded` after the last; None if none came in time."""
        frames = self._frames
        deadline = time.monotonic() + timeout_s
        with frames.condition:
            while True:
                window = frames.window
                full = not window.has_room()
                taken = window.take(self._reader)
                if taken is not None:
                    # Wake the publisher only when it has something new to decide on: room
                    # made, or this reader now waits for the next frame (a laggard may be
                    # dropped for). Woken at every take, at 64 streams it woke once per frame
                    # sent, for nothing.
                    if (full and window.has_room()) or taken[0] + 1 == window.published:
                        frames.condition.notify_all()
                    return taken[1]
                if frames.ended is not None:
                    return frames.ended
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    frames.waiting.add(self._reader)  # wake me when there is one
                    return None
                frames.condition.wait(remaining)

    def close(self) -> None:
        """This stream is done: it no longer holds any frame back."""
        if self._closed:
            return
        self._closed = True
        with self._frames.condition:
            self._frames.window.remove_reader(self._reader)
            self._frames.wakers.pop(self._reader, None)
            self._frames.waiting.discard(self._reader)
            self._frames.condition.notify_all()


class SharedFrames:
    """One source decoded and prepared once for many readers, with bounded memory."""

    def __init__(
        self,
        source: VideoSource,
        image: ImageOptions,
        *,
        max_fps: float | None = None,
        paced: bool = False,
        window: int = DEFAULT_WINDOW,
        lag_grace_s: float = 0.0,
        as_bytes: bool = False,
    ) -> None:
        """``as_bytes``: lay RAW frames out as sample bytes once, here (embedded transfer),
        rather than in every stream; for shared memory each stream copies the frame into
        its own buffer anyway, straight from the decoder's planes."""
        self.source = source
        self.preparer = FramePreparer(image, source.info.width, source.info.height)
        self.paced = paced
        self.lag_grace_s = lag_grace_s
        self.as_bytes = as_bytes
        self.window: FanoutWindow[PreparedFrame] = FanoutWindow(window)
        self.condition = threading.Condition()
        self.wakers: dict[int, Callable[[], None]] = {}  # by reader (FrameReader.on_ready)
        self.waiting: set[int] = set()  # readers that found no frame and want a wake-up
        self.ended: DecodeEnded | None = None
        self.epoch = 0.0
        interval = 1.0 / (max_fps or source.info.fps or 30.0)
        self._lead_s = max(window // 2, 1) * interval
        self._decoder = DecoderThread(source, self.preparer, max_fps=max_fps)
        self._stop = threading.Event()
        self._publisher = threading.Thread(target=self._publish, name="lvatool-fanout", daemon=True)
        self._started = False

    @property
    def decoded(self) -> int:
        """Frames decoded, once for all readers."""
        return self._decoder.decoded

    @property
    def sampled_out(self) -> int:
        return self._decoder.sampled_out

    def reader(self) -> FrameReader:
        """A new reader; made before :meth:`start`, it sees every frame from the first."""
        with self.condition:
            return FrameReader(self, self.window.add_reader())

    def start(self, delay_s: float = 0.0) -> None:
        """Start decoding; media time 0 is due ``delay_s`` from now (the readers' epoch)."""
        if self._started:
            return
        self._started = True
        self.epoch = time.monotonic() + delay_s
        self._decoder.start()
        self._publisher.start()

    def stop(self) -> None:
        self._stop.set()
        self._decoder.stop()
        with self.condition:
            self.condition.notify_all()
        if self._publisher.is_alive():
            self._publisher.join(timeout=5)

    def _publish(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._decoder.get(0.1)
                if item is None:
                    continue
                if isinstance(item, DecodeEnded):
                    self._end(item)
                    return
                if self.as_bytes and isinstance(item.prepared, av.VideoFrame):
                    item = PreparedFrame(
                        item.index, item.time_s, self.preparer.to_bytes(item.prepared)
                    )
                if self.paced:  # keep about half a window ahead of the media clock
                    self._stop.wait(
                        max(self.epoch + item.time_s - self._lead_s - time.monotonic(), 0)
                    )
                if not self._put(item):
                    return
        except Exception as error:  # a publisher bug must end every stream, not hang them
            self._end(
                DecodeEnded(
                    f"cannot share frames: {type(error).__name__}: {error}",
                    crash="".join(traceback.format_exception(error)),
                )
            )

    def _put(self, item: PreparedFrame) -> bool:
        """Publish ``item``, waiting for room or dropping it for laggards; False on stop."""
        window = self.window
        with self.condition:
            starved_since: float | None = None
            while not window.has_room():
                if self._stop.is_set():
                    return False
                now = time.monotonic()
                if window.starving():
                    starved_since = starved_since if starved_since is not None else now
                    if now - starved_since >= self.lag_grace_s:
                        window.evict_oldest()
                        continue
                else:
                    starved_since = None
                self.condition.wait(0.05)
            window.publish(item)
            self.condition.notify_all()
            wakers = self._waiting_wakers()
        for wake in wakers:
            wake()
        return True

    def _end(self, item: DecodeEnded) -> None:
        with self.condition:
            self.ended = item
            self.condition.notify_all()
            wakers = self._waiting_wakers()
        for wake in wakers:
            wake()

    def _waiting_wakers(self) -> list[Callable[[], None]]:
        """The wake-ups owed to readers that found nothing (call with the lock held)."""
        wakers = [self.wakers[r] for r in self.waiting if r in self.wakers]  # some have none
        self.waiting.clear()
        return wakers
