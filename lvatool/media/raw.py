"""RAW pixel buffers to and from RGB arrays, for every pixel format of protocol.md §2.

The simulator writes RAW frames with :func:`rgb_to_raw` and processors read them with
:func:`raw_to_rgb`; both are vectorised numpy, a few milliseconds for a 1080p frame.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lvatool.media._layout import (
    PACKED,
    PACKED16,
    Buffer,
    U8Array,
    bands,
    check_rgb,
    checked_buffer,
    pack16,
    rows,
    unpack16,
)
from lvatool.media._yuv import rgb_to_yuv420p, yuv420p_to_rgb
from lvatool.media.formats import PixelFormat, raw_frame_size, row_bytes


def rgb_to_raw(rgb: npt.NDArray[np.generic], fmt: PixelFormat, stride: int = 0) -> bytes:
    """``rgb`` ((H, W, 3) uint8) as one RAW frame in ``fmt``, rows padded with 0 to ``stride``.

    ``stride`` 0 means unpadded rows. Raises ValueError for a stride shorter than a row,
    naming ``stride_bytes`` because that is the descriptor field the caller got wrong.
    Alpha bytes are written opaque (255).
    """
    pixels = check_rgb(rgb)
    fmt = PixelFormat(fmt)
    height, width = pixels.shape[:2]
    raw_frame_size(fmt, width, height, stride)  # validates fmt and stride
    size = row_bytes(fmt, width)
    stride = stride or size
    if fmt is PixelFormat.YUV420P:
        return rgb_to_yuv420p(pixels, stride)
    if fmt is PixelFormat.RGB24 and stride == size:
        return pixels.tobytes()
    out = np.zeros((height, stride), dtype=np.uint8)
    if fmt in PACKED16:
        for band in bands(height):
            out[band, :size] = pack16(pixels[band], fmt)
        return out.tobytes()
    positions, alpha = PACKED[fmt]
    step = size // width
    for channel, position in enumerate(positions):
        out[:, position:size:step] = pixels[..., channel]
    if alpha is not None:
        out[:, alpha:size:step] = 255
    return out.tobytes()


def raw_to_rgb(data: Buffer, fmt: PixelFormat, width: int, height: int, stride: int = 0) -> U8Array:
    """One RAW frame as a new (H, W, 3) uint8 RGB array; the buffer is only read.

    Raises ValueError when the length is not one of ``accepted_raw_sizes``. 5- and 6-bit
    channels are widened by bit replication so full scale stays full scale (31 -> 255).
    YUV420P accepts chroma rows padded like the luma stride or tightly packed.
    """
    fmt = PixelFormat(fmt)
    buf = checked_buffer(data, fmt, width, height, stride)
    stride = stride or row_bytes(fmt, width)
    if fmt is PixelFormat.YUV420P:
        padded = buf.size == raw_frame_size(fmt, width, height, stride)
        chroma_stride = ((stride if padded else width) + 1) // 2
        return yuv420p_to_rgb(buf, width, height, stride, chroma_stride)
    pixels = rows(buf, 0, height, row_bytes(fmt, width), stride)
    if fmt is PixelFormat.RGB24:
        return pixels.reshape(height, width, 3).copy()
    out = np.empty((height, width, 3), dtype=np.uint8)
    if fmt in PACKED16:
        for band in bands(height):
            for channel, plane in enumerate(unpack16(pixels[band], fmt)):
                out[band, :, channel] = plane
        return out
    positions, _ = PACKED[fmt]
    step = pixels.shape[1] // width
    for channel, position in enumerate(positions):
        out[..., channel] = pixels[:, position::step]
    return out
