"""Frame sizes and strides (protocol.md §2): what the protocol layer checks lengths against."""

from __future__ import annotations

import pytest

from lvatool import media
from lvatool.media import (
    RAW_PIXEL_FORMATS,
    Encoding,
    FrameFormat,
    PixelFormat,
    accepted_raw_sizes,
    raw_frame_size,
    row_bytes,
)


def test_enum_values_match_the_protobuf() -> None:
    from lvatool.contract import media_pb2

    video = media_pb2.VideoFrameSampleFormat
    for encoding in Encoding:
        assert video.Encoding.Value(encoding.name) == encoding
    for fmt in PixelFormat:
        assert video.PixelFormat.Value(fmt.name) == fmt
    assert len(video.PixelFormat.keys()) == len(PixelFormat)


def test_raw_pixel_formats_are_all_but_none() -> None:
    assert len(RAW_PIXEL_FORMATS) == 11
    assert PixelFormat.NONE not in RAW_PIXEL_FORMATS
    assert set(RAW_PIXEL_FORMATS) == set(PixelFormat) - {PixelFormat.NONE}


def test_public_api_is_sorted_and_complete() -> None:
    def isort_key(name: str) -> tuple[int, str]:  # constants, classes, functions (RUF022)
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert media.__all__ == sorted(media.__all__, key=isort_key)
    assert len(media.__all__) == 18
    for name in media.__all__:
        assert hasattr(media, name)


@pytest.mark.parametrize(
    ("fmt", "per_pixel"),
    [
        (PixelFormat.YUV420P, 1),
        (PixelFormat.RGB565BE, 2),
        (PixelFormat.RGB555LE, 2),
        (PixelFormat.RGB24, 3),
        (PixelFormat.BGR24, 3),
        (PixelFormat.ARGB, 4),
        (PixelFormat.BGRA, 4),
    ],
)
def test_row_bytes(fmt: PixelFormat, per_pixel: int) -> None:
    assert row_bytes(fmt, 33) == 33 * per_pixel


def test_row_bytes_of_none_raises() -> None:
    with pytest.raises(ValueError, match="not a RAW pixel format"):
        row_bytes(PixelFormat.NONE, 10)


def test_packed_frame_sizes() -> None:
    assert raw_frame_size(PixelFormat.BGR24, 4, 2) == 24
    assert raw_frame_size(PixelFormat.BGR24, 4, 2, stride=16) == 32
    assert raw_frame_size(PixelFormat.RGB565LE, 33, 17) == 33 * 2 * 17
    assert raw_frame_size(PixelFormat.ABGR, 1920, 1080) == 1920 * 1080 * 4


def test_yuv420p_sizes_round_odd_chroma_up() -> None:
    assert raw_frame_size(PixelFormat.YUV420P, 1920, 1080) == 1920 * 1080 * 3 // 2
    # 3x3: 9 luma + 2 planes of 2 rows x 2 bytes.
    assert raw_frame_size(PixelFormat.YUV420P, 3, 3) == 9 + 8
    # Padded stride 5: 15 luma + 2 planes of 2 rows x ceil(5/2) = 3 bytes.
    assert raw_frame_size(PixelFormat.YUV420P, 3, 3, stride=5) == 15 + 12


def test_accepted_sizes_add_tight_chroma_only_for_yuv420p() -> None:
    assert accepted_raw_sizes(PixelFormat.YUV420P, 3, 3, stride=5) == (27, 23)
    assert accepted_raw_sizes(PixelFormat.YUV420P, 3, 3) == (17,)
    # Stride 4 for width 3: ceil(4/2) == ceil(3/2), so both layouts have one size.
    assert accepted_raw_sizes(PixelFormat.YUV420P, 3, 3, stride=4) == (20,)
    assert accepted_raw_sizes(PixelFormat.RGB24, 3, 3, stride=10) == (30,)


def test_stride_smaller_than_a_row_raises() -> None:
    with pytest.raises(ValueError, match="stride_bytes 11 is smaller"):
        raw_frame_size(PixelFormat.RGB24, 4, 2, stride=11)
    with pytest.raises(ValueError, match="stride_bytes"):
        accepted_raw_sizes(PixelFormat.YUV420P, 4, 2, stride=3)


@pytest.mark.parametrize(("width", "height"), [(0, 1), (1, 0), (-1, 5)])
def test_non_positive_dimensions_raise(width: int, height: int) -> None:
    with pytest.raises(ValueError):
        raw_frame_size(PixelFormat.RGB24, width, height)


def test_frame_format() -> None:
    raw = FrameFormat(Encoding.RAW, PixelFormat.BGR24, 4, 2)
    assert raw.effective_stride == 12
    assert raw.raw_size() == 24
    padded = FrameFormat(Encoding.RAW, PixelFormat.YUV420P, 3, 3, stride_bytes=5)
    assert padded.effective_stride == 5
    assert padded.raw_size() == 27
    jpeg = FrameFormat(Encoding.JPG)
    assert (jpeg.pixel_format, jpeg.width, jpeg.height, jpeg.stride_bytes) == (
        PixelFormat.NONE,
        0,
        0,
        0,
    )
    with pytest.raises(ValueError, match="no fixed size"):
        jpeg.raw_size()
    assert raw == FrameFormat(Encoding.RAW, PixelFormat.BGR24, 4, 2)
    assert hash(raw) == hash(FrameFormat(Encoding.RAW, PixelFormat.BGR24, 4, 2))
