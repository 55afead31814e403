"""Shared internals of raw.py and luma.py: byte layouts of the RAW formats and buffer views.

Both modules read the same bytes, one to convert whole frames and one to summarise them,
so the layout facts (where each channel sits, how 16-bit words split) are written once here.

Two performance rules shape the code. Work is done a channel plane at a time, because
numpy is slow on a 3- or 4-byte inner axis and on fancy indexing (a 65536-entry lookup
table for 16-bit pixels measured 20 ms a 1080p frame). Whole-frame temporaries are
avoided by working in bands of rows (``BAND_ROWS``): malloc hands multi-megabyte blocks
back to the OS when freed, and faulting them in again measured ~2.4 us per 4 KiB page
here, over 2 ms for one 4 MB temporary, more than the arithmetic on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from lvatool.media.formats import PixelFormat, accepted_raw_sizes

U8Array: TypeAlias = npt.NDArray[np.uint8]
U16Array: TypeAlias = npt.NDArray[np.uint16]
Buffer: TypeAlias = bytes | bytearray | memoryview | npt.NDArray[np.generic]

BAND_ROWS = 128
"""Rows processed at once: even (YUV420P chroma rows pair up) and at most 257 (sums)."""

# Byte positions of R, G, B within each pixel, plus the alpha byte, if any.
PACKED: dict[PixelFormat, tuple[tuple[int, int, int], int | None]] = {
    PixelFormat.RGB24: ((0, 1, 2), None),
    PixelFormat.BGR24: ((2, 1, 0), None),
    PixelFormat.ARGB: ((1, 2, 3), 0),
    PixelFormat.RGBA: ((0, 1, 2), 3),
    PixelFormat.ABGR: ((3, 2, 1), 0),
    PixelFormat.BGRA: ((2, 1, 0), 3),
}

# 16-bit formats: byte order of the word, and bits of green (6 for 565, 5 for 555).
PACKED16: dict[PixelFormat, tuple[str, int]] = {
    PixelFormat.RGB565BE: (">", 6),
    PixelFormat.RGB565LE: ("<", 6),
    PixelFormat.RGB555BE: (">", 5),
    PixelFormat.RGB555LE: ("<", 5),
}


def bands(height: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``BAND_ROWS`` rows covering ``height`` rows."""
    for start in range(0, height, BAND_ROWS):
        yield slice(start, min(start + BAND_ROWS, height))


def _expand(values: U16Array, bits: int) -> U16Array:
    """Widen ``bits``-bit values to 8 bits by bit replication (0 -> 0, all ones -> 255)."""
    return (values << np.uint16(8 - bits)) | (values >> np.uint16(2 * bits - 8))


def unpack16(pixels: U8Array, fmt: PixelFormat) -> tuple[U16Array, U16Array, U16Array]:
    """R, G, B planes (values 0-255, as uint16) of (H, W*2) bytes of 565/555 words.

    The words are first copied to native, aligned uint16 (an odd stride or big-endian
    words would otherwise push every later operation onto numpy's slow buffered path);
    555's unused top bit is ignored.
    """
    order, green_bits = PACKED16[fmt]
    words = pixels.view(order + "u2").astype(np.uint16)
    red = (words >> np.uint16(5 + green_bits)) & np.uint16(31)
    green = (words >> np.uint16(5)) & np.uint16((1 << green_bits) - 1)
    blue = words & np.uint16(31)
    return _expand(red, 5), _expand(green, green_bits), _expand(blue, 5)


def pack16(rgb: U8Array, fmt: PixelFormat) -> U8Array:
    """(H, W*2) bytes of 565/555 words of an RGB array: channels truncated, 555's top bit 0."""
    order, green_bits = PACKED16[fmt]
    red, green, blue = (rgb[..., i].astype(np.uint16) for i in range(3))
    red >>= np.uint16(3)
    red <<= np.uint16(5 + green_bits)
    green >>= np.uint16(8 - green_bits)
    green <<= np.uint16(5)
    red |= green
    blue >>= np.uint16(3)
    red |= blue
    return red.astype(order + "u2").view(np.uint8)


def byte_array(data: Buffer) -> U8Array:
    """A flat uint8 view of ``data`` without copying (read-only memoryviews stay read-only)."""
    if isinstance(data, np.ndarray):
        flat = np.ascontiguousarray(data).reshape(-1)
        return flat.view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def checked_buffer(data: Buffer, fmt: PixelFormat, width: int, height: int, stride: int) -> U8Array:
    """``data`` as flat bytes, after checking its length against the format.

    The length must be one of ``accepted_raw_sizes``: a reader that guessed at a short or
    long buffer would misplace every row after the first mistake.
    """
    sizes = accepted_raw_sizes(fmt, width, height, stride)
    buf = byte_array(data)
    if buf.size not in sizes:
        expected = " or ".join(str(size) for size in sizes)
        raise ValueError(
            f"RAW {PixelFormat(fmt).name} {width}x{height} frame should be {expected} bytes, "
            f"got {buf.size}"
        )
    return buf


def rows(buf: U8Array, offset: int, count: int, length: int, stride: int) -> U8Array:
    """A (count, length) view of ``count`` rows starting at ``offset``, padding cut off."""
    return buf[offset : offset + count * stride].reshape(count, stride)[:, :length]


def check_rgb(rgb: npt.NDArray[np.generic]) -> U8Array:
    """``rgb`` typed as an (H, W, 3) uint8 array with H, W > 0, or ValueError."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected a non-empty (height, width, 3) array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {rgb.dtype}")
    return rgb.view(np.uint8)
