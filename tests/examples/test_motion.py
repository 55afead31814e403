"""The motion example: its boxes land where the clip's generator moved the bouncing box.

The truth file's ``motion`` has, per frame, the rectangle the box swept since the previous
frame (``make_clips.py`` computes it from its own geometry); ``scene_cuts`` the frames where
the whole picture changes. The scrolling bars and drifting waves move too, but with at most
24 luma levels of contrast against the box's 30: the default sensitivity sees the box, not
them, and a high sensitivity sees them as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lvatool.examples.motion import MotionProcessor, MotionSettings, process
from lvatool.server import Inference
from lvatool.testing import FrameResult, ProcessorSession, run_processor, run_processor_on_video
from lvatool.testing.inprocess import rgb24_format

VIDEOS = Path(__file__).resolve().parents[2] / "samples" / "videos"
Box = tuple[float, float, float, float]

#: The boxes touching the swept area, taken together, must cover it this well (IoU). The
#: detector works on a grid of 16-pixel cells (at 640x360), so its boxes are up to a cell
#: larger than the truth on each side; measured minimum over the clip: 0.69.
MIN_IOU = 0.5


def truth(clip: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VIDEOS / clip).with_suffix(".truth.json").read_text())
    return data


def boxes(inferences: list[Inference]) -> list[Box]:
    for inference in inferences:
        assert inference.type == Inference.InferenceType.MOTION  # R1: the explicit type
    return [(i.motion.box.l, i.motion.box.t, i.motion.box.w, i.motion.box.h) for i in inferences]


def overlap(a: Box, b: Box) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def iou(a: Box, b: Box) -> float:
    shared = overlap(a, b)
    return shared / (a[2] * a[3] + b[2] * b[3] - shared)


def hull(found: list[Box]) -> Box:
    left, top = min(b[0] for b in found), min(b[1] for b in found)
    right, bottom = max(b[0] + b[2] for b in found), max(b[1] + b[3] for b in found)
    return (left, top, right - left, bottom - top)


def judge(results: list[FrameResult], clip_truth: dict[str, Any]) -> tuple[list[float], int]:
    """Per moving frame, the IoU of the boxes touching the swept area with it; and how many
    frames had a box apart from it. Frame 0 must have no motion, a scene cut a full box."""
    cuts = set(clip_truth["scene_cuts"])
    scores, stray_frames = [], 0
    for result in results:
        found = boxes(result.inferences)
        swept = clip_truth["motion"][result.index]
        if swept is None:
            assert found == [], "the first frame of a session has nothing to compare with"
        elif result.index in cuts:
            assert found and found[0][2] * found[0][3] > 0.9, f"scene cut {result.index}"
        else:
            touching = [box for box in found if overlap(box, tuple(swept)) > 0]
            scores.append(iou(hull(touching), tuple(swept)) if touching else 0.0)
            stray_frames += len(touching) < len(found)
    return scores, stray_frames


def test_boxes_land_on_the_bouncing_box() -> None:
    """Every frame of the 640x360 clip: the box's swept area is found, and little else."""
    clip_truth = truth("daynight.mp4")
    results = run_processor_on_video(process, VIDEOS / "daynight.mp4")
    assert len(results) == clip_truth["frames"] == 300
    scores, stray_frames = judge(results, clip_truth)
    worst = min(range(len(scores)), key=scores.__getitem__)
    assert scores[worst] >= MIN_IOU, f"IoU {scores[worst]:.2f} at moving frame {worst}"
    assert stray_frames <= 0.05 * len(scores)  # measured: 7 of 289, from compression noise


def test_boxes_land_on_the_bouncing_box_at_1080p() -> None:
    """The same, on the 1080p clip (its first 30 frames, with the scene cut at 23)."""
    clip_truth = truth("bars1080.mp4")
    results = run_processor_on_video(process, VIDEOS / "bars1080.mp4", max_frames=30)
    scores, stray_frames = judge(results, clip_truth)
    assert min(scores) >= MIN_IOU
    assert stray_frames <= 0.05 * len(scores)


def test_high_sensitivity_also_sees_the_scrolling_bars() -> None:
    clip_truth = truth("daynight.mp4")
    results = run_processor_on_video(
        process,
        VIDEOS / "daynight.mp4",
        max_frames=20,
        extension_configuration='{"sensitivity": 0.9}',
    )
    _, stray_frames = judge(results, clip_truth)
    assert stray_frames >= 15  # of the 18 moving frames, nearly all


def test_a_static_input_has_no_motion() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    assert run_processor(process, [rgb, rgb, rgb.copy()]) == [[], [], []]
    assert run_processor(process, [rgb] * 2, extension_configuration='{"sensitivity": 1}') == [
        [],
        [],
    ]


def square(left: int, top: int) -> np.ndarray:
    """A grey 640x360 frame with a white 64x64 square at (left, top)."""
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[top : top + 64, left : left + 64] = 255
    return frame


def test_a_moving_square_gets_one_box_around_both_positions() -> None:
    """It moved from (100, 100) to (140, 120): the box covers both places, within a cell."""
    (first, second) = run_processor(process, [square(100, 100), square(140, 120)])
    assert first == []
    (found,) = boxes(second)
    expected = (100 / 640, 100 / 360, 104 / 640, 84 / 360)
    cell_w, cell_h = 16 / 640, 16 / 360  # one grid cell of the working image
    assert found[0] == pytest.approx(expected[0], abs=cell_w)
    assert found[1] == pytest.approx(expected[1], abs=cell_h)
    assert found[2] == pytest.approx(expected[2], abs=2 * cell_w)
    assert found[3] == pytest.approx(expected[3], abs=2 * cell_h)


def test_sessions_keep_their_own_previous_frame() -> None:
    """Two sessions on one instance, interleaved: each compares with its own last frame."""
    processor = MotionProcessor()
    still = square(100, 100)
    with (
        ProcessorSession(processor, rgb24_format(640, 360)) as camera_a,
        ProcessorSession(processor, rgb24_format(640, 360)) as camera_b,
    ):
        for step in range(4):
            (a,) = camera_a.process([camera_a.frame(still.tobytes(), step / 30)])
            moved = square(100 + 30 * step, 100)
            (b,) = camera_b.process([camera_b.frame(moved.tobytes(), step / 30)])
            assert a == []
            assert bool(b) == bool(step)  # the first frame has nothing to compare with


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ("sensitivity=0.5", "extension_configuration is not JSON"),
        ("[0.5]", "must be a JSON object"),
        ('{"sensitivity": 1.5}', "sensitivity must be a number from 0 to 1, not 1.5"),
        ('{"sensitivity": "high"}', 'not "high"'),
        ('{"sensitivity": true}', "not true"),
        ('{"sensitvity": 0.5}', "unknown key(s) 'sensitvity'"),
    ],
)
def test_a_bad_configuration_refuses_the_session(configuration: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        run_processor(process, [square(0, 0)], extension_configuration=configuration)
    assert message in str(raised.value)


def test_sensitivity_maps_to_a_luma_threshold() -> None:
    assert MotionSettings.from_configuration("").threshold == pytest.approx(27)
    assert MotionSettings.from_configuration('{"sensitivity": 0}').threshold == pytest.approx(51)
    assert MotionSettings.from_configuration('{"sensitivity": 1}').threshold == pytest.approx(3)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 5), (160, 120)])
def test_tiny_and_odd_frames(size: tuple[int, int]) -> None:
    width, height = size
    dark = np.zeros((height, width, 3), np.uint8)
    light = np.full((height, width, 3), 255, np.uint8)
    (_, changed) = run_processor(process, [dark, light])
    assert boxes(changed) == [(0.0, 0.0, 1.0, 1.0)]
