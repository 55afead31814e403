"""What a capacity step counts inside its window (lvatool.sim.capacity_run.StepRecorder).

The recorder is told each frame's fate as a run observer; the window is cut afterwards.
Fed plain records here: per-camera acks in the window, the latency of the frames
acknowledged in it (not the warm-up's), and losses after the warm-up only.
"""

from __future__ import annotations

from lvatool.media import Encoding, FrameFormat
from lvatool.sim.capacity_run import StepRecorder
from lvatool.sim.observe import FrameRecord, FrameStatus, RunInfo

ORIGIN = 1000.0  # time.monotonic() at the run's origin


def recorder(streams: int) -> StepRecorder:
    step = StepRecorder(streams)
    step.run_started(RunInfo(streams, 10.0, FrameFormat(Encoding.JPG), "embedded", 0.0, ORIGIN))
    return step


def record(
    stream: int, at_s: float, status: FrameStatus = "acked", latency_ms: float = 10.0
) -> FrameRecord:
    acked = status == "acked"
    return FrameRecord(
        stream=stream,
        index=0,
        time_s=0.0,
        timestamp=0,
        sequence=None if status == "dropped" else 1,
        sent_s=None if status == "dropped" else at_s - latency_ms / 1000,
        acked_s=at_s if acked else None,
        latency_ms=latency_ms if acked else None,
        service_ms=latency_ms if acked else None,
        status=status,
    )


def test_the_slowest_camera_is_counted_inside_the_window_only() -> None:
    step = recorder(3)
    for second in range(10):  # cameras 0 and 2: one ack a second; camera 1 only at first
        step.frame_done(record(0, second + 0.5))
        step.frame_done(record(2, second + 0.5))
    for second in range(3):
        step.frame_done(record(1, second + 0.5))
    assert step.slowest_camera(ORIGIN + 4, ORIGIN + 9) == (1, 0)
    assert step.slowest_camera(ORIGIN + 0, ORIGIN + 3) == (0, 3)  # first of the tied


def test_warm_up_latency_does_not_count_against_the_step() -> None:
    step = recorder(1)
    for second in range(2):  # the warm-up: the first frames are slow
        step.frame_done(record(0, second + 0.5, latency_ms=900.0))
    for second in range(2, 12):
        step.frame_done(record(0, second + 0.5, latency_ms=20.0))
    p50, p99 = step.latency_ms(ORIGIN + 2, ORIGIN + 12)
    assert p50 == p99 == 20.0
    assert step.latency_ms(ORIGIN, ORIGIN + 12)[1] == 900.0  # the whole run would fail


def test_losses_after_the_warm_up_count_and_those_before_do_not() -> None:
    step = recorder(2)
    step.frame_done(record(0, 1.0, status="timed_out"))  # sent during the warm-up
    step.frame_done(record(1, 6.0, status="timed_out"))  # sent in the window
    assert step.losses(ORIGIN + 5) == (0, 1)
    assert step.losses(ORIGIN) == (0, 2)
