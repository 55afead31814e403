"""Frames as an LVA topology prepares them: ``image.scale`` and ``image.format`` (F1, F4).

Conversions run where they cost least. For RAW output the decoder's own scaler
(swscale, through PyAV's ``reformat``) produces the target size *and* pixel format in
one pass, and the planes are copied once, straight into the destination (a shared
memory region or a bytes buffer), re-laid to the requested stride. Encoded images are
scaled by swscale to RGB and compressed by Pillow. Only ``pad`` goes through numpy, to
draw the black bars.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from lvatool.media import (
    Encoding,
    FrameFormat,
    PixelFormat,
    ScaleMode,
    encode_image,
    output_size,
    raw_frame_size,
    rgb_to_raw,
    row_bytes,
    scaled_size,
)

#: The largest width or height a frame may be scaled to (a 16K frame).
MAX_SIDE = 16384

#: PyAV's name for each RAW pixel format of the contract.
AV_PIXEL_FORMATS: dict[PixelFormat, str] = {
    PixelFormat.YUV420P: "yuv420p",
    PixelFormat.RGB565BE: "rgb565be",
    PixelFormat.RGB565LE: "rgb565le",
    PixelFormat.RGB555BE: "rgb555be",
    PixelFormat.RGB555LE: "rgb555le",
    PixelFormat.RGB24: "rgb24",
    PixelFormat.BGR24: "bgr24",
    PixelFormat.ARGB: "argb",
    PixelFormat.RGBA: "rgba",
    PixelFormat.ABGR: "abgr",
    PixelFormat.BGRA: "bgra",
}


@dataclass(frozen=True)
class ImageOptions:
    """``image.scale`` and ``image.format`` of a topology's extension node."""

    width: int | None = None
    height: int | None = None
    scale_mode: ScaleMode = ScaleMode.PRESERVE_ASPECT_RATIO
    encoding: Encoding = Encoding.JPG
    quality: int = 90
    pixel_format: PixelFormat = PixelFormat.BGR24
    stride_align: int = 1

    def __post_init__(self) -> None:
        """Refuse values no frame can have, here, before a stream thread meets them.

        A width of 0 used to reach the scaler inside a stream and crash it mid-run; the
        command names the option, this names the field for callers from Python.
        """
        for name, value in (("width", self.width), ("height", self.height)):
            if value is not None and not 1 <= value <= MAX_SIDE:
                raise ValueError(f"image {name} must be 1-{MAX_SIDE} pixels, not {value}")
        if not 0 <= self.quality <= 100:
            raise ValueError(f"JPEG quality must be 0-100, not {self.quality}")
        if not 1 <= self.stride_align <= 4096:
            raise ValueError(f"stride alignment must be 1-4096 bytes, not {self.stride_align}")


def aligned(value: int, alignment: int) -> int:
    """``value`` rounded up to a multiple of ``alignment``."""
    return -(-value // alignment) * alignment


class FramePreparer:
    """Turns decoded frames of one source size into samples of one :class:`FrameFormat`.

    Not thread-safe: one preparer per stream, used from the stream's prepare thread.
    """

    def __init__(self, options: ImageOptions, source_width: int, source_height: int) -> None:
        self.options = options
        # One reformatter for the whole stream: it keeps its swscale context between
        # frames instead of building one per frame (measured 0.85 -> 0.65 ms at 1080p).
        self._scaler = VideoReformatter()
        width, height = options.width, options.height
        if width is None and height is None:
            target = (source_width, source_height)
        elif width is None:  # one side given: the other keeps the aspect ratio
            assert height is not None
            target = (max(1, round(source_width * height / source_height)), height)
        elif height is None:
            target = (width, max(1, round(source_height * width / source_width)))
        else:
            target = (width, height)
        mode = options.scale_mode
        self.content_size = scaled_size(source_width, source_height, *target, mode)
        self.size = output_size(source_width, source_height, *target, mode)
        self.pad = self.size != self.content_size
        width, height = self.size
        if options.encoding is Encoding.RAW:
            stride = aligned(row_bytes(options.pixel_format, width), options.stride_align)
            # The real stride even when rows are unpadded (never 0), as LVA sends it:
            # extensions reshape by stride_bytes, and 0 would break them only here (§2).
            self.format = FrameFormat(Encoding.RAW, options.pixel_format, width, height, stride)
            self.stride = stride
            self.raw_size = raw_frame_size(options.pixel_format, width, height, stride)
        else:
            self.format = FrameFormat(options.encoding, PixelFormat.NONE, width, height)
            self.stride = 0
            self.raw_size = 0

    def prepare(self, frame: av.VideoFrame) -> bytes | av.VideoFrame:
        """The sample for ``frame``: finished bytes, or (RAW) a converted frame to copy out."""
        if self.options.encoding is not Encoding.RAW:
            return encode_image(self._rgb(frame), self.options.encoding, self.options.quality)
        if self.pad:
            return rgb_to_raw(self._rgb(frame), self.options.pixel_format, self.stride)
        width, height = self.size
        # Full-range ("JPEG") YUV, so that Y is exactly the BT.601 luma of R4.
        color_range = 2 if self.options.pixel_format is PixelFormat.YUV420P else None
        return self._scaler.reformat(
            frame,
            width=width,
            height=height,
            format=AV_PIXEL_FORMATS[self.options.pixel_format],
            dst_color_range=color_range,
        )

    def write(self, prepared: bytes | av.VideoFrame, destination: memoryview) -> int:
        """Lay ``prepared`` into ``destination``; return the bytes written."""
        if isinstance(prepared, bytes):
            destination[: len(prepared)] = prepared
            return len(prepared)
        self._copy_planes(prepared, destination)
        return self.raw_size

    def to_bytes(self, prepared: bytes | av.VideoFrame) -> bytes:
        """``prepared`` as the bytes of one embedded sample, copied once where possible."""
        if isinstance(prepared, bytes):
            return prepared
        layout = self._layout()
        if all(
            plane.line_size == pitch and plane.buffer_size >= rows * pitch
            for plane, (_, rows, pitch, _) in zip(prepared.planes, layout, strict=True)
        ):
            # The decoder's rows already have the stride we announce: join the planes.
            return b"".join(
                memoryview(plane)[: rows * pitch]
                for plane, (_, rows, pitch, _) in zip(prepared.planes, layout, strict=True)
            )
        buffer = bytearray(self.raw_size)
        self._copy_planes(prepared, memoryview(buffer))
        return bytes(buffer)

    def sample_size(self, prepared: bytes | av.VideoFrame) -> int:
        """Bytes the sample will occupy."""
        return len(prepared) if isinstance(prepared, bytes) else self.raw_size

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self.content_size
        rgb = self._scaler.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
        if not self.pad:
            return rgb
        out_w, out_h = self.size
        canvas = np.zeros((out_h, out_w, 3), dtype=np.uint8)
        top, left = (out_h - height) // 2, (out_w - width) // 2
        canvas[top : top + height, left : left + width] = rgb
        return canvas

    def _layout(self) -> list[tuple[int, int, int, int]]:
        """Each plane's ``(offset, rows, pitch, used bytes per row)`` in the sample."""
        width, height = self.size
        stride = self.stride
        if self.options.pixel_format is not PixelFormat.YUV420P:
            return [(0, height, stride, row_bytes(self.options.pixel_format, width))]
        chroma_rows, chroma_pitch, chroma_used = (
            (height + 1) // 2,
            (stride + 1) // 2,
            (width + 1) // 2,
        )
        return [
            (0, height, stride, width),
            (stride * height, chroma_rows, chroma_pitch, chroma_used),
            (stride * height + chroma_rows * chroma_pitch, chroma_rows, chroma_pitch, chroma_used),
        ]

    def _copy_planes(self, frame: av.VideoFrame, destination: memoryview) -> None:
        out = np.frombuffer(destination, dtype=np.uint8, count=self.raw_size)
        for plane, (offset, rows, pitch, used) in zip(frame.planes, self._layout(), strict=True):
            source = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
            target = out[offset : offset + rows * pitch].reshape(rows, pitch)
            target[:, :used] = source[:rows, :used]
            if pitch > used:
                target[:, used:] = 0
