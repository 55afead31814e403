"""YUV420P planes to and from RGB, full-range BT.601 as JPEG/JFIF defines it.

JFIF's equations are the usual choice for full-range 8-bit video and make Y equal to the
R4 luma, so a frame's dark/light label does not depend on the format that carried it.
Arithmetic is exact (integers, or float32 where every value is an integer below 2**24),
with JFIF's coefficients scaled to whole numbers, so a frame converts to the same bytes on
every machine and rounding is exactly half up.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from lvatool.media._layout import BAND_ROWS, U8Array, bands, rows

I32Array: TypeAlias = npt.NDArray[np.int32]
F32Array: TypeAlias = npt.NDArray[np.float32]

# Chroma coefficients of JFIF scaled by 10**6. With chroma taken from sums of 4 pixels
# every intermediate fits int32 (|value| < 1.1e9).
_SCALE = 1_000_000
_CB = (-168_736, -331_264, 500_000)
_CR = (500_000, -418_688, -81_312)

# Y = floor((299 R + 587 G + 114 B + 500) / 1000) computed in float32, which is exact:
# the weighted sum is an integer below 2**24, and float32(0.001) is a hair above 0.001, so
# multiplying by it never drops an exact multiple of 1000 below its quotient nor lifts
# anything else up to the next one (the error is < 2e-5, the gap to it >= 1e-3). float32
# matmul measured 2.5x faster than the same integer arithmetic in uint32.
_LUMA_WEIGHTS = np.array([299, 587, 114], dtype=np.float32)
_THOUSANDTH = np.float32(0.001)
# Sums horizontal pixel pairs: (3, 6) @ (6, N) columns of two RGB pixels -> (3, N) planes.
_PAIR_SUM_T = np.hstack([np.eye(3, dtype=np.float32)] * 2)


class _Scratch:
    """Band-sized work arrays for the encoder, allocated once per frame and reused.

    Band-sized temporaries allocated afresh may be page-faulted in on every band (see
    _layout); these are faulted in at most once per frame.
    """

    def __init__(self, width: int) -> None:
        # width is even here (odd widths are padded by one column).
        blocks = BAND_ROWS // 2 * width // 2
        self.pixels = np.empty((BAND_ROWS, width, 3), dtype=np.float32)
        self.luma = np.empty((BAND_ROWS, width), dtype=np.float32)
        self.vertical = np.empty((BAND_ROWS // 2, width * 3), dtype=np.float32)
        self.sums_f32 = np.empty((3, blocks), dtype=np.float32)
        self.sums = np.empty((3, blocks), dtype=np.int32)
        self.chroma = np.empty((2, blocks), dtype=np.int32)


def _luma(pixels: F32Array, out: U8Array, scratch: F32Array) -> None:
    """Y = round-half-up(0.299 R + 0.587 G + 0.114 B) of (rows, width, 3) into ``out``."""
    luma = scratch[: pixels.shape[0], : pixels.shape[1]]
    np.matmul(pixels, _LUMA_WEIGHTS, out=luma)
    luma += 500
    luma *= _THOUSANDTH
    np.floor(luma, out=luma)
    out[...] = luma


def _block_sums(pixels: F32Array, scratch: _Scratch) -> I32Array:
    """(3, blocks) R, G, B sums over each 2x2 block of an even-sized (rows, width, 3) array.

    Vertical pairs are added first (whole rows, contiguous), then horizontal pairs by a
    small matmul laid out to return planes: both avoid numpy's slow path for a 3-wide
    inner axis, and planes keep the chroma arithmetic contiguous. Sums are exact (<= 1020).
    """
    height, width = pixels.shape[:2]
    blocks = height // 2 * width // 2
    row_pairs = pixels.reshape(height // 2, 2, width * 3)
    vertical = scratch.vertical[: height // 2]
    np.add(row_pairs[:, 0], row_pairs[:, 1], out=vertical)
    sums_f32, sums = scratch.sums_f32[:, :blocks], scratch.sums[:, :blocks]
    np.matmul(_PAIR_SUM_T, vertical.reshape(-1, 6).T, out=sums_f32)
    sums[...] = sums_f32
    return sums


def _chroma(sums: I32Array, coef: tuple[int, int, int], out: I32Array) -> I32Array:
    """Round-half-up of 128 + coef·(mean R, G, B) of 2x2 blocks, given their channel sums.

    The numerator is at least 0.5 * 4 * _SCALE for every RGB input, so floor division of
    non-negative numbers rounds as intended; 255.5 rounds to 256, hence the clamp.
    """
    den = 4 * _SCALE
    np.multiply(sums[0], coef[0], out=out)
    for channel in (1, 2):
        out += coef[channel] * sums[channel]
    out += 128 * den + den // 2
    out //= den
    np.minimum(out, 255, out=out)
    return out


def rgb_to_yuv420p(rgb: U8Array, stride: int) -> bytes:
    """Y plane (``stride`` bytes a row), then U and V (ceil(stride/2) bytes a row), padding 0.

    Chroma is the mean over each 2x2 block; blocks on odd edges use the pixels they have.
    """
    height, width = rgb.shape[:2]
    c_height, c_width, c_stride = (height + 1) // 2, (width + 1) // 2, (stride + 1) // 2
    out = np.zeros(stride * height + 2 * c_height * c_stride, dtype=np.uint8)
    u_offset = stride * height
    v_offset = u_offset + c_height * c_stride
    y_plane = rows(out, 0, height, width, stride)
    u_plane = rows(out, u_offset, c_height, c_width, c_stride)
    v_plane = rows(out, v_offset, c_height, c_width, c_stride)
    scratch = _Scratch(2 * c_width)
    for band in bands(height):  # bands start on even rows, so chroma rows split cleanly
        part = rgb[band]
        count = band.stop - band.start
        chroma_band = slice(band.start // 2, (band.stop + 1) // 2)
        if count % 2 or width % 2:
            # Repeating the last row/column makes each edge block's sum four times the mean
            # of the pixels it really has: edge blocks average what is there.
            part = np.pad(part, ((0, count % 2), (0, width % 2), (0, 0)), mode="edge")
        pixels = scratch.pixels[: part.shape[0]]
        pixels[...] = part
        _luma(pixels[:count, :width], y_plane[band], scratch.luma)
        sums = _block_sums(pixels, scratch)
        blocks = sums.shape[1]
        c_rows = chroma_band.stop - chroma_band.start
        for plane, coef, work in zip((u_plane, v_plane), (_CB, _CR), scratch.chroma, strict=True):
            chroma = _chroma(sums, coef, work[:blocks])
            plane[chroma_band] = chroma.reshape(c_rows, c_width)
    return out.tobytes()


def yuv420p_to_rgb(
    buf: U8Array, width: int, height: int, stride: int, chroma_stride: int
) -> U8Array:
    """Decode planes laid out as :func:`rgb_to_yuv420p` writes them (any chroma row pitch).

    Each chroma sample's R, G, B offsets are rounded once per 2x2 block and added to the
    integer Y: the same result as rounding per pixel, at a quarter of the work.
    """
    c_height, c_width = (height + 1) // 2, (width + 1) // 2
    u_offset = stride * height
    v_offset = u_offset + c_height * chroma_stride
    y_plane = rows(buf, 0, height, width, stride)
    u_plane = rows(buf, u_offset, c_height, c_width, chroma_stride)
    v_plane = rows(buf, v_offset, c_height, c_width, chroma_stride)
    out = np.empty((height, width, 3), dtype=np.uint8)
    for band in bands(height):
        chroma_band = slice(band.start // 2, (band.stop + 1) // 2)
        count = band.stop - band.start
        c_count = chroma_band.stop - chroma_band.start
        u = u_plane[chroma_band].astype(np.int32) - 128
        v = v_plane[chroma_band].astype(np.int32) - 128
        # floor(x + 0.5) of 1.402 V, -0.344136 U - 0.714136 V and 1.772 U, in integers.
        offsets = (
            (1402 * v + 500) // 1000,
            (-344_136 * u - 714_136 * v + 500_000) // 1_000_000,
            (1772 * u + 500) // 1000,
        )
        luma = np.zeros((2 * c_count, 2 * c_width), dtype=np.int16)
        luma[:count, :width] = y_plane[band]
        luma_pairs = luma.reshape(c_count, 2, 2 * c_width)  # row pairs sharing chroma
        step = np.empty((c_count, 2 * c_width), dtype=np.int16)
        for channel, offset in enumerate(offsets):
            step[:, 0::2] = offset
            step[:, 1::2] = offset
            value = luma_pairs + step[:, None, :]
            np.clip(value, 0, 255, out=value)
            out[band, :, channel] = value.reshape(2 * c_count, 2 * c_width)[:count, :width]
    return out
