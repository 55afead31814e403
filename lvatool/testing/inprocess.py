"""Running a processor on images or a video in this process, as the server would run it.

No gRPC and no server: each image becomes the :class:`~lvatool.server.Frame` the server
builds for a RAW RGB24 sample, in one session (``open`` → ``process_batch`` per batch →
``close``) whose :class:`~lvatool.server.SessionInfo` carries the descriptor's format and
``extension_configuration``. What the processor returns is judged by the server's own
check (:func:`lvatool.server.processor_output.check_batch_results`), so a test fails here
with the sentence the server would send as ``INTERNAL``, rather than passing in a unit
test and failing on the wire. Exceptions the processor raises reach the caller as they
are, with their traceback.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from lvatool.media import Encoding, FrameFormat, PixelFormat
from lvatool.media._layout import check_rgb
from lvatool.protocol import StreamSpec
from lvatool.server.processor import Frame, Inference, SessionInfo
from lvatool.server.processor_output import check_batch_results
from lvatool.sim.prepare import FramePreparer, ImageOptions
from lvatool.sim.source import VideoSource
from lvatool.testing.processors import ProcessorLike, resolve_processor

ImageLike: TypeAlias = Image.Image | npt.NDArray[np.uint8] | str | PathLike[str]
"""An image as the helpers take it: a PIL image, an (H, W, 3) uint8 RGB array, or a file."""

#: F3: timestamps count 90 000 ticks per second.
TIMESCALE = 90_000
#: Images have no time of their own; they are spaced as a 30 frames/s camera's would be.
_IMAGE_INTERVAL_S = 1 / 30
#: What a processor sees as the session's peer when it runs in-process.
IN_PROCESS_PEER = "in-process:lvatool.testing"


@dataclass(frozen=True)
class FrameResult:
    """What a processor returned for one frame of a video."""

    index: int
    time_s: float
    inferences: list[Inference] = field(default_factory=list)


def to_rgb(image: ImageLike) -> npt.NDArray[np.uint8]:
    """``image`` as an (H, W, 3) uint8 RGB array; ValueError naming what is wrong."""
    if isinstance(image, str | PathLike):
        path = Path(image)
        try:
            with Image.open(path) as opened:
                return np.asarray(opened.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read image {path}: {error}") from None
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if isinstance(image, np.ndarray):
        return check_rgb(image)
    raise TypeError(
        f"expected a PIL image, an (H, W, 3) uint8 array or an image file, "
        f"not {type(image).__name__}"
    )


def rgb24_format(width: int, height: int) -> FrameFormat:
    """The descriptor format of an unpadded RAW RGB24 frame of this size."""
    return FrameFormat(Encoding.RAW, PixelFormat.RGB24, width, height, 3 * width)


class ProcessorSession:
    """One session of a processor, driven by hand: frames in, checked inferences out.

    The server's order: ``open`` once the format is known, ``process_batch`` for each
    batch (one frame unless ``batch_size`` says more), ``close`` however it ends. A
    ``ValueError`` from ``open`` is the processor refusing the session; it propagates.
    """

    def __init__(
        self,
        processor: ProcessorLike,
        frame_format: FrameFormat,
        *,
        extension_configuration: str = "",
        batch_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.processor = resolve_processor(processor)
        self.format = frame_format
        self.batch_size = batch_size
        spec = StreamSpec(
            frame_format,
            timescale=TIMESCALE,
            extension_configuration=extension_configuration,
            identifier="lvatool.testing",
        )
        self.info = SessionInfo(spec, IN_PROCESS_PEER)
        self._next_sequence = 2  # the client's descriptor is message 1 (Q1)
        self._opened = False

    def __enter__(self) -> ProcessorSession:
        self.processor.open(self.info)
        self._opened = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._opened:
            self._opened = False
            self.processor.close(self.info)

    def frame(self, data: bytes, time_s: float) -> Frame:
        """The :class:`Frame` the server would build for this sample."""
        sequence = self._next_sequence
        self._next_sequence += 1
        return Frame(
            data, self.format, timestamp=round(time_s * TIMESCALE), sequence_number=sequence
        )

    def process(self, frames: list[Frame]) -> list[list[Inference]]:
        """One batch through ``process_batch``, judged as the server judges it.

        Raises :class:`lvatool.server.processor_output.ProcessorMistake` with the server's
        sentence when the processor returns anything but one list of Inference per frame.
        """
        returned = self.processor.process_batch(frames, self.info)
        return check_batch_results(returned, len(frames), self.processor)


Key = TypeVar("Key")


def _batched(
    session: ProcessorSession, frames: Iterable[tuple[Frame, Key]]
) -> Iterator[tuple[Key, list[Inference]]]:
    """Each frame's key and inferences, processed ``session.batch_size`` frames at a time."""
    batch: list[tuple[Frame, Key]] = []
    for item in frames:
        batch.append(item)
        if len(batch) == session.batch_size:
            yield from _flush(session, batch)
    # The server flushes a partial batch at the end of the stream (Q6).
    yield from _flush(session, batch)


def _flush(
    session: ProcessorSession, batch: list[tuple[Frame, Key]]
) -> Iterator[tuple[Key, list[Inference]]]:
    if not batch:
        return
    results = session.process([frame for frame, _ in batch])
    keys = [key for _, key in batch]
    batch.clear()
    yield from zip(keys, results, strict=True)


def run_processor(
    processor: ProcessorLike,
    images: Iterable[ImageLike],
    *,
    extension_configuration: str = "",
    batch_size: int = 1,
) -> list[list[Inference]]:
    """The inferences ``processor`` returns for each image, in order, from one session.

    ``processor``: a :class:`~lvatool.server.Processor` (instance or subclass), a function
    ``frame -> inferences``, or a ``--processor`` reference (``"processor.py:process"``).
    ``images``: PIL images, (H, W, 3) uint8 RGB arrays or paths of image files, all of one
    size (a session has one format, H3). ``extension_configuration`` is what the
    topology would send (H3); ``batch_size`` mirrors ``lvatool serve --batch-size``.

    Example::

        results = run_processor("processor.py:process", [np.zeros((120, 160, 3), np.uint8)])
        assert results[0][0].classification.tag.value == "dark"
    """
    rgbs = (to_rgb(image) for image in images)
    first = next(rgbs, None)
    if first is None:
        return []
    height, width = first.shape[:2]
    session = ProcessorSession(
        processor,
        rgb24_format(width, height),
        extension_configuration=extension_configuration,
        batch_size=batch_size,
    )

    def frames() -> Iterator[tuple[Frame, int]]:
        for index, rgb in enumerate(itertools.chain([first], rgbs)):
            if rgb.shape[:2] != (height, width):
                raise ValueError(
                    f"image {index} is {rgb.shape[1]}x{rgb.shape[0]}, but image 0 is "
                    f"{width}x{height}: one session has one frame size (H3)"
                )
            data = np.ascontiguousarray(rgb).tobytes()
            yield session.frame(data, index * _IMAGE_INTERVAL_S), index

    with session:
        return [inferences for _, inferences in _batched(session, frames())]


def run_processor_on_video(
    processor: ProcessorLike,
    video: str | PathLike[str],
    *,
    max_frames: int | None = None,
    width: int | None = None,
    height: int | None = None,
    extension_configuration: str = "",
    batch_size: int = 1,
) -> list[FrameResult]:
    """The inferences ``processor`` returns for each frame of ``video``, from one session.

    The video is decoded and scaled by the simulator's own code (PyAV and swscale, as
    ``lvatool simulate --format raw --pixel-format rgb24 --width W --height H`` does;
    one of ``width``/``height`` keeps the aspect ratio), at most ``max_frames`` frames.
    An unreadable video raises :class:`lvatool.sim.SourceError`.
    """
    source = VideoSource(str(video), max_frames=max_frames)
    options = ImageOptions(
        width=width, height=height, encoding=Encoding.RAW, pixel_format=PixelFormat.RGB24
    )
    preparer = FramePreparer(options, source.info.width, source.info.height)
    session = ProcessorSession(
        processor,
        preparer.format,
        extension_configuration=extension_configuration,
        batch_size=batch_size,
    )

    def frames() -> Iterator[tuple[Frame, tuple[int, float]]]:
        for decoded in source.frames():
            data = preparer.to_bytes(preparer.prepare(decoded.frame))
            yield session.frame(data, decoded.time_s), (decoded.index, decoded.time_s)

    results: list[FrameResult] = []
    with session:
        for (index, time_s), inferences in _batched(session, frames()):
            results.append(FrameResult(index, time_s, inferences))
    return results
