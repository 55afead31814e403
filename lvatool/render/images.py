"""A sent sample as an RGB picture, whatever its encoding or RAW layout.

The simulator hands observers the sample exactly as it was sent (``SentFrame.prepared``):
encoded bytes (JPG, PNG, BMP), RAW bytes in any of the 11 layouts, or — for RAW frames
through shared memory — the decoder's converted ``av.VideoFrame``, shared by every
stream. Drawing needs RGB. Bytes go through :mod:`lvatool.media` (the same conversions
the server's ``Frame.image`` uses); a ``VideoFrame`` goes through swscale, which converts
and scales in one pass and releases the GIL while it works, so a 1080p frame costs the
stream threads next to nothing.

Nothing here modifies the sample: it is shared with the streams that are still sending it.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image

from lvatool.media import Encoding, FrameFormat, PixelFormat, decode_image, raw_to_rgb
from lvatool.sim.observe import SentFrame

_JPEG_COLOR_RANGE = 2  # AVCOL_RANGE_JPEG: full range, as the simulator writes YUV420P (R4)

#: Layouts swscale turns into RGB exactly. Its 16-bit big-endian readers gave colours off
#: by up to 194/255 (PyAV 18, little-endian host), so 16-bit frames go through
#: :func:`lvatool.media.raw_to_rgb` instead, as the server reads them.
_SWSCALE_EXACT = frozenset(
    {
        PixelFormat.YUV420P,
        PixelFormat.RGB24,
        PixelFormat.BGR24,
        PixelFormat.ARGB,
        PixelFormat.RGBA,
        PixelFormat.ABGR,
        PixelFormat.BGRA,
    }
)

_local = threading.local()


def image_of(frame: SentFrame, *, width: int | None = None) -> Image.Image:
    """``frame`` as a new RGB image, scaled to ``width`` (keeping its aspect) when given.

    Raises ValueError when the sample is not a picture of its declared format.
    """
    return sample_image(frame.prepared, frame.format, width=width)


def sample_image(
    prepared: bytes | memoryview | av.VideoFrame, format: FrameFormat, *, width: int | None = None
) -> Image.Image:
    """One sample (as :class:`SentFrame` carries it) as a new RGB image.

    ``width`` scales the picture down (or up) keeping its aspect ratio, in the same pass
    as the conversion where the sample is a ``VideoFrame``: thumbnails and capped videos
    never hold a full-size copy.
    """
    if isinstance(prepared, av.VideoFrame):
        if format.pixel_format in _SWSCALE_EXACT:
            return _video_frame_image(prepared, format, width)
        # Packed layouts have one plane, its rows line_size bytes apart: read in place.
        plane = prepared.planes[0]
        format = replace(format, stride_bytes=plane.line_size)
        prepared = memoryview(plane)[: plane.line_size * prepared.height]
    if format.encoding is Encoding.RAW:
        pixels = raw_to_rgb(
            prepared, format.pixel_format, format.width, format.height, format.stride_bytes
        )
    else:
        pixels = decode_image(prepared)
    image = Image.fromarray(pixels, "RGB")
    return image if width is None else _resized(image, width)


def scaled_height(width: int, height: int, to_width: int) -> int:
    """The height that keeps ``width``×``height``'s aspect ratio at ``to_width``, at least 1."""
    return max(1, round(height * to_width / width))


def _resized(image: Image.Image, width: int) -> Image.Image:
    if width == image.width:
        return image
    size = (width, scaled_height(image.width, image.height, width))
    return image.resize(size, Image.Resampling.BILINEAR)


def _video_frame_image(frame: av.VideoFrame, format: FrameFormat, width: int | None) -> Image.Image:
    """A RAW ``VideoFrame`` converted (and scaled) by swscale straight to RGB."""
    target_width = width or frame.width
    height = scaled_height(frame.width, frame.height, target_width)
    # Full-range YUV, as the simulator prepares it, so colours come back as they were.
    color_range = _JPEG_COLOR_RANGE if format.pixel_format is PixelFormat.YUV420P else None
    rgb = _reformatter().reformat(
        frame,
        width=target_width,
        height=height,
        format="rgb24",
        src_color_range=color_range,
        interpolation="BILINEAR",
    )
    plane = rgb.planes[0]
    # A view with the plane's own row pitch (swscale pads rows), copied once by Pillow.
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    pixels = rows[: rgb.height, : rgb.width * 3].reshape(rgb.height, rgb.width, 3)
    return Image.fromarray(pixels, "RGB")


def _reformatter() -> VideoReformatter:
    """One swscale context per thread: it is kept between frames, and is not thread-safe."""
    reformatter: VideoReformatter | None = getattr(_local, "reformatter", None)
    if reformatter is None:
        reformatter = _local.reformatter = VideoReformatter()
    return reformatter
