"""What an encoded image says about itself, read from its header without decoding it.

A decoder allocates what the header declares, not what the bytes carry: a 164 KB PNG
may declare 13000x13000 pixels and cost 1.8 GiB to decode (a "decompression bomb").
So before any pixel is decoded, the header's encoding and dimensions are read here and
judged against the stream's descriptor and a pixel limit (A3, F1, H3).

Pure Python on the first bytes of the image (no Pillow, no numpy, no copy of the
sample), so it is cheap enough to run on every sample as it arrives, and the protocol
core could use it without loading an image library.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lvatool.media.formats import Encoding, FrameFormat

#: Most pixels an encoded frame may have: 8K UHD (7680x4320), 100 MB once decoded to RGB.
MAX_ENCODED_PIXELS = 7680 * 4320

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
# Start-of-frame markers (baseline, extended, progressive, lossless, hierarchical,
# arithmetic); C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but are not SOFs.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
_JPEG_SOS = 0xDA
#: Segments (and fill bytes) walked before giving up: real files have a dozen or so.
_JPEG_MAX_STEPS = 65536


class ImageHeaderError(ValueError):
    """An encoded image whose header is unreadable, or declares what may not be decoded."""


@dataclass(frozen=True)
class ImageHeader:
    """An encoded image's encoding and dimensions, as its header declares them."""

    encoding: Encoding
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_image_header(data: bytes | memoryview) -> ImageHeader:
    """The encoding and size ``data`` declares; ImageHeaderError if it is no JPG/PNG/BMP."""
    head = bytes(data[:32])  # the signature and fixed-place fields; never the whole image
    if head.startswith(_PNG_SIGNATURE):
        return _png(head)
    if head.startswith(b"BM"):
        return _bmp(head)
    if head.startswith(_JPEG_SOI):
        return _jpeg(data)
    raise ImageHeaderError(
        f"the sample ({len(data)} bytes) starts with {head[:8].hex(' ')}, "
        "the signature of neither JPG, PNG nor BMP"
    )


def _png(head: bytes) -> ImageHeader:
    # The IHDR chunk must come first: length (4), type (4), then width and height.
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ImageHeaderError("the PNG has no IHDR chunk where its header must be")
    width, height = struct.unpack_from(">II", head, 16)
    return ImageHeader(Encoding.PNG, width, height)


def _bmp(head: bytes) -> ImageHeader:
    if len(head) < 26:
        raise ImageHeaderError("the BMP is shorter than its header")
    (info_size,) = struct.unpack_from("<I", head, 14)
    if info_size == 12:  # BITMAPCOREHEADER: unsigned 16-bit sizes
        width, height = struct.unpack_from("<HH", head, 18)
    elif info_size >= 40:  # BITMAPINFOHEADER and later: signed, negative height = top-down
        width, height = struct.unpack_from("<ii", head, 18)
        height = abs(height)
    else:
        raise ImageHeaderError(f"the BMP's info header has an unknown size, {info_size}")
    return ImageHeader(Encoding.BMP, width, height)


def _jpeg(data: bytes | memoryview) -> ImageHeader:
    """Walk the marker segments up to the first start-of-frame, which holds the size."""
    size = len(data)
    at = 2
    for _ in range(_JPEG_MAX_STEPS):
        if at + 4 > size:
            break
        if data[at] != 0xFF:
            raise ImageHeaderError(f"the JPG has no marker at byte {at} where one must be")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            at += 2
            continue
        (length,) = struct.unpack_from(">H", data, at + 2)
        if marker in _JPEG_SOF:
            if at + 9 > size:
                break
            height, width = struct.unpack_from(">HH", data, at + 5)
            return ImageHeader(Encoding.JPG, width, height)
        if marker == _JPEG_SOS or length < 2:
            raise ImageHeaderError("the JPG's image data starts before its frame header (SOF)")
        at += 2 + length
    else:
        raise ImageHeaderError(f"the JPG has over {_JPEG_MAX_STEPS} segments before its SOF")
    raise ImageHeaderError("the JPG ends before its frame header (SOF)")


def check_encoded_frame(
    data: bytes | memoryview, declared: FrameFormat, max_pixels: int = MAX_ENCODED_PIXELS
) -> ImageHeader:
    """The header of an encoded sample, if it may be decoded; ImageHeaderError if not.

    The image must be in the encoding the descriptor declared, have the size it declared
    (see :func:`_check_declared_size`) and at most
    ``max_pixels`` pixels, so that a decoder never allocates more than the stream
    promised and the server allows (A3).
    """
    header = read_image_header(data)
    size = f"{header.width}x{header.height}"
    if header.encoding is not declared.encoding:
        raise ImageHeaderError(
            f"the sample is a {header.encoding.name} image, but the descriptor's "
            f"video_frame_sample_format.encoding is {declared.encoding.name} (H3)"
        )
    if header.width <= 0 or header.height <= 0:
        raise ImageHeaderError(f"the {header.encoding.name} header declares {size} pixels")
    _check_declared_size(header, declared)
    if header.pixels > max_pixels:
        raise ImageHeaderError(
            f"the {header.encoding.name} header declares {size} = {header.pixels} pixels, "
            f"over the limit of {max_pixels}: refused before decoding (A3)"
        )
    return header


def _check_declared_size(header: ImageHeader, declared: FrameFormat) -> None:
    """The image's size must be the one the descriptor declared, as F4 scales it.

    ``stretch`` and ``pad`` give exactly width x height; ``preserveAspectRatio`` fits the
    frame inside that box, so the frame sent is smaller in one dimension (F4). A frame
    therefore matches when it fits the box and fills it in at least one dimension; a
    dimension of 0 declares nothing. Anything else is not the stream the client promised.
    """
    size = f"{header.width}x{header.height}"
    box = f"{declared.width or 'any'}x{declared.height or 'any'}"
    fits = all(
        not promised or actual <= promised
        for actual, promised in ((header.width, declared.width), (header.height, declared.height))
    )
    fills = (
        not declared.width
        or not declared.height
        or header.width == declared.width
        or header.height == declared.height
    )
    if not (fits and fills):
        raise ImageHeaderError(
            f"the {header.encoding.name} image is {size}, but the descriptor's "
            f"video_frame_sample_format.dimensions are {box}: a frame is that size, or fits "
            "inside it filling one side when scaled with preserveAspectRatio (H3, F4)"
        )
