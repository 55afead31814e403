"""RAW pixel formats: layouts byte by byte, and round trips for every format (protocol.md §2).

The round trips run on odd widths and heights and on padded, odd strides, where
off-by-one mistakes in row and chroma-plane arithmetic show up.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lvatool.media import (
    RAW_PIXEL_FORMATS,
    PixelFormat,
    accepted_raw_sizes,
    raw_frame_size,
    raw_to_rgb,
    rgb_to_raw,
    row_bytes,
)

SIXTEEN_BIT = (
    PixelFormat.RGB565BE,
    PixelFormat.RGB565LE,
    PixelFormat.RGB555BE,
    PixelFormat.RGB555LE,
)
PACKED = tuple(f for f in RAW_PIXEL_FORMATS if f is not PixelFormat.YUV420P)
WIDE = tuple(f for f in PACKED if f not in SIXTEEN_BIT)  # 24- and 32-bit
ALPHA_BYTE = {PixelFormat.ARGB: 0, PixelFormat.RGBA: 3, PixelFormat.ABGR: 0, PixelFormat.BGRA: 3}

examples = settings(max_examples=50, deadline=None)
sides = st.integers(1, 40)
paddings = st.one_of(st.just(0), st.integers(1, 13))  # extra bytes per row; 0 = stride 0


def stride_for(fmt: PixelFormat, width: int, padding: int) -> int:
    return row_bytes(fmt, width) + padding if padding else 0


def rgb_arrays(height: int, width: int) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.uint8, (height, width, 3))


@st.composite
def valid_raw(draw: st.DrawFn, fmt: PixelFormat) -> tuple[bytes, int, int, int]:
    """Raw bytes a writer could produce: zero padding, 555 top bit 0, opaque alpha."""
    width, height, padding = draw(sides), draw(sides), draw(paddings)
    size = row_bytes(fmt, width)
    samples = draw(arrays(np.uint8, (height, size)))
    if fmt in SIXTEEN_BIT and fmt.name.startswith("RGB555"):
        high_byte = 0 if fmt.name.endswith("BE") else 1
        samples[:, high_byte::2] &= 0x7F
    if fmt in ALPHA_BYTE:
        samples[:, ALPHA_BYTE[fmt] :: 4] = 255
    stride = stride_for(fmt, width, padding)
    frame = np.zeros((height, stride or size), dtype=np.uint8)
    frame[:, :size] = samples
    return frame.tobytes(), width, height, stride


def quantise(rgb: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """What a 565/555 round trip keeps: the top bits, widened again by replication."""
    bits = (5, 6 if fmt.name.startswith("RGB565") else 5, 5)
    out = np.empty_like(rgb)
    for channel, kept in enumerate(bits):
        value = rgb[..., channel].astype(np.int32) >> (8 - kept)
        out[..., channel] = (value << (8 - kept)) | (value >> (2 * kept - 8))
    return out


@pytest.mark.parametrize("fmt", PACKED, ids=lambda f: f.name)
@examples
@given(data=st.data())
def test_packed_raw_to_rgb_to_raw_is_exact(fmt: PixelFormat, data: st.DataObject) -> None:
    raw, width, height, stride = data.draw(valid_raw(fmt))
    rgb = raw_to_rgb(raw, fmt, width, height, stride)
    assert rgb.shape == (height, width, 3)
    assert rgb.dtype == np.uint8
    assert rgb_to_raw(rgb, fmt, stride) == raw


@pytest.mark.parametrize("fmt", WIDE, ids=lambda f: f.name)
@examples
@given(data=st.data())
def test_wide_rgb_to_raw_to_rgb_is_exact(fmt: PixelFormat, data: st.DataObject) -> None:
    width, height, padding = data.draw(sides), data.draw(sides), data.draw(paddings)
    rgb = data.draw(rgb_arrays(height, width))
    stride = stride_for(fmt, width, padding)
    raw = rgb_to_raw(rgb, fmt, stride)
    assert len(raw) == raw_frame_size(fmt, width, height, stride)
    np.testing.assert_array_equal(raw_to_rgb(raw, fmt, width, height, stride), rgb)


@pytest.mark.parametrize("fmt", SIXTEEN_BIT, ids=lambda f: f.name)
@examples
@given(data=st.data())
def test_16_bit_rgb_to_raw_to_rgb_quantises(fmt: PixelFormat, data: st.DataObject) -> None:
    width, height, padding = data.draw(sides), data.draw(sides), data.draw(paddings)
    rgb = data.draw(rgb_arrays(height, width))
    stride = stride_for(fmt, width, padding)
    raw = rgb_to_raw(rgb, fmt, stride)
    assert len(raw) == raw_frame_size(fmt, width, height, stride)
    np.testing.assert_array_equal(raw_to_rgb(raw, fmt, width, height, stride), quantise(rgb, fmt))


@st.composite
def blocky_rgb(draw: st.DrawFn) -> np.ndarray:
    """An image of flat 2x2 blocks (cut at odd edges): what 4:2:0 chroma can carry."""
    width, height = draw(sides), draw(sides)
    blocks = draw(arrays(np.uint8, ((height + 1) // 2, (width + 1) // 2, 3)))
    return np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)[:height, :width]


def tight_chroma(raw: bytes, width: int, height: int, stride: int) -> bytes:
    """The same YUV420P frame with chroma rows of ceil(width/2) bytes."""
    stride = stride or width
    c_rows, c_stride, c_width = (height + 1) // 2, (stride + 1) // 2, (width + 1) // 2
    luma = raw[: stride * height]
    chroma = np.frombuffer(raw[stride * height :], dtype=np.uint8).reshape(2 * c_rows, c_stride)
    return luma + chroma[:, :c_width].tobytes()


@examples
@given(rgb=blocky_rgb(), padding=paddings)
def test_yuv420p_round_trip_is_close_and_accepts_tight_chroma(
    rgb: np.ndarray, padding: int
) -> None:
    height, width = rgb.shape[:2]
    stride = stride_for(PixelFormat.YUV420P, width, padding)
    raw = rgb_to_raw(rgb, PixelFormat.YUV420P, stride)
    assert len(raw) == raw_frame_size(PixelFormat.YUV420P, width, height, stride)
    back = raw_to_rgb(raw, PixelFormat.YUV420P, width, height, stride)
    # Y, U and V each lose up to 0.5 to rounding; the inverse amplifies that to < 2.
    assert np.abs(back.astype(int) - rgb).max() <= 2

    tight = tight_chroma(raw, width, height, stride)
    assert len(tight) in accepted_raw_sizes(PixelFormat.YUV420P, width, height, stride)
    np.testing.assert_array_equal(
        raw_to_rgb(tight, PixelFormat.YUV420P, width, height, stride), back
    )


@examples
@given(rgb=blocky_rgb(), padding=paddings)
def test_yuv420p_padding_is_zero(rgb: np.ndarray, padding: int) -> None:
    height, width = rgb.shape[:2]
    stride = width + padding
    raw = np.frombuffer(rgb_to_raw(rgb, PixelFormat.YUV420P, stride), dtype=np.uint8)
    luma = raw[: stride * height].reshape(height, stride)
    assert not luma[:, width:].any()
    c_stride, c_width = (stride + 1) // 2, (width + 1) // 2
    chroma = raw[stride * height :].reshape(-1, c_stride)
    assert not chroma[:, c_width:].any()


@pytest.mark.parametrize("fmt", PACKED, ids=lambda f: f.name)
def test_packed_padding_is_zero(fmt: PixelFormat) -> None:
    rgb = np.full((3, 5, 3), 200, dtype=np.uint8)
    stride = row_bytes(fmt, 5) + 7
    raw = np.frombuffer(rgb_to_raw(rgb, fmt, stride), dtype=np.uint8).reshape(3, stride)
    assert not raw[:, row_bytes(fmt, 5) :].any()


@pytest.mark.parametrize(
    ("fmt", "pixel"),
    [
        (PixelFormat.RGB24, b"\x01\x02\x03"),
        (PixelFormat.BGR24, b"\x03\x02\x01"),
        (PixelFormat.ARGB, b"\xff\x01\x02\x03"),
        (PixelFormat.RGBA, b"\x01\x02\x03\xff"),
        (PixelFormat.ABGR, b"\xff\x03\x02\x01"),
        (PixelFormat.BGRA, b"\x03\x02\x01\xff"),
    ],
)
def test_wide_byte_order(fmt: PixelFormat, pixel: bytes) -> None:
    rgb = np.array([[[1, 2, 3]]], dtype=np.uint8)
    assert rgb_to_raw(rgb, fmt) == pixel


@pytest.mark.parametrize(
    ("fmt", "red", "green", "blue"),
    [
        (PixelFormat.RGB565BE, b"\xf8\x00", b"\x07\xe0", b"\x00\x1f"),
        (PixelFormat.RGB565LE, b"\x00\xf8", b"\xe0\x07", b"\x1f\x00"),
        (PixelFormat.RGB555BE, b"\x7c\x00", b"\x03\xe0", b"\x00\x1f"),
        (PixelFormat.RGB555LE, b"\x00\x7c", b"\xe0\x03", b"\x1f\x00"),
    ],
)
def test_16_bit_layout(fmt: PixelFormat, red: bytes, green: bytes, blue: bytes) -> None:
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    assert rgb_to_raw(rgb, fmt) == red + green + blue
    np.testing.assert_array_equal(raw_to_rgb(red + green + blue, fmt, 3, 1), rgb)


def test_555_ignores_the_top_bit_when_reading() -> None:
    with_top_bit = bytes([0x80 | 0x7C, 0x00])
    np.testing.assert_array_equal(
        raw_to_rgb(with_top_bit, PixelFormat.RGB555BE, 1, 1), [[[255, 0, 0]]]
    )


def test_5_and_6_bit_channels_widen_by_bit_replication() -> None:
    # r5 = 0b10000 -> 0b10000100; g6 = 0b100000 -> 0b10000010; b5 = 1 -> 0b00001000.
    word = (0b10000 << 11) | (0b100000 << 5) | 0b00001
    rgb = raw_to_rgb(word.to_bytes(2, "big"), PixelFormat.RGB565BE, 1, 1)
    assert rgb.tolist() == [[[0b10000100, 0b10000010, 0b00001000]]]


def test_yuv420p_known_values() -> None:
    # One 2x2 block each of black, white and red; JFIF: red is Y 76, Cb 85, Cr 255.5 -> 255.
    rgb = np.zeros((2, 6, 3), dtype=np.uint8)
    rgb[:, 2:4] = 255
    rgb[:, 4:6] = (255, 0, 0)
    raw = rgb_to_raw(rgb, PixelFormat.YUV420P)
    assert list(raw[:12]) == [0, 0, 255, 255, 76, 76] * 2
    assert list(raw[12:15]) == [128, 128, 85]  # U
    assert list(raw[15:18]) == [128, 128, 255]  # V


def test_yuv420p_odd_edge_chroma_averages_available_pixels() -> None:
    # 1x3: the first chroma sample covers two blue pixels, the second one white pixel.
    rgb = np.array([[[0, 0, 255], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    raw = rgb_to_raw(rgb, PixelFormat.YUV420P)
    assert len(raw) == 3 + 2 + 2
    u, v = raw[3:5], raw[5:7]
    assert list(u) == [255, 128]  # Cb of blue is 255.5 -> 255; white is 128
    assert list(v) == [107, 128]  # Cr of blue: 128 - 0.081312 * 255 = 107.27


def test_raw_to_rgb_reads_read_only_memoryviews_and_arrays() -> None:
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    raw = rgb_to_raw(rgb, PixelFormat.BGRA, stride=16)
    view = memoryview(raw)
    assert view.readonly
    for data in (view, np.frombuffer(raw, dtype=np.uint8), bytearray(raw)):
        np.testing.assert_array_equal(raw_to_rgb(data, PixelFormat.BGRA, 3, 2, 16), rgb)


def test_raw_to_rgb_returns_a_new_writable_array() -> None:
    rgb = np.full((2, 2, 3), 7, dtype=np.uint8)
    raw = rgb_to_raw(rgb, PixelFormat.RGB24)
    back = raw_to_rgb(raw, PixelFormat.RGB24, 2, 2)
    back[0, 0, 0] = 9  # would raise if it were a view of the bytes
    assert raw == rgb_to_raw(rgb, PixelFormat.RGB24)


@pytest.mark.parametrize("fmt", RAW_PIXEL_FORMATS, ids=lambda f: f.name)
def test_wrong_length_raises_naming_the_sizes(fmt: PixelFormat) -> None:
    size = raw_frame_size(fmt, 5, 3, row_bytes(fmt, 5) + 3)
    with pytest.raises(ValueError, match=rf"should be {size}\b.*got {size - 1}"):
        raw_to_rgb(bytes(size - 1), fmt, 5, 3, row_bytes(fmt, 5) + 3)


def test_stride_too_small_raises_naming_stride_bytes() -> None:
    rgb = np.zeros((2, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="stride_bytes 11"):
        rgb_to_raw(rgb, PixelFormat.RGB24, stride=11)
    with pytest.raises(ValueError, match="stride_bytes"):
        raw_to_rgb(bytes(100), PixelFormat.RGB24, 4, 2, 11)


def test_rgb_must_be_height_width_3_uint8() -> None:
    with pytest.raises(ValueError, match="shape"):
        rgb_to_raw(np.zeros((2, 2), dtype=np.uint8), PixelFormat.RGB24)
    with pytest.raises(ValueError, match="uint8"):
        rgb_to_raw(np.zeros((2, 2, 3), dtype=np.float32), PixelFormat.RGB24)
    with pytest.raises(ValueError, match="not a RAW pixel format"):
        rgb_to_raw(np.zeros((2, 2, 3), dtype=np.uint8), PixelFormat.NONE)


def test_1080p_round_trip() -> None:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    for fmt in WIDE:
        raw = rgb_to_raw(rgb, fmt, stride=row_bytes(fmt, 1920) + 64)
        np.testing.assert_array_equal(raw_to_rgb(raw, fmt, 1920, 1080, len(raw) // 1080), rgb)


@settings(max_examples=20, deadline=None)
@given(rgb=arrays(np.uint8, st.tuples(sides, sides, st.just(3))))
def test_yuv420p_luma_is_the_r4_luma_rounded_half_up(rgb: np.ndarray) -> None:
    height, width = rgb.shape[:2]
    raw = rgb_to_raw(rgb, PixelFormat.YUV420P)
    luma = np.frombuffer(raw, dtype=np.uint8)[: width * height].reshape(height, width)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    np.testing.assert_array_equal(luma, (299 * r + 587 * g + 114 * b + 500) // 1000)
