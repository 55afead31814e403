"""The decoding stage of a stream: decode, sample, prepare, into a bounded queue.

It runs on its own thread so that decoding and conversion (which release the GIL in
FFmpeg and Pillow) overlap with sending. The queue holds a few prepared frames at
most, so memory does not grow with the length of the video.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import av

from lvatool.sim.prepare import FramePreparer
from lvatool.sim.source import SourceError, VideoSource


@dataclass(frozen=True)
class PreparedFrame:
    index: int
    time_s: float
    prepared: bytes | av.VideoFrame


@dataclass(frozen=True)
class DecodeEnded:
    """No more frames; ``error`` says why if it was not the end of the video."""

    error: str | None = None


class DecoderThread:
    """Decodes ``source`` and prepares its frames ahead of the sender."""

    def __init__(
        self,
        source: VideoSource,
        preparer: FramePreparer,
        *,
        max_fps: float | None = None,
        depth: int = 4,
    ) -> None:
        self.source = source
        self.preparer = preparer
        self.max_fps = max_fps
        self.decoded = 0
        self.sampled_out = 0
        self._queue: queue.Queue[PreparedFrame | DecodeEnded] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lvatool-decoder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def get(self, timeout_s: float) -> PreparedFrame | DecodeEnded | None:
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _put(self, item: PreparedFrame | DecodeEnded) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        interval = 1.0 / self.max_fps if self.max_fps else 0.0
        next_time = 0.0
        end = DecodeEnded()
        try:
            for item in self.source.frames():
                if self._stop.is_set():
                    return
                self.decoded += 1
                if interval:
                    # maximumSamplesPerSecond (F2): keep a frame only when its media time
                    # reaches the next slot, so the cap does not depend on sending speed.
                    if item.time_s + 1e-9 < next_time:
                        self.sampled_out += 1
                        continue
                    next_time += interval
                    if next_time <= item.time_s:  # after a gap, restart the grid here
                        next_time = item.time_s + interval
                prepared = self.preparer.prepare(item.frame)
                if not self._put(PreparedFrame(item.index, item.time_s, prepared)):
                    return
        except SourceError as error:
            end = DecodeEnded(str(error))
        except Exception as error:  # a conversion failure must end the run, not hang it
            end = DecodeEnded(f"cannot prepare frame: {type(error).__name__}: {error}")
        self._put(end)
