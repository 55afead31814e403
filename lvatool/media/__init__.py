"""Frames as pixels: formats and sizes, RAW and encoded conversions, luma, scaling.

Everything here works on numpy arrays and bytes only, with no gRPC, so the protocol
layer, the server and the simulator share one definition of what a frame is.

Only :mod:`lvatool.media.formats` (encodings, pixel formats, the byte sizes they imply)
is loaded with the package: the protocol core needs it, and must load without numpy
or Pillow. The conversions are loaded on first use of one of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lvatool.media.formats import (
    RAW_PIXEL_FORMATS,
    Encoding,
    FrameFormat,
    PixelFormat,
    accepted_raw_sizes,
    raw_frame_size,
    row_bytes,
)

if TYPE_CHECKING:
    from lvatool.media.images import decode_image, encode_image
    from lvatool.media.luma import luma_label, mean_luma_raw, mean_luma_rgb
    from lvatool.media.raw import raw_to_rgb, rgb_to_raw
    from lvatool.media.scale import ScaleMode, output_size, scale_frame, scaled_size

#: Names loaded on first use, and the module (which needs numpy or Pillow) that has them.
_LAZY = {
    "decode_image": "images",
    "encode_image": "images",
    "luma_label": "luma",
    "mean_luma_raw": "luma",
    "mean_luma_rgb": "luma",
    "raw_to_rgb": "raw",
    "rgb_to_raw": "raw",
    "ScaleMode": "scale",
    "output_size": "scale",
    "scale_frame": "scale",
    "scaled_size": "scale",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "RAW_PIXEL_FORMATS",
    "Encoding",
    "FrameFormat",
    "PixelFormat",
    "ScaleMode",
    "accepted_raw_sizes",
    "decode_image",
    "encode_image",
    "luma_label",
    "mean_luma_raw",
    "mean_luma_rgb",
    "output_size",
    "raw_frame_size",
    "raw_to_rgb",
    "rgb_to_raw",
    "row_bytes",
    "scale_frame",
    "scaled_size",
]
