"""Test frames and the messages that carry them."""

from __future__ import annotations

import numpy as np

from lvatool.contract import extension_pb2
from lvatool.media import Encoding, FrameFormat, PixelFormat, encode_image, rgb_to_raw
from lvatool.protocol import SharedMemoryTransfer, StreamSpec, descriptor_from_spec

Message = extension_pb2.MediaStreamMessage


def flat(value: int, width: int = 33, height: int = 17) -> np.ndarray:
    """A frame of one grey level with a little texture, so codecs have work to do."""
    rng = np.random.default_rng(value)
    noise = rng.integers(-8, 9, size=(height, width, 3))
    return np.clip(value + noise, 0, 255).astype(np.uint8)


DARK, LIGHT = flat(40), flat(210)


def encode(rgb: np.ndarray, frame: FrameFormat) -> bytes:
    """``rgb`` in the given format (RAW with its pixel format and stride)."""
    if frame.encoding is Encoding.RAW:
        return rgb_to_raw(rgb, frame.pixel_format, frame.stride_bytes)
    return encode_image(rgb, frame.encoding)


def raw_format(
    rgb: np.ndarray, pixel_format: PixelFormat = PixelFormat.BGR24, stride: int = 0
) -> FrameFormat:
    height, width = rgb.shape[:2]
    return FrameFormat(Encoding.RAW, pixel_format, width, height, stride)


def descriptor(
    frame: FrameFormat, shm: SharedMemoryTransfer | None = None, config: str = ""
) -> Message:
    spec = StreamSpec(frame, shared_memory=shm, extension_configuration=config, identifier="test")
    return Message(sequence_number=1, media_stream_descriptor=descriptor_from_spec(spec))


def sample(sequence: int, content: bytes, timestamp: int | None = None) -> Message:
    message = Message(sequence_number=sequence)
    message.media_sample.timestamp = sequence * 3000 if timestamp is None else timestamp
    message.media_sample.content_bytes.bytes = content
    return message


def reference(sequence: int, offset: int, length: int) -> Message:
    message = Message(sequence_number=sequence)
    message.media_sample.timestamp = sequence * 3000
    message.media_sample.content_reference.address_offset = offset
    message.media_sample.content_reference.length_bytes = length
    return message


def label(response: Message) -> str:
    """The dark/light tag of a response."""
    (inference,) = response.media_sample.inferences
    return str(inference.classification.tag.value)
