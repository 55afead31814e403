"""Encoded frames (JPG, PNG, BMP) to and from RGB arrays, through Pillow.

Decoding takes bytes from the network, so every failure, whatever Pillow raises, becomes
a ValueError the caller can turn into a clean error status (protocol.md A3).
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

from lvatool.media._layout import U8Array, check_rgb
from lvatool.media.formats import Encoding

_PIL_FORMATS: dict[Encoding, str] = {
    Encoding.JPG: "JPEG",
    Encoding.PNG: "PNG",
    Encoding.BMP: "BMP",
}


def encode_image(rgb: npt.NDArray[np.generic], encoding: Encoding, quality: int = 90) -> bytes:
    """``rgb`` ((H, W, 3) uint8) as a JPG, PNG or BMP file.

    ``quality`` (0-100, as LVA's ``image.format`` takes it) applies to JPG only. RAW is
    refused here because it needs a pixel format: use :func:`rgb_to_raw`.
    """
    pixels = check_rgb(rgb)
    encoding = Encoding(encoding)
    if encoding is Encoding.RAW:
        raise ValueError("RAW is not an image encoding; use rgb_to_raw with a pixel format")
    options: dict[str, object] = {}
    if encoding is Encoding.JPG:
        if not 0 <= quality <= 100:
            raise ValueError(f"JPG quality must be 0-100, got {quality}")
        options["quality"] = quality
    out = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.save(out, format=_PIL_FORMATS[encoding], **options)
    return out.getvalue()


def decode_image(data: bytes | memoryview) -> U8Array:
    """An encoded image as a new (H, W, 3) uint8 RGB array; ValueError if it cannot be read.

    Pillow reports bad input through many exception types (OSError, SyntaxError,
    struct.error, EOFError, DecompressionBombError, ...) depending on the plugin, so all
    are caught and re-raised as one ValueError that says what went wrong.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgb = image.convert("RGB")
    except Exception as error:
        raise ValueError(
            f"cannot decode image ({len(data)} bytes): {type(error).__name__}: {error}"
        ) from error
    return np.asarray(rgb, dtype=np.uint8).copy()
