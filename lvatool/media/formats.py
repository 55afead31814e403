"""Frame formats: encodings, RAW pixel formats and the byte sizes they imply (protocol.md §2).

Sizes live here, apart from any conversion code, because the protocol layer must check a
sample's length against its descriptor before anyone decodes a single pixel.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Encoding(enum.IntEnum):
    """How a frame's bytes are encoded; values equal ``VideoFrameSampleFormat.Encoding``."""

    BMP = 0
    JPG = 1
    PNG = 2
    RAW = 3


class PixelFormat(enum.IntEnum):
    """Layout of RAW pixels; values equal ``VideoFrameSampleFormat.PixelFormat``.

    Encoded images (BMP/JPG/PNG) use ``NONE``; every other member is a RAW layout.
    """

    NONE = 0
    YUV420P = 20
    RGB565BE = 40
    RGB565LE = 41
    RGB555BE = 42
    RGB555LE = 43
    RGB24 = 60
    BGR24 = 61
    ARGB = 80
    RGBA = 81
    ABGR = 82
    BGRA = 83


RAW_PIXEL_FORMATS: tuple[PixelFormat, ...] = tuple(
    fmt for fmt in PixelFormat if fmt is not PixelFormat.NONE
)
"""Every pixel format a RAW frame may declare, in protobuf enum order."""

# Bytes per sample in the first (for YUV420P: luma) plane. YUV420P's 1 is the luma row only;
# its chroma planes are accounted for in raw_frame_size.
_ROW_BYTES_PER_PIXEL: dict[PixelFormat, int] = {
    PixelFormat.YUV420P: 1,
    PixelFormat.RGB565BE: 2,
    PixelFormat.RGB565LE: 2,
    PixelFormat.RGB555BE: 2,
    PixelFormat.RGB555LE: 2,
    PixelFormat.RGB24: 3,
    PixelFormat.BGR24: 3,
    PixelFormat.ARGB: 4,
    PixelFormat.RGBA: 4,
    PixelFormat.ABGR: 4,
    PixelFormat.BGRA: 4,
}


def _half_up(n: int) -> int:
    """ceil(n / 2): chroma planes cover odd edges with a half-filled block."""
    return (n + 1) // 2


def _check_dimensions(width: int, height: int) -> None:
    """Reject sizes no frame can have, so later arithmetic never yields a negative size."""
    if width <= 0 or height <= 0:
        raise ValueError(f"frame dimensions must be positive, got {width}x{height}")


def row_bytes(fmt: PixelFormat, width: int) -> int:
    """Bytes of one row of samples: the smallest legal ``stride_bytes`` (YUV420P: luma row).

    Raises ValueError for ``NONE``, which has no pixel layout, and for a negative width.
    """
    if width < 0:
        raise ValueError(f"width must not be negative, got {width}")
    try:
        per_pixel = _ROW_BYTES_PER_PIXEL[PixelFormat(fmt)]
    except (KeyError, ValueError):
        raise ValueError(f"{fmt!r} is not a RAW pixel format") from None
    return per_pixel * width


def _stride(fmt: PixelFormat, width: int, stride: int) -> int:
    """The stride in effect: 0 means unpadded rows; anything shorter than a row is an error."""
    minimum = row_bytes(fmt, width)
    if stride == 0:
        return minimum
    if stride < minimum:
        raise ValueError(
            f"stride_bytes {stride} is smaller than one row of {PixelFormat(fmt).name} "
            f"at width {width} ({minimum} bytes)"
        )
    return stride


def raw_frame_size(fmt: PixelFormat, width: int, height: int, stride: int = 0) -> int:
    """Bytes of one RAW frame as a writer lays it out (stride 0 means ``row_bytes``).

    For YUV420P each chroma plane has ceil(height/2) rows of ceil(stride/2) bytes, the
    [decision] of protocol.md §2, so a padded luma stride pads the chroma rows too.
    """
    _check_dimensions(width, height)
    stride = _stride(fmt, width, stride)
    size = stride * height
    if fmt == PixelFormat.YUV420P:
        size += 2 * _half_up(height) * _half_up(stride)
    return size


def accepted_raw_sizes(
    fmt: PixelFormat, width: int, height: int, stride: int = 0
) -> tuple[int, ...]:
    """Every length a reader accepts for this frame, the writer's size first.

    YUV420P readers also accept tightly packed chroma rows of ceil(width/2) bytes, which
    some producers emit even with a padded luma stride (protocol.md §2).
    """
    size = raw_frame_size(fmt, width, height, stride)
    if fmt != PixelFormat.YUV420P:
        return (size,)
    stride = _stride(fmt, width, stride)
    tight = stride * height + 2 * _half_up(height) * _half_up(width)
    return (size,) if tight == size else (size, tight)


@dataclass(frozen=True)
class FrameFormat:
    """The video format a stream descriptor declares: encoding and, for RAW, the layout."""

    encoding: Encoding
    pixel_format: PixelFormat = PixelFormat.NONE
    width: int = 0
    height: int = 0
    stride_bytes: int = 0

    @property
    def effective_stride(self) -> int:
        """Row pitch in bytes: ``stride_bytes``, or the unpadded row size when it is 0.

        Raises ValueError when ``pixel_format`` is not a RAW layout (encoded images).
        """
        return self.stride_bytes or row_bytes(self.pixel_format, self.width)

    def raw_size(self) -> int:
        """Bytes of one RAW frame in this format (see :func:`raw_frame_size`).

        Raises ValueError for encoded images, whose size depends on their content.
        """
        if self.encoding != Encoding.RAW:
            raise ValueError(f"{self.encoding.name} frames have no fixed size")
        return raw_frame_size(self.pixel_format, self.width, self.height, self.stride_bytes)
