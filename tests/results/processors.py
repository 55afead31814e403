"""Test processors for baselines: a classifier that flips some labels, a box detector.

Both find a frame's index from its sequence number (the descriptor is message 1, frame
0 is message 2, Q1): true for the unpaced, undropped runs these tests make.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lvatool.media import luma_label
from lvatool.server.processor import (
    Frame,
    Inference,
    Processor,
    SessionInfo,
    classification,
    entity,
)

CAR = (0.1, 0.2, 0.3, 0.3)


def frame_index(frame: Frame) -> int:
    return frame.sequence_number - 2


class FlipEveryTenth(Processor):
    """The reference classifier (R4), except that frames 0, 10, 20, … get the other label."""

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        label = luma_label(frame.mean_luma())
        if frame_index(frame) % 10 == 0:
            label = "light" if label == "dark" else "dark"
        return [classification(label, 1.0)]


@dataclass
class Detector(Processor):
    """One car per frame at :data:`CAR`, confidence 0.9; the sets change chosen frames.

    ``moved``: the car is shifted right by half its width (IoU 1/3); ``less_sure``: its
    confidence is 0.6; ``extra``: a person appears too; ``missing``: no car.
    """

    moved: set[int] = field(default_factory=set)
    less_sure: set[int] = field(default_factory=set)
    extra: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        index = frame_index(frame)
        left, top, width, height = CAR
        if index in self.moved:
            left += width / 2
        found = []
        if index not in self.missing:
            confidence = 0.6 if index in self.less_sure else 0.9
            found.append(entity("car", (left, top, width, height), confidence))
        if index in self.extra:
            found.append(entity("person", (0.7, 0.5, 0.1, 0.4), 0.8))
        return found
