"""The public API for processors: the part of an extension that is the user's model.

A processor gets decoded frames and returns inferences; the server does everything
else (the protocol, shared memory, batching, acknowledgements). Frames from shared
memory are zero-copy views: a processor must finish with the pixels, or copy them,
before it returns, because the region is handed back to the client with the ack (M3).

The smallest processor is a function::

    def process(frame: Frame) -> list[Inference]:
        return [classification("bright" if frame.image.mean() > 100 else "dim")]

A class gives more control: :meth:`Processor.open` sees each session's descriptor and
``extension_configuration`` first (raise ``ValueError`` to refuse the session), and
:meth:`Processor.process_batch` sees ``--batch-size`` frames at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lvatool.contract import inferencing_pb2
from lvatool.media import (
    Encoding,
    FrameFormat,
    decode_image,
    mean_luma_raw,
    mean_luma_rgb,
    raw_to_rgb,
)
from lvatool.media.image_header import check_encoded_frame
from lvatool.protocol import StreamSpec

Inference = inferencing_pb2.Inference


@dataclass(frozen=True)
class SessionInfo:
    """What a processor knows about the session a frame belongs to."""

    spec: StreamSpec
    peer: str = ""

    @property
    def extension_configuration(self) -> str:
        """The topology's opaque configuration string (often JSON), as sent (H3)."""
        return self.spec.extension_configuration


class InvalidFrameError(ValueError):
    """The sample's bytes are not a frame of the declared format (a corrupt JPEG, say)."""


class Frame:
    """One received frame. ``data`` is the sample as sent; ``image`` decodes it lazily."""

    def __init__(
        self,
        data: bytes | memoryview,
        format: FrameFormat,
        *,
        timestamp: int = 0,
        sequence_number: int = 0,
        inferences: Sequence[Inference] = (),
    ) -> None:
        self.data = data
        self.format = format
        self.timestamp = timestamp
        self.sequence_number = sequence_number
        self.inferences = inferences

    @functools.cached_property
    def image(self) -> np.ndarray:
        """The frame as an (height, width, 3) uint8 RGB array.

        An encoded frame is decoded only once its header has shown the encoding and
        dimensions the descriptor declared and at most ``MAX_ENCODED_PIXELS`` pixels: a
        small file may declare a size that costs gigabytes to decode (A3).
        """
        f = self.format
        try:
            if f.encoding is Encoding.RAW:
                return raw_to_rgb(self.data, f.pixel_format, f.width, f.height, f.stride_bytes)
            check_encoded_frame(self.data, f)
            return decode_image(self.data)
        except ValueError as error:
            raise InvalidFrameError(str(error)) from None

    def mean_luma(self) -> float:
        """Mean BT.601 luma on 0–255 (R4), straight from RAW bytes where possible."""
        f = self.format
        if f.encoding is not Encoding.RAW:
            return mean_luma_rgb(self.image)
        try:
            return mean_luma_raw(self.data, f.pixel_format, f.width, f.height, f.stride_bytes)
        except ValueError as error:
            raise InvalidFrameError(str(error)) from None


class Processor:
    """Base class for processors. Override :meth:`process` or :meth:`process_batch`.

    One instance serves every session, from several threads at once: keep per-session
    state out of ``self`` or guard it.
    """

    def open(self, session: SessionInfo) -> None:
        """Called when a session starts; raise ``ValueError`` to refuse its descriptor."""

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        """Inferences for one frame."""
        raise NotImplementedError

    def process_batch(
        self, frames: Sequence[Frame], session: SessionInfo
    ) -> Sequence[Sequence[Inference]]:
        """Inferences for each frame of a batch, in the same order (Q3)."""
        return [self.process(frame, session) for frame in frames]

    def close(self, session: SessionInfo) -> None:
        """Called when a session ends, however it ends."""


class FunctionProcessor(Processor):
    """Adapts a plain function ``frame -> inferences`` to the :class:`Processor` API."""

    def __init__(self, function: Callable[[Frame], Sequence[Inference]]) -> None:
        self.function = function

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        return self.function(frame)


def classification(tag: str, confidence: float = 1.0) -> Inference:
    """A ``CLASSIFICATION`` inference with one tag, its type set explicitly (R1)."""
    return Inference(
        type=Inference.InferenceType.CLASSIFICATION,
        classification=inferencing_pb2.Classification(
            tag=inferencing_pb2.Tag(value=tag, confidence=confidence)
        ),
    )


def entity(
    tag: str, box: tuple[float, float, float, float], confidence: float = 1.0, id: str = ""
) -> Inference:
    """An ``ENTITY`` inference: a tagged box ``(l, t, w, h)`` normalised to 0–1 (R2)."""
    left, top, width, height = box
    return Inference(
        type=Inference.InferenceType.ENTITY,
        entity=inferencing_pb2.Entity(
            tag=inferencing_pb2.Tag(value=tag, confidence=confidence),
            box=inferencing_pb2.Rectangle(l=left, t=top, w=width, h=height),
            id=id,
        ),
    )
