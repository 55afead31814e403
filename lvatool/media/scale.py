"""LVA's ``image.scale``: resize frames as a topology says before they are sent (F1, F4).

Sizes are computed apart from the resizing so a simulator can announce a descriptor's
dimensions before it has decoded any frame.
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt
from PIL import Image

from lvatool.media._layout import U8Array, check_rgb


class ScaleMode(enum.StrEnum):
    """The ``image.scale.mode`` values; the value is the spelling topologies use.

    A ``StrEnum`` (a ``str`` and an ``Enum``) so ``str(mode)`` is the topology spelling.
    """

    PRESERVE_ASPECT_RATIO = "preserveAspectRatio"
    PAD = "pad"
    STRETCH = "stretch"

    @classmethod
    def parse(cls, text: str) -> ScaleMode:
        """The mode spelled ``text`` in any case (topologies vary case, F1)."""
        wanted = text.strip().casefold()
        for mode in cls:
            if mode.value.casefold() == wanted:
                return mode
        valid = ", ".join(mode.value for mode in cls)
        raise ValueError(f"unknown scale mode {text!r}; valid modes: {valid}")


def _check_size(name: str, width: int, height: int) -> None:
    """Reject non-positive sizes, which no frame or target can have."""
    if width <= 0 or height <= 0:
        raise ValueError(f"{name} size must be positive, got {width}x{height}")


def scaled_size(
    src_w: int, src_h: int, width: int, height: int, mode: ScaleMode
) -> tuple[int, int]:
    """Size of the resized picture content (without pad bars).

    ``stretch`` gives exactly width x height; the other modes fit the source inside it,
    keeping the aspect ratio, with the free side rounded half up and at least 1 pixel.
    """
    _check_size("source", src_w, src_h)
    _check_size("target", width, height)
    if ScaleMode(mode) is ScaleMode.STRETCH:
        return width, height
    # Integer comparison and rounding: no float ties decide a pixel either way.
    if width * src_h <= height * src_w:  # width is the limiting side
        return width, max(1, min(height, (2 * src_h * width + src_w) // (2 * src_w)))
    return max(1, min(width, (2 * src_w * height + src_h) // (2 * src_h))), height


def output_size(
    src_w: int, src_h: int, width: int, height: int, mode: ScaleMode
) -> tuple[int, int]:
    """Size of the frame sent: exactly width x height for ``pad``, else :func:`scaled_size`."""
    if ScaleMode(mode) is ScaleMode.PAD:
        _check_size("source", src_w, src_h)
        _check_size("target", width, height)
        return width, height
    return scaled_size(src_w, src_h, width, height, mode)


def scale_frame(rgb: npt.NDArray[np.generic], width: int, height: int, mode: ScaleMode) -> U8Array:
    """``rgb`` resized (bilinear) per ``mode``; ``pad`` centres it on black bars."""
    pixels = check_rgb(rgb)
    src_h, src_w = pixels.shape[:2]
    content_w, content_h = scaled_size(src_w, src_h, width, height, mode)
    if (content_w, content_h) == (src_w, src_h):
        content = np.array(pixels, dtype=np.uint8)
    else:
        image = Image.fromarray(np.ascontiguousarray(pixels))
        resized = image.resize((content_w, content_h), Image.Resampling.BILINEAR)
        content = np.asarray(resized, dtype=np.uint8)
    if ScaleMode(mode) is not ScaleMode.PAD:
        return np.ascontiguousarray(content)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - content_h) // 2, (width - content_w) // 2
    out[top : top + content_h, left : left + content_w] = content
    return out
