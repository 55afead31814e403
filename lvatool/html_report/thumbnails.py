"""The report's strip of frames: each as sent, with its own inferences drawn, as a data URI.

Drawn when the run has ended (never on a stream's thread), with the drawing the annotated
video uses (:mod:`lvatool.render`), at thumbnail size straight from the sample: a 1080p
RAW frame is scaled by swscale as it is converted, so no full-size copy is made. Each
thumbnail is a small JPEG inlined as ``data:image/jpeg;base64,…``, as the page must open
with no file beside it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from lvatool.html_report.page import text
from lvatool.render.draw import draw_inferences
from lvatool.render.images import image_of
from lvatool.sim.observe import FrameRecord, SentFrame

THUMBNAIL_WIDTH = 320  # pixels drawn; the page shows them 200 px wide (sharp on HiDPI)
JPEG_QUALITY = 80  # about 15 KB for 320×180


@dataclass(frozen=True)
class Thumbnail:
    """A frame to show: as it was sent, and what became of it (None: nothing heard yet)."""

    sent: SentFrame
    record: FrameRecord | None


def caption(thumbnail: Thumbnail, *, streams: int = 1) -> str:
    """One line: the frame's index, its fate and latency (the stream too when several)."""
    record = thumbnail.record
    where = f"stream {thumbnail.sent.stream} " if streams > 1 else ""
    head = f"{where}frame {thumbnail.sent.index}"
    if record is None:
        return f"{head}, no answer recorded"
    if record.status != "acked":
        return f"{head}, {record.status.replace('_', ' ')}"
    latency = f", {record.latency_ms:.1f} ms" if record.latency_ms is not None else ""
    return f"{head}{latency}"


def render_thumbnails(thumbnails: Sequence[Thumbnail], *, streams: int = 1) -> list[str]:
    """Each thumbnail as a ``<figure>`` with its picture inlined and an escaped caption."""
    return [_figure(t, streams) for t in thumbnails]


def _figure(thumbnail: Thumbnail, streams: int) -> str:
    line = caption(thumbnail, streams=streams)
    record = thumbnail.record
    label = record.label if record is not None else None
    figcaption = text(line) + (f" · {text(label)}" if label is not None else "")
    try:
        image = image_of(thumbnail.sent, width=THUMBNAIL_WIDTH)
    except ValueError as error:  # a sample that is not a picture of its declared format
        return (
            f"<figure><figcaption>{figcaption}<br>cannot be shown: {text(error)}"
            "</figcaption></figure>"
        )
    drawn = draw_inferences(
        image,
        record.inferences if record is not None else (),
        caption=line,
        alert=record is None or record.status != "acked",
    )
    buffer = io.BytesIO()
    drawn.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{text(line)}" src="data:image/jpeg;base64,{data}">'
        f"<figcaption>{figcaption}</figcaption></figure>"
    )
