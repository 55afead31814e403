"""Decoded video from a file or a live URL, through PyAV with frame threading.

:class:`VideoSource` yields :class:`SourceFrame` values: the decoded frame, its index and
its presentation time in seconds from the start of the run. With ``loop`` a file starts
over when it ends and the times keep increasing, as a camera's would.

A packet the decoder rejects (corrupt data in the middle of a file, a glitch on a live
stream) is skipped and counted in :attr:`VideoSource.skipped_packets`, as a player
would skip it, rather than ending the run; a video of which no packet decodes at all
is still an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class SourceError(Exception):
    """The video cannot be opened or decoded; the message says which and why."""


@dataclass(frozen=True)
class SourceFrame:
    """One decoded frame and when it is presented, in seconds from the run's start."""

    index: int
    time_s: float
    frame: av.VideoFrame


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    fps: float
    codec: str
    frames: int  # 0 when the container does not say (live sources)


class VideoSource:
    """A video file or live URL, decoded frame by frame."""

    def __init__(
        self,
        location: str,
        *,
        loop: bool = False,
        max_frames: int | None = None,
        open_timeout_s: float = 10.0,
    ) -> None:
        self.location = location
        self.live = location.lower().startswith(LIVE_SCHEMES)
        if not self.live and not Path(location).is_file():
            raise SourceError(f"no such video file: {location}")
        self.loop = loop and not self.live
        self.max_frames = max_frames
        self.open_timeout_s = open_timeout_s
        self.skipped_packets = 0
        container = self._open()
        try:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            self.info = SourceInfo(
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                fps=float(rate) if rate else 30.0,
                codec=stream.codec_context.name,
                frames=int(stream.frames or 0),
            )
        finally:
            container.close()
        if self.info.width <= 0 or self.info.height <= 0:
            raise SourceError(f"{location}: the video stream has no frame size")

    def _open(self) -> av.container.InputContainer:
        options = {"rtsp_transport": "tcp"} if self.location.lower().startswith("rtsp") else {}
        try:
            container = av.open(
                self.location,
                options=options,
                timeout=(self.open_timeout_s, self.open_timeout_s),
            )
        except (av.FFmpegError, OSError) as error:
            raise SourceError(f"cannot open {self.location}: {error}") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.location} has no video stream")
        return container

    def frames(self) -> Iterator[SourceFrame]:
        """Decoded frames in presentation order, until the end, ``max_frames`` or forever."""
        index = 0
        offset_s = 0.0
        while True:
            container = self._open()
            last_s = offset_s
            try:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                first: float | None = None
                for frame in self._decode(container, stream):
                    if self.max_frames is not None and index >= self.max_frames:
                        return
                    seconds = float(frame.time) if frame.time is not None else index / self.info.fps
                    if first is None:
                        first = seconds
                    last_s = offset_s + seconds - first
                    yield SourceFrame(index, last_s, frame)
                    index += 1
                if index == 0 and self.skipped_packets:
                    raise SourceError(
                        f"cannot decode {self.location}: none of its "
                        f"{self.skipped_packets} packets decodes"
                    )
            except av.FFmpegError as error:
                raise SourceError(f"cannot decode {self.location}: {error}") from None
            finally:
                container.close()
            if not self.loop or index == 0:
                return
            offset_s = last_s + 1.0 / self.info.fps

    def _decode(
        self, container: av.container.InputContainer, stream: av.VideoStream
    ) -> Iterator[av.VideoFrame]:
        """The frames of ``stream``, packet by packet, skipping packets that do not decode."""
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                self.skipped_packets += 1
                continue
            yield from frames  # type: ignore[misc]
