"""A frame's inferences drawn on its picture: what the extension said, where it said it.

Entity boxes are drawn in a colour chosen by their tag (the same tag keeps its colour in
every frame and every report), with the tag and confidence on a label above the box;
motion boxes in one colour of their own, unlabelled; classifications, texts, events and
other results are listed in the top-left corner, and a caption (frame index, latency,
status) in the bottom-left one. Boxes are the normalised ``l, t, w, h`` of R2/R3,
relative to the picture as sent (for ``pad`` frames, the padded picture, F4).

Every string drawn comes from the extension, so it goes through
:func:`lvatool.text.visible` first and is shortened: a tag cannot draw control
characters or cover the frame with one long line.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable, Sequence

from PIL import Image, ImageDraw, ImageFont

from lvatool.contract import inferencing_pb2
from lvatool.text import visible

RGB = tuple[int, int, int]

#: Entity colours, chosen by tag: saturated, apart from each other and from grey video.
ENTITY_COLOURS: tuple[RGB, ...] = (
    (255, 48, 48),
    (48, 144, 255),
    (32, 224, 64),
    (255, 144, 0),
    (208, 64, 255),
    (0, 224, 224),
)
MOTION_COLOUR: RGB = (255, 232, 0)
ALERT_COLOUR: RGB = (255, 48, 48)  # the caption of a frame that got no answer
TEXT_COLOUR: RGB = (255, 255, 255)
BACKDROP_COLOUR: RGB = (0, 0, 0)

MAX_TEXT_CHARS = 40  # of one tag or listed result, from the extension
MAX_LISTED = 8  # results listed in the corner; the rest are counted


def tag_colour(tag: str) -> RGB:
    """The colour of entity boxes tagged ``tag``: stable across frames, runs and processes."""
    return ENTITY_COLOURS[zlib.crc32(tag.encode("utf-8")) % len(ENTITY_COLOURS)]


def line_width(width: int, height: int) -> int:
    """Box outline thickness: visible on a thumbnail and after H.264's 4:2:0 chroma."""
    return max(3, round(min(width, height) / 180))


def font_size(width: int, height: int) -> int:
    """Text size: about 30 lines to the frame's height, never unreadably small."""
    return max(11, round(min(width, height) / 30))


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own font (shipped with Pillow 10.1 and later), loaded once per size."""
    return ImageFont.load_default(size=size)


def draw_inferences(
    image: Image.Image,
    inferences: Iterable[inferencing_pb2.Inference],
    *,
    caption: str | None = None,
    alert: bool = False,
) -> Image.Image:
    """A new RGB image: ``image`` with ``inferences`` and ``caption`` drawn on it.

    ``alert`` draws the caption in red, for frames that got no answer (dropped, timed
    out). ``image`` itself is left as it was.
    """
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    draw_on(out, inferences, caption=caption, alert=alert)
    return out


def draw_on(
    out: Image.Image,
    inferences: Iterable[inferencing_pb2.Inference],
    *,
    caption: str | None = None,
    alert: bool = False,
) -> None:
    """:func:`draw_inferences` in place, on an RGB image of the caller's own.

    For the video writer, whose picture is already a fresh copy: a second copy of a
    720p frame would be a tenth of its time per frame.
    """
    canvas = ImageDraw.Draw(out)
    width, height = out.size
    thickness = line_width(width, height)
    font = _font(font_size(width, height))
    listed: list[str] = []
    for inference in inferences:
        kind = inference.WhichOneof("value")
        if kind == "entity":
            tag = inference.entity.tag
            label = f"{_short(tag.value)} {tag.confidence:.2f}"
            if inference.entity.id:
                label += f" #{_short(inference.entity.id)}"
            box = _pixels(inference.entity.box, width, height)
            colour = tag_colour(tag.value)
            canvas.rectangle(box, outline=colour, width=thickness)
            _label(canvas, font, box, label, colour)
        elif kind == "motion":
            box = _pixels(inference.motion.box, width, height)
            canvas.rectangle(box, outline=MOTION_COLOUR, width=thickness)
        elif kind is not None:
            listed.append(_listed(inference, kind))
    if len(listed) > MAX_LISTED:
        listed[MAX_LISTED - 1 :] = [f"+{len(listed) - MAX_LISTED + 1} more"]
    if listed:
        _text_block(canvas, font, (thickness, thickness), listed, TEXT_COLOUR, top=True)
    if caption:
        colour = ALERT_COLOUR if alert else TEXT_COLOUR
        _text_block(canvas, font, (thickness, height - thickness), [caption], colour, top=False)


def _short(text: str) -> str:
    """Peer text made visible and at most MAX_TEXT_CHARS long."""
    text = visible(text)
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def _listed(inference: inferencing_pb2.Inference, kind: str) -> str:
    """One corner line for a result that has no box."""
    if kind == "classification":
        tag = inference.classification.tag
        return f"{_short(tag.value)} {tag.confidence:.2f}"
    if kind == "text":
        return f"text: {_short(inference.text.value)}"
    if kind == "event":
        return f"event: {_short(inference.event.name)}"
    if kind == "other":
        return f"other: {_short(inference.other.content_type)}"
    return _short(kind)


def _pixels(box: inferencing_pb2.Rectangle, width: int, height: int) -> tuple[int, int, int, int]:
    """A normalised box as pixel corners inside the image (values outside 0–1 are clamped)."""

    def clamp(value: float, limit: int) -> int:
        return min(max(round(value * limit), 0), limit - 1)

    left, top = clamp(box.l, width), clamp(box.t, height)
    right, bottom = clamp(box.l + box.w, width), clamp(box.t + box.h, height)
    return left, top, max(left, right), max(top, bottom)


def _label(
    canvas: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    box: tuple[int, int, int, int],
    text: str,
    colour: RGB,
) -> None:
    """The tag on a patch of the box's colour, above the box (inside it at the top edge)."""
    left, top, _, _ = box
    x0, y0, x1, y1 = canvas.textbbox((0, 0), text, font=font)
    pad = 2
    label_height = y1 - y0 + 2 * pad
    y = top - label_height if top >= label_height else top
    canvas.rectangle((left, y, left + x1 - x0 + 2 * pad, y + label_height), fill=colour)
    canvas.text((left + pad - x0, y + pad - y0), text, font=font, fill=_ink_on(colour))


def _text_block(
    canvas: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    corner: tuple[int, int],
    lines: Sequence[str],
    colour: RGB,
    *,
    top: bool,
) -> None:
    """``lines`` on a black backdrop, hanging from ``corner`` (or standing on it)."""
    text = "\n".join(lines)
    x0, y0, x1, y1 = canvas.multiline_textbbox((0, 0), text, font=font)
    pad = 3
    width, height = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    left, anchor_y = corner
    top_y = anchor_y if top else anchor_y - height
    canvas.rectangle((left, top_y, left + width, top_y + height), fill=BACKDROP_COLOUR)
    canvas.multiline_text((left + pad - x0, top_y + pad - y0), text, font=font, fill=colour)


def _ink_on(colour: RGB) -> RGB:
    """Black or white, whichever reads better on ``colour`` (by its BT.601 luma)."""
    red, green, blue = colour
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else TEXT_COLOUR
