"""Encoded frames through real Pillow: lossless formats exact, JPEG quality honoured."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lvatool.media import Encoding, decode_image, encode_image


def noisy(height: int = 48, width: int = 64, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def smooth(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 128)], axis=-1).astype(
        np.uint8
    )


@pytest.mark.parametrize("encoding", [Encoding.PNG, Encoding.BMP], ids=lambda e: e.name)
def test_lossless_round_trip_is_exact(encoding: Encoding) -> None:
    rgb = noisy(17, 33)  # odd sizes: BMP pads rows to 4 bytes
    data = encode_image(rgb, encoding)
    decoded = decode_image(data)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, rgb)


def test_files_carry_the_right_signature() -> None:
    rgb = noisy(4, 4)
    assert encode_image(rgb, Encoding.PNG).startswith(b"\x89PNG\r\n\x1a\n")
    assert encode_image(rgb, Encoding.BMP).startswith(b"BM")
    assert encode_image(rgb, Encoding.JPG).startswith(b"\xff\xd8")


def test_jpeg_round_trip_is_close() -> None:
    rgb = smooth()
    decoded = decode_image(encode_image(rgb, Encoding.JPG, quality=95))
    assert decoded.shape == rgb.shape
    assert np.abs(decoded.astype(int) - rgb).mean() < 3


def test_jpeg_quality_is_honoured() -> None:
    rgb = noisy()
    sizes = [len(encode_image(rgb, Encoding.JPG, quality=q)) for q in (10, 50, 95)]
    assert sizes == sorted(sizes)
    assert sizes[0] < sizes[2] / 2


@pytest.mark.parametrize("quality", [0, 100])
def test_jpeg_quality_bounds_are_accepted(quality: int) -> None:
    assert decode_image(encode_image(smooth(8, 8), Encoding.JPG, quality)).shape == (8, 8, 3)


@pytest.mark.parametrize("quality", [-1, 101])
def test_jpeg_quality_out_of_range_raises(quality: int) -> None:
    with pytest.raises(ValueError, match="quality"):
        encode_image(smooth(), Encoding.JPG, quality)


def test_raw_is_not_an_image_encoding() -> None:
    with pytest.raises(ValueError, match="rgb_to_raw"):
        encode_image(smooth(), Encoding.RAW)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + bytes(40),  # a PNG signature and nothing valid after it
        b"BM" + bytes(60),
        b"\xff\xd8\xff\xe0" + bytes(100),
    ],
    ids=["empty", "text", "png-header", "bmp-header", "jpeg-header"],
)
def test_garbage_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="cannot decode image"):
        decode_image(data)


@pytest.mark.parametrize("encoding", [Encoding.PNG, Encoding.JPG, Encoding.BMP])
def test_truncated_files_raise_value_error(encoding: Encoding) -> None:
    data = encode_image(noisy(), encoding)
    with pytest.raises(ValueError, match="cannot decode image"):
        decode_image(data[: len(data) // 2])


def test_decode_accepts_memoryview() -> None:
    rgb = noisy(5, 7)
    data = encode_image(rgb, Encoding.PNG)
    np.testing.assert_array_equal(decode_image(memoryview(data)), rgb)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "1"])
def test_other_modes_decode_to_rgb(mode: str) -> None:
    image = Image.fromarray(smooth(6, 9)).convert(mode)
    out = io.BytesIO()
    image.save(out, format="PNG")
    decoded = decode_image(out.getvalue())
    assert decoded.shape == (6, 9, 3)
    np.testing.assert_array_equal(decoded, np.asarray(image.convert("RGB")))


def test_decoded_array_is_writable() -> None:
    decoded = decode_image(encode_image(noisy(3, 3), Encoding.PNG))
    decoded[0, 0] = 0
