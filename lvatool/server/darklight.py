"""The reference classifier: a frame is ``dark`` when its mean BT.601 luma is below 127 (R4)."""

from __future__ import annotations

from collections.abc import Sequence

from lvatool.media import luma_label
from lvatool.server.processor import Frame, Inference, Processor, SessionInfo, classification


class DarkLightProcessor(Processor):
    """One ``CLASSIFICATION`` per frame, tag ``dark`` or ``light``, confidence 1.0.

    For RAW frames the luma is summed straight from the received bytes (for YUV420P it
    is the Y plane), so a 1080p frame from shared memory is never copied or converted.
    """

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        return [classification(luma_label(frame.mean_luma()), 1.0)]
