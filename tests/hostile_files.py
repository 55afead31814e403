"""Hostile files for tests, built for real: decompression bombs (A3)."""

from __future__ import annotations

import struct
import zlib

#: The side of the bomb of issue 8: 13000x13000 pixels, 1.8 GiB once decoded.
BOMB_SIDE = 13000


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """A valid black 1-bit PNG of ``width`` x ``height``: a file of some 20 KB, a huge image.

    Rows of zero bits compress about a thousandfold, so the file is tiny while a decoder
    allocates what the header declares.
    """
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )
