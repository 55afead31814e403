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
from lvatool.media.image_header import MAX_ENCODED_PIXELS, ImageHeaderError

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


def decode_image(data: bytes | memoryview, max_pixels: int = MAX_ENCODED_PIXELS) -> U8Array:
    """An encoded image as a new (H, W, 3) uint8 RGB array; ValueError if it cannot be read.

    The header is read first (``Image.open`` is lazy) and an image of more than
    ``max_pixels`` pixels is refused before any pixel is decoded: a small file can declare
    a size that costs gigabytes to decode (A3). Only JPG, PNG and BMP are opened, the
    encodings a descriptor can declare.

    Pillow reports bad input through many exception types (OSError, SyntaxError,
    struct.error, EOFError, DecompressionBombError, ...) depending on the plugin, so all
    are caught and re-raised as one ValueError that says what went wrong.
    """
    try:
        with Image.open(io.BytesIO(data), formats=list(_PIL_FORMATS.values())) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageHeaderError(
                    f"the {image.format} header declares {width}x{height} = "
                    f"{width * height} pixels, over the limit of {max_pixels}: "
                    "refused before decoding (A3)"
                )
            image.load()
            rgb = image.convert("RGB")
    except ImageHeaderError:
        raise
    except Exception as error:
        raise ValueError(
            f"cannot decode image ({len(data)} bytes): {type(error).__name__}: {error}"
        ) from error
    return np.asarray(rgb, dtype=np.uint8).copy()
