"""Mean luma (R4): the fast RAW path must agree with decoding the frame and averaging it."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lvatool.media import (
    RAW_PIXEL_FORMATS,
    PixelFormat,
    luma_label,
    mean_luma_raw,
    mean_luma_rgb,
    raw_to_rgb,
    rgb_to_raw,
    row_bytes,
)

PACKED = tuple(f for f in RAW_PIXEL_FORMATS if f is not PixelFormat.YUV420P)


@contextmanager
def read_only_mmap(data: bytes) -> Iterator[memoryview]:
    """``data`` in an anonymous mmap, seen through a read-only memoryview (as shm frames are)."""
    mapped = mmap.mmap(-1, len(data))
    mapped.write(data)
    view = memoryview(mapped).toreadonly()
    try:
        yield view
    finally:
        view.release()
        mapped.close()


def luma_by_hand(rgb: np.ndarray) -> float:
    return float((rgb.astype(np.float64) @ [0.299, 0.587, 0.114]).mean())


def y_plane_mean(raw: bytes, width: int, height: int, stride: int) -> float:
    stride = stride or width
    plane = np.frombuffer(raw, dtype=np.uint8)[: stride * height].reshape(height, stride)
    return float(plane[:, :width].mean())


@settings(max_examples=50, deadline=None)
@given(
    fmt=st.sampled_from(RAW_PIXEL_FORMATS),
    data=st.data(),
    padding=st.one_of(st.just(0), st.integers(1, 13)),
)
def test_raw_mean_agrees_with_decoded_mean(
    fmt: PixelFormat, data: st.DataObject, padding: int
) -> None:
    width, height = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
    rgb = data.draw(arrays(np.uint8, (height, width, 3)))
    if fmt is PixelFormat.YUV420P:
        # Flat 2x2 blocks, so chroma subsampling loses nothing and clipping cannot skew
        # the decoded luma (mixed blocks can move it by over 10).
        rgb = np.repeat(np.repeat(rgb, 2, axis=0), 2, axis=1)[:height, :width]
    stride = row_bytes(fmt, width) + padding if padding else 0
    raw = rgb_to_raw(rgb, fmt, stride)
    with read_only_mmap(raw) as view:
        mean = mean_luma_raw(view, fmt, width, height, stride)
    decoded = mean_luma_rgb(raw_to_rgb(raw, fmt, width, height, stride))
    if fmt is PixelFormat.YUV420P:
        assert mean == pytest.approx(y_plane_mean(raw, width, height, stride), abs=1e-9)
        assert mean == pytest.approx(decoded, abs=2.0)  # rounding of Y, U, V
    else:
        assert mean == pytest.approx(decoded, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(rgb=arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))))
def test_rgb_mean_is_the_bt601_luma_mean(rgb: np.ndarray) -> None:
    assert mean_luma_rgb(rgb) == pytest.approx(luma_by_hand(rgb), abs=1e-9)


def test_rgb_mean_accepts_non_contiguous_views() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    view = rgb[::2, 1::3]
    assert mean_luma_rgb(view) == pytest.approx(luma_by_hand(view), abs=1e-9)


@pytest.mark.parametrize("fmt", RAW_PIXEL_FORMATS, ids=lambda f: f.name)
def test_known_values(fmt: PixelFormat) -> None:
    width, height = 6, 4
    for colour, expected in (((0, 0, 0), 0.0), ((255, 255, 255), 255.0), ((255, 0, 0), 76.245)):
        rgb = np.full((height, width, 3), colour, dtype=np.uint8)
        raw = rgb_to_raw(rgb, fmt, row_bytes(fmt, width) + 5)
        mean = mean_luma_raw(raw, fmt, width, height, row_bytes(fmt, width) + 5)
        # YUV420P stores Y rounded to an integer: red's 76.245 becomes 76.
        assert mean == pytest.approx(expected, abs=0.5 if fmt is PixelFormat.YUV420P else 1e-9)
        assert mean_luma_rgb(rgb) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("fmt", RAW_PIXEL_FORMATS, ids=lambda f: f.name)
def test_tall_white_frames_do_not_overflow(fmt: PixelFormat) -> None:
    """More rows than one uint16 block (257) of 255s: block sums must spill correctly."""
    rgb = np.full((600, 7, 3), 255, dtype=np.uint8)
    raw = rgb_to_raw(rgb, fmt)
    assert mean_luma_raw(raw, fmt, 7, 600) == pytest.approx(255.0, abs=1e-9)
    assert mean_luma_rgb(rgb) == pytest.approx(255.0, abs=1e-9)


@pytest.mark.parametrize("fmt", PACKED, ids=lambda f: f.name)
def test_1080p_frame(fmt: PixelFormat) -> None:
    rgb = np.random.default_rng(5).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    raw = rgb_to_raw(rgb, fmt)
    with read_only_mmap(raw) as view:
        mean = mean_luma_raw(view, fmt, 1920, 1080)
    assert mean == pytest.approx(mean_luma_rgb(raw_to_rgb(raw, fmt, 1920, 1080)), abs=1e-9)


def test_yuv420p_tight_chroma_is_accepted() -> None:
    rgb = np.full((3, 3, 3), 200, dtype=np.uint8)
    raw = rgb_to_raw(rgb, PixelFormat.YUV420P, stride=8)
    tight = raw[:24] + bytes(8)  # Y plane, then 2 chroma planes of 2 rows x 2 bytes
    assert mean_luma_raw(tight, PixelFormat.YUV420P, 3, 3, 8) == pytest.approx(200.0)


@pytest.mark.parametrize("fmt", RAW_PIXEL_FORMATS, ids=lambda f: f.name)
def test_wrong_length_raises(fmt: PixelFormat) -> None:
    raw = rgb_to_raw(np.zeros((3, 5, 3), dtype=np.uint8), fmt)
    with pytest.raises(ValueError, match=f"should be {len(raw)} bytes, got {len(raw) + 1}"):
        mean_luma_raw(raw + b"\0", fmt, 5, 3)


def test_empty_rgb_raises() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        mean_luma_rgb(np.zeros((0, 4, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("mean", "label"),
    [(0.0, "dark"), (126.999, "dark"), (127.0, "light"), (127.5, "light"), (255.0, "light")],
)
def test_luma_label(mean: float, label: str) -> None:
    assert luma_label(mean) == label
