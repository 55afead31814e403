"""The decoding and preparing stages of a stream, each on its own thread.

Decoding (FFmpeg's frame threads), scaling and converting (swscale) and the send loop
each release the GIL for their heavy work, so three stages overlap on a multi-core
machine. Bounded queues join them: a few frames wait between stages at most, so
memory does not grow with the length of the video.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass

import av

from lvatool.handover import Handover
from lvatool.sim.prepare import FramePreparer
from lvatool.sim.source import SourceError, SourceFrame, VideoSource


@dataclass(frozen=True)
class PreparedFrame:
    index: int
    time_s: float
    prepared: bytes | av.VideoFrame


@dataclass(frozen=True)
class DecodeEnded:
    """No more frames; ``error`` says why if it was not the end of the video.

    ``crash`` holds the traceback when the reason is a bug of ours rather than the
    video: the stream then ends as an internal error, not as a bad source.
    """

    error: str | None = None
    crash: str | None = None


def _crashed(stage: str, error: Exception) -> DecodeEnded:
    return DecodeEnded(
        f"cannot {stage}: {type(error).__name__}: {error}",
        crash="".join(traceback.format_exception(error)),
    )


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
        self._stop = threading.Event()
        self._decoded: Handover[SourceFrame | DecodeEnded] = Handover(depth, self._stop)
        self._prepared: Handover[PreparedFrame | DecodeEnded] = Handover(depth, self._stop)
        self._threads = [
            threading.Thread(target=self._decode, name="lvatool-decode", daemon=True),
            threading.Thread(target=self._prepare, name="lvatool-prepare", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def get(self, timeout_s: float) -> PreparedFrame | DecodeEnded | None:
        """The next prepared frame, :class:`DecodeEnded`, or None if none is ready in time."""
        return self._prepared.get(timeout_s)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)

    def _decode(self) -> None:
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
                if not self._decoded.put(item):
                    return
        except SourceError as error:
            end = DecodeEnded(str(error))
        except av.FFmpegError as error:  # the video, not us
            end = DecodeEnded(f"cannot decode {self.source.location}: {error}")
        except Exception as error:  # a decoder failure must end the run, not hang it
            end = _crashed("decode", error)
        self._decoded.put(end)

    def _prepare(self) -> None:
        while not self._stop.is_set():
            item = self._decoded.get(0.1)
            if item is None:
                continue
            if isinstance(item, DecodeEnded):
                self._prepared.put(item)
                return
            try:
                prepared = self.preparer.prepare(item.frame)
            except Exception as error:  # a conversion failure must end the run, not hang it
                self._prepared.put(_crashed("prepare a frame", error))
                return
            if not self._prepared.put(PreparedFrame(item.index, item.time_s, prepared)):
                return
