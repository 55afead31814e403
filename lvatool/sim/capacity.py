"""How many real-time cameras an extension sustains: the search plan and the verdicts.

Theory of operation. A capacity search is a sequence of *steps*; each step runs N
cameras in real time for a while and is judged pass or fail. The plan is a pure function
of the steps judged so far (:func:`next_streams`): it ramps 1, 2, 4, … while steps pass,
up to ``max_streams``; after the first failure it bisects between the highest pass and
the lowest failure until they are adjacent. The answer (:func:`conclude`) is the highest
passing count below the lowest failing one.

A step passes (:func:`judge`) when, over its steady window (the warm-up excluded), every
camera's acknowledged frames keep up with what it offered, p99 latency of the frames
acknowledged in the window is within the SLO, and no frame was dropped or timed out. A
failing step is also asked whether the *simulator* was what fell short (its own CPU
used up, or its sender behind schedule while the extension kept up): a capacity bounded
by such a step would measure lvatool, not the extension, so :func:`conclude` refuses to
call it one.

Nothing here does I/O or reads a clock; the runner (:mod:`lvatool.sim.capacity_run`)
measures, this module decides, so every rule is unit-tested on plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Criteria:
    """What a step must meet, and when a failure is blamed on the simulator.

    ``rate_fraction``: acknowledged frames per second must be at least this fraction of
    those offered. ``cpu_fraction``: simulate's CPU at this fraction of the cores it may
    use means it was saturated. ``in_flight_fraction``: a sender behind schedule with
    fewer than this fraction of its allowed frames in flight was not held back by the
    extension (which would have filled them), so it was slow by itself.
    """

    slo_p99_ms: float
    max_in_flight: int = 8
    rate_fraction: float = 0.95
    cpu_fraction: float = 0.90
    in_flight_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not self.slo_p99_ms > 0:
            raise ValueError(f"slo_p99_ms must be positive, not {self.slo_p99_ms}")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {self.max_in_flight}")
        for name in ("rate_fraction", "cpu_fraction", "in_flight_fraction"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], not {value}")


@dataclass(frozen=True)
class StepFigures:
    """What one step measured; counts and CPU are over its steady window only.

    ``error`` is the sentence of a stream that ended early (the extension refused a
    session, stopped answering …); such a step fails with that reason.
    ``slowest_camera`` is the camera (stream number) that had the fewest frames
    acknowledged in the window, and how many: the total can keep up while one camera
    starves, so each camera is judged too. None when not measured per camera.
    """

    streams: int
    camera_fps: float
    window_s: float
    frames_sent: int
    frames_acked: int
    p50_ms: float
    p99_ms: float
    frames_dropped: int = 0
    frames_timed_out: int = 0
    mean_in_flight: float = 0.0
    cpu_s: float = 0.0
    usable_cores: int = 1
    error: str | None = None
    slowest_camera: tuple[int, int] | None = None

    @property
    def offered_fps(self) -> float:
        return self.streams * self.camera_fps

    @property
    def sent_fps(self) -> float:
        return self.frames_sent / self.window_s if self.window_s > 0 else 0.0

    @property
    def acked_fps(self) -> float:
        return self.frames_acked / self.window_s if self.window_s > 0 else 0.0

    @property
    def cpu_cores(self) -> float:
        """simulate's CPU over the window, in cores (1.0: one core busy all the time)."""
        return self.cpu_s / self.window_s if self.window_s > 0 else 0.0


@dataclass(frozen=True)
class StepResult:
    """A judged step: ``reasons`` why it failed (empty when it passed), and
    ``simulator_bottleneck``, when it failed, the sentence that blames the simulator."""

    figures: StepFigures
    reasons: tuple[str, ...] = ()
    simulator_bottleneck: str | None = None

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def streams(self) -> int:
        return self.figures.streams


def _kept_up(frames: int, figures: StepFigures, fraction: float, cameras: int = 0) -> bool:
    """Whether ``frames`` in the window is at least ``fraction`` of what ``cameras``
    offered (every camera of the step when 0).

    A window of T seconds holds floor or ceil of T × rate frames of a periodic camera,
    so one frame per camera of slack keeps a perfect step from failing on where the
    window happened to start.
    """
    cameras = cameras or figures.streams
    expected = cameras * figures.camera_fps * figures.window_s
    return frames + cameras >= fraction * expected


def judge(figures: StepFigures, criteria: Criteria) -> StepResult:
    """Pass or fail, with every reason for a failure, and whether the simulator is to blame."""
    reasons: list[str] = []
    if figures.error:
        reasons.append(f"a stream ended early: {figures.error}")
    if figures.window_s <= 0:
        reasons.append("no steady window was measured (the step ended during its warm-up)")
    elif not _kept_up(figures.frames_acked, figures, criteria.rate_fraction):
        reasons.append(f"acked {figures.acked_fps:.1f} of {figures.offered_fps:.1f} frames/s")
    elif figures.slowest_camera is not None:
        camera, acked = figures.slowest_camera
        if not _kept_up(acked, figures, criteria.rate_fraction, cameras=1):
            reasons.append(
                f"camera {camera} acked {acked / figures.window_s:.1f} of "
                f"{figures.camera_fps:.1f} frames/s"
            )
    if figures.p99_ms > criteria.slo_p99_ms:
        reasons.append(f"p99 {figures.p99_ms:.0f} ms over the {criteria.slo_p99_ms:g} ms SLO")
    if figures.frames_dropped:
        reasons.append(f"{figures.frames_dropped} frames dropped")
    if figures.frames_timed_out:
        reasons.append(f"{figures.frames_timed_out} frames timed out")
    bottleneck = _simulator_bottleneck(figures, criteria) if reasons else None
    return StepResult(figures, tuple(reasons), bottleneck)


def _simulator_bottleneck(figures: StepFigures, criteria: Criteria) -> str | None:
    """Why the simulator, not the extension, limited a failing step; None if it did not."""
    if figures.window_s <= 0:
        return None
    cores = figures.usable_cores
    if figures.cpu_cores >= criteria.cpu_fraction * cores:
        return f"simulate used {figures.cpu_cores:.2f} of the {cores} cores it may use"
    allowed = figures.streams * criteria.max_in_flight
    behind = not _kept_up(figures.frames_sent, figures, criteria.rate_fraction)
    if behind and figures.mean_in_flight < criteria.in_flight_fraction * allowed:
        return (
            f"simulate sent only {figures.sent_fps:.1f} of {figures.offered_fps:.1f} frames/s "
            f"on schedule while the extension kept up ({figures.mean_in_flight:.1f} frames in "
            f"flight of {allowed} allowed)"
        )
    return None


# -- the plan ----------------------------------------------------------------------------


def _bounds(results: Sequence[StepResult]) -> tuple[int, int | None]:
    """(highest passing count below the lowest failure or 0, lowest failing count or None)."""
    failed = [r.streams for r in results if not r.passed]
    lowest_fail = min(failed) if failed else None
    passed = [
        r.streams for r in results if r.passed and (lowest_fail is None or r.streams < lowest_fail)
    ]
    return (max(passed) if passed else 0), lowest_fail


def next_streams(max_streams: int, results: Sequence[StepResult]) -> int | None:
    """The number of cameras for the next step, or None when the search is over."""
    if max_streams < 1:
        raise ValueError(f"max_streams must be at least 1, not {max_streams}")
    highest_pass, lowest_fail = _bounds(results)
    if lowest_fail is None:
        if highest_pass >= max_streams:
            return None
        return min(max(1, 2 * highest_pass), max_streams)
    if lowest_fail - highest_pass <= 1:
        return None
    return (highest_pass + lowest_fail) // 2


def plan_length_bound(max_streams: int) -> int:
    """The most steps a search can take: the ramp, then the bisection below its failure."""
    ramp = math.ceil(math.log2(max_streams)) + 1 if max_streams > 1 else 1
    return ramp + max(ramp - 2, 0)


class Outcome(StrEnum):
    """How a finished search ended."""

    CAPACITY = "capacity"  # a passing count next to a failing one: the answer
    AT_LEAST = "at-least"  # every step passed, up to --max-streams
    NONE = "none"  # even one camera failed, for the extension's reasons
    SIMULATOR_LIMITED = "simulator-limited"  # the bounding failure was the simulator's


@dataclass(frozen=True)
class Answer:
    """The search's conclusion: ``cameras`` sustained (a lower bound when simulator-limited),
    the step that showed it (``passed``) and the failing step above it (``failed``)."""

    outcome: Outcome
    cameras: int
    passed: StepResult | None
    failed: StepResult | None


def conclude(results: Sequence[StepResult]) -> Answer:
    """The answer from the judged steps of a finished (or cut-short) search."""
    highest_pass, lowest_fail = _bounds(results)
    passed = next((r for r in results if r.passed and r.streams == highest_pass), None)
    failed = next((r for r in results if not r.passed and r.streams == lowest_fail), None)
    if failed is None:
        return Answer(Outcome.AT_LEAST, highest_pass, passed, None)
    if failed.simulator_bottleneck is not None:
        return Answer(Outcome.SIMULATOR_LIMITED, highest_pass, passed, failed)
    if passed is None:
        return Answer(Outcome.NONE, 0, None, failed)
    return Answer(Outcome.CAPACITY, highest_pass, passed, failed)


def camera_rate(source_fps: float, max_fps: float | None) -> float:
    """Frames per second one camera offers: the video's rate, capped by ``--max-fps``."""
    return min(source_fps, max_fps) if max_fps else source_fps


def default_warmup_s(step_s: float) -> float:
    """Warm-up before each step's window: half the step, at least 1 s, at most 5 s.

    Long enough for connections, encoders and the extension's first frames to settle,
    short enough that a 256-camera search does not spend most of its time warming up.
    """
    return min(5.0, max(1.0, step_s / 2))


__all__ = [
    "Answer",
    "Criteria",
    "Outcome",
    "StepFigures",
    "StepResult",
    "camera_rate",
    "conclude",
    "default_warmup_s",
    "judge",
    "next_streams",
    "plan_length_bound",
]
