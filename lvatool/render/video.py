"""``simulate --annotate``: one stream's frames, as sent, with their own inferences drawn on.

:class:`AnnotatedVideo` is a run observer (:mod:`lvatool.sim.observe`). The stream
threads only file references: a frame's shared sample when it is sent, its record when
its fate is known. Frames leave for drawing in send order, each once it has its answer
(acks may come out of order, Q4), so every picture carries that frame's own results
(Q3). Decoding, drawing and H.264 encoding happen on a writer thread of its own.

What the video may cost the run, and what it keeps:

- **CPU**: while the run goes on, the writer works at most ``cpu_share`` of the time
  (5 % of one core by default): after each frame it rests for as long as the frame
  cost it, times 19. Its thread also runs at the lowest priority (nice 19, Linux), so
  on a busy machine the streams and the extension get the CPU first. Measured on the
  1080p shared-memory case (2 cores that simulate and serve saturate), 10 % of a core
  cost the run about 10 % of its frames/s, and holding the waiting frames next to
  nothing (benchmarks/outputs_bench.py). A 1080p run at hundreds of frames/s cannot
  be drawn and encoded in that budget; its frames wait, and the run is not slowed for
  them. When the run ends the writer drains what waits at full speed (libx264
  ``ultrafast``, one thread, so that all its work is the writer's, within its share).
- **Memory**: waiting frames are references to the samples the streams sent (no copy),
  but they keep those samples alive: at most ``buffer_bytes`` of them (256 MiB) wait.
  A frame that finds the buffer full is left out of the video, counted, and the run
  ends with a warning saying how many were left out. The bundled clip (300 frames of
  640x360) fits whole as JPG, PNG, BMP or 1-3 byte RAW (207 MB as BGR24), so an
  ordinary run's video has every frame sent, however slow the machine.
- **Size**: the video is the frames' size, at most :data:`DEFAULT_MAX_WIDTH` wide
  unless ``width`` says otherwise, rounded down to even sides (yuv420p needs them).

A frame dropped before it was sent (``--on-full drop``) has no picture in the hook; it
is written as a dark frame captioned "dropped", so the video keeps the run's timeline.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from lvatool.render.draw import draw_on
from lvatool.render.images import sample_image, scaled_height
from lvatool.sim.observe import (
    FrameRecord,
    ObserverError,
    RunInfo,
    RunObserver,
    SentFrame,
)

if TYPE_CHECKING:
    from lvatool.sim.run import RunResult

DEFAULT_MAX_WIDTH = 1280
DEFAULT_BUFFER_BYTES = 256 << 20
DEFAULT_CPU_SHARE = 0.05
MAX_WAITING_FRAMES = 10_000  # dropped frames hold no sample, yet each is an entry
STALL_S = 60.0  # the writer making no progress this long while draining has failed
X264_OPTIONS = {"preset": "ultrafast", "crf": "23"}
DROPPED_GREY = (24, 24, 24)
LOWEST_PRIORITY = 19  # the writer thread's nice value

# H.264 colour tags for BT.601 limited range, the conversion swscale applies by default,
# so players do not assume BT.709 for HD sizes and shift the colours.
_BT601 = 6  # AVCOL_SPC_SMPTE170M, AVCOL_PRI_SMPTE170M, AVCOL_TRC_SMPTE170M
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


@dataclass
class _Slot:
    """One frame of the stream, from its send (or drop) until it is drawn."""

    sent: SentFrame | None  # None: dropped before it was sent, no picture
    record: FrameRecord | None = None  # None: its fate is not known yet

    def held_bytes(self) -> int:
        """Bytes of the shared sample this slot keeps alive."""
        if self.sent is None:
            return 0
        prepared = self.sent.prepared
        if isinstance(prepared, bytes):
            return len(prepared)
        return sum(plane.buffer_size for plane in prepared.planes)


class AnnotatedVideo(RunObserver):
    """Writes stream ``stream``'s frames, inferences drawn on, to ``path`` (H.264).

    ``path``'s suffix picks the container (``.mp4``, ``.mkv``, ``.mov``); the frame rate is
    the run's (``RunInfo.fps``). A failure to write ends the run with one sentence.
    """

    def __init__(
        self,
        path: Path | str,
        stream: int = 0,
        *,
        width: int | None = None,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        cpu_share: float = DEFAULT_CPU_SHARE,
    ) -> None:
        if stream < 0:
            raise ValueError(f"the annotated stream must be 0 or more, not {stream}")
        if width is not None and not 2 <= width <= 16384:
            raise ValueError(f"the annotated video's width must be 2-16384 pixels, not {width}")
        if not 0 < cpu_share <= 1:
            raise ValueError(
                f"the writer's CPU share must be over 0 and at most 1, not {cpu_share}"
            )
        self.path = Path(path)
        self.stream = stream
        self.width = width
        self.buffer_bytes = buffer_bytes
        self.cpu_share = cpu_share
        self.frames_written = 0
        self.frames_skipped = 0
        self._info: RunInfo | None = None
        self._changed = threading.Condition()
        self._order: deque[_Slot] = deque()  # send order, awaiting their fate
        self._by_sequence: dict[int, _Slot] = {}
        self._ready: deque[_Slot] = deque()  # answered, in send order, for the writer
        self._ready_bytes = 0
        self._ending = False  # the run is over: drain at full speed, then finish the file
        self._aborted = False  # closed without an end: finish the file with what is drawn
        self._error: str | None = None
        self._writer: threading.Thread | None = None

    # -- the stream threads' side: file references, nothing heavier --------------------
    def run_started(self, run: RunInfo) -> None:
        self._info = run
        if self.stream >= run.streams:
            # Not raised here: the run's start has no room for an observer's failure.
            self._error = (
                f"cannot annotate stream {self.stream}: the run has "
                f"{run.streams} stream{'s' if run.streams != 1 else ''} (0-{run.streams - 1})"
            )
            return
        self._writer = threading.Thread(target=self._write, name="lvatool-annotate", daemon=True)
        self._writer.start()

    def frame_sent(self, frame: SentFrame) -> None:
        if frame.stream != self.stream or self._writer is None:
            return
        self._raise_if_failed()
        with self._changed:
            slot = _Slot(frame)
            self._order.append(slot)
            self._by_sequence[frame.sequence] = slot

    def frame_done(self, record: FrameRecord) -> None:
        if record.stream != self.stream or self._writer is None:
            return
        self._raise_if_failed()
        with self._changed:
            if record.sequence is None:  # dropped before sending: its place is now
                self._order.append(_Slot(None, record))
            else:
                slot = self._by_sequence.pop(record.sequence, None)
                if slot is None:
                    return
                slot.record = record
            self._release_answered()

    def _release_answered(self) -> None:
        """Hand the writer every answered frame at the head of the send order."""
        while self._order and self._order[0].record is not None:
            slot = self._order.popleft()
            size = slot.held_bytes()
            full = self._ready_bytes + size > self.buffer_bytes
            if self._ready and (full or len(self._ready) >= MAX_WAITING_FRAMES):
                self.frames_skipped += 1
                continue
            self._ready.append(slot)
            self._ready_bytes += size
            self._changed.notify_all()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise ObserverError(self._error)

    # -- the end of the run ------------------------------------------------------------
    def run_ended(self, result: RunResult) -> None:
        """Draw what waits, finish the file; warn of frames left out, fail on an error."""
        self._finish(aborted=False)
        if self.frames_skipped:
            total = self.frames_skipped + self.frames_written
            result.summary.stats.warnings.add(
                f"the annotated video {self.path} left out {self.frames_skipped} of {total} "
                f"frames: they came faster than they could be drawn and encoded "
                f"within {self.cpu_share:.0%} of a core and {self.buffer_bytes >> 20} MiB "
                "(a smaller --annotate-width or a slower run keeps more)"
            )
        self._raise_if_failed()

    def close(self) -> None:
        self._finish(aborted=True)

    def _finish(self, *, aborted: bool) -> None:
        """Tell the writer to finish and wait while it makes progress (STALL_S at most)."""
        writer = self._writer
        if writer is None:
            return
        with self._changed:
            self._ending = True
            self._aborted = self._aborted or aborted
            self._changed.notify_all()
        progress, last_change = -1, time.monotonic()
        while writer.is_alive():
            writer.join(timeout=0.5)
            if self.frames_written != progress:
                progress, last_change = self.frames_written, time.monotonic()
            elif time.monotonic() - last_change > STALL_S:
                self._aborted = True
                self._error = self._error or (
                    f"cannot write the annotated video {self.path}: "
                    f"no frame was encoded for {STALL_S:g} s"
                )
                return

    # -- the writer thread ---------------------------------------------------------------
    def _write(self) -> None:
        info = self._info
        assert info is not None
        _yield_cpu_to_the_run()
        try:
            with VideoWriter(self.path, info, self.width) as writer:
                while (slot := self._next()) is not None:
                    cost = time.thread_time()
                    writer.add(self._drawn(slot, writer.picture_width, info.streams))
                    self.frames_written += 1
                    self._rest(time.thread_time() - cost)
        except Exception as error:  # any failure (av, Pillow, OSError) is the run's sentence
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            self._error = f"cannot write the annotated video {self.path}: {reason}"
            with self._changed:
                self._ready.clear()

    def _next(self) -> _Slot | None:
        """The next answered frame; None once the run has ended and nothing waits."""
        with self._changed:
            while not self._ready:
                if self._ending:
                    return None
                self._changed.wait()
            if self._aborted:
                return None
            slot = self._ready.popleft()
            self._ready_bytes -= slot.held_bytes()
            return slot

    def _rest(self, cost_s: float) -> None:
        """Keep to ``cpu_share`` while the run goes on: rest ``cost × (1/share − 1)``."""
        pause = cost_s * (1 / self.cpu_share - 1)
        with self._changed:
            self._changed.wait_for(lambda: self._ending, timeout=pause)

    def _drawn(self, slot: _Slot, width: int, streams: int) -> Image.Image:
        record = slot.record
        assert record is not None
        if slot.sent is not None:
            picture = sample_image(slot.sent.prepared, slot.sent.format, width=width)
        else:
            info = self._info
            assert info is not None
            height = scaled_height(info.format.width, info.format.height, width)
            picture = Image.new("RGB", (width, height), DROPPED_GREY)
        caption = f"#{record.index}"
        if streams > 1:
            caption = f"stream {record.stream} · {caption}"
        if record.status == "acked" and record.latency_ms is not None:
            caption += f" · {record.latency_ms:.0f} ms"
        else:
            caption += f" · {record.status.replace('_', ' ')}"
        draw_on(picture, record.inferences, caption=caption, alert=record.status != "acked")
        return picture


def _yield_cpu_to_the_run() -> None:
    """Give the calling thread the lowest CPU priority (Linux: nice 19 for this thread only).

    On a busy machine the streams and the extension then get the CPU first, and the
    writer what is left; on an idle one it loses nothing. Elsewhere ``setpriority``
    would renice the whole process, so it is left alone there.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)


class VideoWriter:
    """An H.264 file of RGB pictures at a run's frame rate, yuv420p with even sides."""

    def __init__(self, path: Path, info: RunInfo, width: int | None) -> None:
        source_width, source_height = info.format.width, info.format.height
        self.picture_width = width or min(source_width, DEFAULT_MAX_WIDTH)
        self.width = max(2, self.picture_width // 2 * 2)
        height = scaled_height(source_width, source_height, self.picture_width)
        self.height = max(2, height // 2 * 2)
        self._container = av.open(str(path), "w")
        try:
            rate = Fraction(info.fps).limit_denominator(1001)
            stream = self._container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            stream.time_base = 1 / rate
            stream.options = dict(X264_OPTIONS)
            context = stream.codec_context
            context.colorspace = context.color_primaries = context.color_trc = _BT601
            context.color_range = _LIMITED_RANGE
            # One thread: all of the encoder's work is the writer thread's, which keeps
            # to its CPU share; x264's own threads would not.
            context.thread_count = 1
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self._scaler = VideoReformatter()
        self._frames = 0

    def add(self, picture: Image.Image) -> None:
        """Encode one picture (scaled to the video's even size in the same pass)."""
        rgb = av.VideoFrame.from_ndarray(np.asarray(picture), format="rgb24")
        frame = self._scaler.reformat(rgb, width=self.width, height=self.height, format="yuv420p")
        frame.pts = self._frames
        self._frames += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file (its index, for MP4)."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
