"""Frames as pixels: formats and sizes, RAW and encoded conversions, luma, scaling.

Everything here works on numpy arrays and bytes only, with no gRPC, so the protocol
layer, the server and the simulator share one definition of what a frame is.
"""

from lvatool.media.formats import (
    RAW_PIXEL_FORMATS,
    Encoding,
    FrameFormat,
    PixelFormat,
    accepted_raw_sizes,
    raw_frame_size,
    row_bytes,
)
from lvatool.media.images import decode_image, encode_image
from lvatool.media.luma import luma_label, mean_luma_raw, mean_luma_rgb
from lvatool.media.raw import raw_to_rgb, rgb_to_raw
from lvatool.media.scale import ScaleMode, output_size, scale_frame, scaled_size

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
