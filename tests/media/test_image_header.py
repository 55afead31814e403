"""Encoded image headers, read without decoding, and decompression bombs refused (A3, H3).

The bomb is a real, valid PNG: 1-bit pixels of zeros compress about a thousandfold, so
a file of some 25 KB declares 13000x13000 pixels (1.8 GiB once Pillow decodes it).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from lvatool.media import Encoding, FrameFormat, decode_image, encode_image
from lvatool.media.image_header import (
    MAX_ENCODED_PIXELS,
    ImageHeader,
    ImageHeaderError,
    check_encoded_frame,
    read_image_header,
)
from tests.hostile_files import BOMB_SIDE, png_bomb


def rgb(width: int, height: int) -> np.ndarray:
    return np.random.default_rng(width * height).integers(0, 256, (height, width, 3), np.uint8)


def pillow_file(width: int, height: int, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb(width, height)).save(out, format=format, **options)
    return out.getvalue()


@pytest.mark.parametrize(("width", "height"), [(1, 1), (33, 17), (640, 360), (1920, 1080)])
@pytest.mark.parametrize("encoding", [Encoding.JPG, Encoding.PNG, Encoding.BMP])
def test_header_gives_the_size_pillow_decodes(width: int, height: int, encoding: Encoding) -> None:
    data = encode_image(rgb(width, height), encoding)
    assert read_image_header(data) == ImageHeader(encoding, width, height)
    assert read_image_header(memoryview(data)) == ImageHeader(encoding, width, height)


@pytest.mark.parametrize(
    "options",
    [
        {"progressive": True},
        {"exif": Image.Exif()},  # an APP1 segment before the frame header
        {"icc_profile": bytes(3000)},  # APP2, a long segment
        {"optimize": True, "quality": 30, "subsampling": 0},
    ],
    ids=["progressive", "exif", "icc", "optimized"],
)
def test_jpeg_variants_are_read(options: dict[str, object]) -> None:
    data = pillow_file(50, 30, "JPEG", **options)
    assert read_image_header(data) == ImageHeader(Encoding.JPG, 50, 30)


def test_top_down_and_core_header_bmps_are_read() -> None:
    data = bytearray(encode_image(rgb(7, 5), Encoding.BMP))
    struct.pack_into("<i", data, 22, -5)  # negative height: rows stored top-down
    assert read_image_header(bytes(data)) == ImageHeader(Encoding.BMP, 7, 5)
    core = b"BM" + bytes(12) + struct.pack("<IHHHH", 12, 300, 200, 1, 24)
    assert read_image_header(core) == ImageHeader(Encoding.BMP, 300, 200)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a" + bytes(40),
        b"\x89PNG\r\n\x1a\n" + bytes(40),  # no IHDR where it must be
        b"\xff\xd8\xff\xda" + bytes(40),  # scan data before any frame header
        b"\xff\xd8" + b"\xff\xe0\x00\x10" + bytes(14),  # ends before its frame header
        b"\xff\xd8\x00\x00" + bytes(40),  # no marker where one must be
        b"BM" + bytes(12) + struct.pack("<I", 20) + bytes(20),  # unknown info header
    ],
    ids=["empty", "gif", "png-no-ihdr", "jpeg-sos-first", "jpeg-short", "jpeg-no-marker", "bmp"],
)
def test_unreadable_headers_raise(data: bytes) -> None:
    with pytest.raises(ImageHeaderError):
        read_image_header(data)


def test_jpeg_with_endless_segments_gives_up() -> None:
    data = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 70_000 + b"\xff\xc0" + bytes(20)
    with pytest.raises(ImageHeaderError, match="segments"):
        read_image_header(data)


def test_bomb_is_small_but_declares_a_huge_image() -> None:
    bomb = png_bomb()
    assert len(bomb) < 200_000
    assert read_image_header(bomb) == ImageHeader(Encoding.PNG, BOMB_SIDE, BOMB_SIDE)


def test_bomb_is_refused_before_decoding() -> None:
    """A3: a declared 13000x13000 PNG is refused on its header, by the limit."""
    with pytest.raises(ImageHeaderError, match="over the limit") as caught:
        check_encoded_frame(png_bomb(), FrameFormat(Encoding.PNG))
    assert f"{BOMB_SIDE}x{BOMB_SIDE}" in str(caught.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decode_image_refuses_a_bomb_before_decoding() -> None:
    """decode_image checks the size Pillow reads lazily, before it allocates the pixels.

    Measured: the old decode_image took 6.3 s and 1.8 GiB of peak RSS for this 20 KB file.
    """
    with pytest.raises(ValueError, match="over the limit"):
        decode_image(png_bomb())


def test_decode_image_takes_a_smaller_limit() -> None:
    data = encode_image(rgb(40, 30), Encoding.PNG)
    assert decode_image(data, max_pixels=1200).shape == (30, 40, 3)
    with pytest.raises(ValueError, match="over the limit of 1199"):
        decode_image(data, max_pixels=1199)


def test_the_limit_admits_8k() -> None:
    header = struct.pack(">II", 7680, 4320)
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + header + bytes(8)
    assert check_encoded_frame(data, FrameFormat(Encoding.PNG)).pixels == MAX_ENCODED_PIXELS


def test_declared_dimensions_must_match() -> None:
    """H3: the descriptor's dimensions, when set, are the image's."""
    data = encode_image(rgb(40, 30), Encoding.JPG)
    assert check_encoded_frame(data, FrameFormat(Encoding.JPG, width=40, height=30))
    assert check_encoded_frame(data, FrameFormat(Encoding.JPG))  # 0 declares nothing
    for width, height in ((39, 30), (40, 29), (41, 31), (80, 60)):
        with pytest.raises(ImageHeaderError, match=rf"40x30, .*dimensions are {width}x{height}"):
            check_encoded_frame(data, FrameFormat(Encoding.JPG, width=width, height=height))


@pytest.mark.parametrize("box", [(40, 40), (60, 30), (40, 0), (0, 30)])
def test_a_frame_scaled_to_fit_its_box_matches(box: tuple[int, int]) -> None:
    """F4: preserveAspectRatio fits the frame inside width x height, one side filled, so a
    40x30 frame is what a legal client sends for a 40x40 or a 60x30 box."""
    data = encode_image(rgb(40, 30), Encoding.JPG)
    assert check_encoded_frame(data, FrameFormat(Encoding.JPG, width=box[0], height=box[1]))


@pytest.mark.parametrize("declared", [Encoding.JPG, Encoding.BMP])
def test_declared_encoding_must_match(declared: Encoding) -> None:
    data = encode_image(rgb(8, 8), Encoding.PNG)
    with pytest.raises(ImageHeaderError, match=f"PNG image.*encoding is {declared.name}"):
        check_encoded_frame(data, FrameFormat(declared))


def test_zero_sized_images_are_refused() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 0, 10) + bytes(8)
    with pytest.raises(ImageHeaderError, match="0x10"):
        check_encoded_frame(data, FrameFormat(Encoding.PNG))
