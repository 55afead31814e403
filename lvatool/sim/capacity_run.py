"""Running a capacity search: each step is one real-time :func:`lvatool.sim.simulate` run.

The plan and the verdicts are in :mod:`lvatool.sim.capacity`; this module measures. A step
runs N looping cameras in real time for ``warmup_s + step_s`` seconds of video. While it
runs, simulate's progress callback is sampled (frames sent and acked, and this process's
CPU time, a few times a second); the steady window is the part of those samples after
the warm-up, so start-up costs (connections, encoder set-up, the extension's first
frames) do not count against the extension.

What happened inside the window is told frame by frame by a :class:`StepRecorder`
(a :class:`~lvatool.sim.observe.RunObserver`): each camera's acknowledgements, so one
starving camera cannot hide behind the total; the latency (from each frame's scheduled
send) of the frames acknowledged in the window, so the warm-up's first slow frames do
not count against the extension; and the frames dropped or timed out after the warm-up.
Frames a stream lost by falling a whole fan-out window behind are not told per frame;
they come from the run's summary and always fail the step.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lvatool.sim.capacity import (
    Answer,
    Criteria,
    StepFigures,
    StepResult,
    conclude,
    default_warmup_s,
    judge,
    next_streams,
)
from lvatool.sim.observe import FrameRecord, RunInfo, RunObserver
from lvatool.sim.run import RunOptions, simulate
from lvatool.sim.stats import LatencyHistogram, RunSummary

#: Run outcomes that end the search at once: no later step could mean more.
#: "connect": the extension cannot be reached (or went away); "violation": it broke the
#: protocol; "source": the video; "error": lvatool's own fault; "interrupted": Ctrl-C.
ABORTING_OUTCOMES = ("connect", "violation", "source", "error", "interrupted")


@dataclass(frozen=True)
class CapacityOptions:
    """A search: ``run`` is the template of every step (its streams, pacing, length and
    outputs are set per step); ``camera_fps`` is what one camera offers."""

    run: RunOptions
    camera_fps: float
    source_fps: float
    slo_p99_ms: float
    max_streams: int = 256
    step_s: float = 10.0
    warmup_s: float | None = None  # None: default_warmup_s(step_s)

    def __post_init__(self) -> None:
        if self.max_streams < 1:
            raise ValueError(f"max_streams must be at least 1, not {self.max_streams}")
        if not self.step_s > 0:
            raise ValueError(f"step_s must be positive, not {self.step_s}")
        if not self.camera_fps > 0 or not self.source_fps > 0:
            raise ValueError("camera_fps and source_fps must be positive")

    @property
    def warmup(self) -> float:
        return self.warmup_s if self.warmup_s is not None else default_warmup_s(self.step_s)

    @property
    def criteria(self) -> Criteria:
        return Criteria(self.slo_p99_ms, max_in_flight=self.run.stream.max_in_flight)


@dataclass
class CapacityReport:
    """The steps judged so far, and how the search ended: ``answer`` when it ran to its
    end, or ``aborted`` (the run outcome) with ``error`` when a step could not run."""

    options: CapacityOptions
    usable_cores: int
    steps: list[StepResult] = field(default_factory=list)
    answer: Answer | None = None
    aborted: str | None = None
    error: str | None = None
    details: str | None = None  # the traceback of an internal error, for --debug


def usable_cores() -> int:
    """CPUs this process may run on (its affinity, as a container or taskset limits it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Sample:
    at: float
    sent: int
    acked: int
    cpu_s: float


class _WindowSampler:
    """Records simulate's progress callbacks; the steady window is cut from them."""

    def __init__(self) -> None:
        self.samples: list[_Sample] = []

    def __call__(self, sent: int, acked: int) -> None:
        self.samples.append(_Sample(time.monotonic(), sent, acked, time.process_time()))

    def window(self, warmup_s: float, step_s: float) -> tuple[_Sample, _Sample, float] | None:
        """First and last sample of the window, and the mean frames in flight over it.

        The window opens ``warmup_s`` after the first sample that saw a frame sent and
        closes ``step_s`` later, or at the last sample before it.
        """
        first = next((s for s in self.samples if s.sent > 0), None)
        if first is None:
            return None
        opens, closes = first.at + warmup_s, first.at + warmup_s + step_s
        inside = [s for s in self.samples if opens <= s.at <= closes]
        if len(inside) < 2:
            return None
        in_flight = sum(s.sent - s.acked for s in inside) / len(inside)
        return inside[0], inside[-1], in_flight


class StepRecorder(RunObserver):
    """What each frame of a step became, with when, so the window can be cut afterwards.

    Times are ``time.monotonic()``, as the window's are: an acknowledged frame counts at
    its ack, a frame that timed out at its send (it was offered in the window whenever
    its time-out fell), a dropped frame when it was dropped.
    """

    def __init__(self, streams: int) -> None:
        self._origin = 0.0
        self._acks: list[list[float]] = [[] for _ in range(streams)]  # per camera, in order
        self._latencies: list[tuple[float, float]] = []  # (acked at, ms), in ack order
        self._losses: list[tuple[float, str]] = []  # (at, "dropped" or "timed_out")

    def run_started(self, run: RunInfo) -> None:
        self._origin = run.origin

    def frame_done(self, record: FrameRecord) -> None:
        if record.status == "acked" and record.acked_s is not None:
            at = self._origin + record.acked_s
            self._acks[record.stream].append(at)
            self._latencies.append((at, record.latency_ms or 0.0))
        elif record.status == "timed_out":
            self._losses.append((self._origin + (record.sent_s or 0.0), "timed_out"))
        elif record.status == "dropped":
            self._losses.append((time.monotonic(), "dropped"))

    def slowest_camera(self, opens: float, closes: float) -> tuple[int, int]:
        """The camera with the fewest acks in [opens, closes], and how many it had."""
        counts = [
            bisect.bisect_right(acks, closes) - bisect.bisect_left(acks, opens)
            for acks in self._acks
        ]
        camera = min(range(len(counts)), key=counts.__getitem__)
        return camera, counts[camera]

    def latency_ms(self, opens: float, closes: float) -> tuple[float, float]:
        """p50 and p99 of the frames acknowledged in [opens, closes]."""
        histogram = LatencyHistogram()
        for at, milliseconds in self._latencies:
            if opens <= at <= closes:
                histogram.add(milliseconds)
        return histogram.percentile(0.50), histogram.percentile(0.99)

    def losses(self, opens: float) -> tuple[int, int]:
        """Frames dropped and frames timed out from ``opens`` on (the warm-up excluded)."""
        after = [kind for at, kind in self._losses if at >= opens]
        return after.count("dropped"), after.count("timed_out")


def _figures(
    summary: RunSummary,
    sampler: _WindowSampler,
    recorder: StepRecorder,
    options: CapacityOptions,
    cores: int,
) -> StepFigures:
    window = sampler.window(options.warmup, options.step_s)
    slowest: tuple[int, int] | None = None
    if window is None:  # judged as "no steady window"
        window_s, sent, acked, in_flight, cpu_s = 0.0, 0, 0, 0.0, 0.0
        p50 = p99 = 0.0
        dropped, timed_out = recorder.losses(float("-inf"))
    else:
        start, end, in_flight = window
        window_s, cpu_s = end.at - start.at, end.cpu_s - start.cpu_s
        sent, acked = end.sent - start.sent, end.acked - start.acked
        slowest = recorder.slowest_camera(start.at, end.at)
        p50, p99 = recorder.latency_ms(start.at, end.at)
        dropped, timed_out = recorder.losses(start.at)
    dropped += summary.stats.frames_dropped_behind
    return StepFigures(
        streams=summary.streams,
        camera_fps=options.camera_fps,
        window_s=window_s,
        frames_sent=sent,
        frames_acked=acked,
        p50_ms=p50,
        p99_ms=p99,
        frames_dropped=dropped,
        frames_timed_out=timed_out,
        mean_in_flight=in_flight,
        cpu_s=cpu_s,
        usable_cores=cores,
        error=summary.error if summary.outcome != "ok" else None,
        slowest_camera=slowest,
    )


def _step_options(options: CapacityOptions, streams: int) -> RunOptions:
    """One step's run: N looping real-time cameras for the warm-up, the step and a margin.

    The margin keeps the whole window inside the sending: the window is placed from
    progress samples taken a few times a second, so it may open a little late, and it
    must not close on the drain after the last frame, where nothing more is sent.
    """
    seconds = options.warmup + options.step_s + max(1.0, 0.1 * options.step_s)
    return replace(
        options.run,
        stream=replace(options.run.stream, realtime=True),
        streams=streams,
        loop=True,
        max_frames=math.ceil(seconds * options.source_fps) + 1,
        output=None,
        truth=None,
    )


StepCallback = Callable[[StepResult], None]
StartCallback = Callable[[int], None]


def find_capacity(
    options: CapacityOptions,
    *,
    stop: threading.Event | None = None,
    on_start: StartCallback | None = None,
    on_step: StepCallback | None = None,
) -> CapacityReport:
    """Search, step by step, for the most cameras the extension sustains.

    ``on_start(streams)`` is called as each step begins and ``on_step(result)`` as it is
    judged, so a caller can show progress. A step whose run ends in one of
    :data:`ABORTING_OUTCOMES` ends the search with ``aborted`` set; otherwise the search
    runs to its answer. Never raises for the extension's faults; Ctrl-C (KeyboardInterrupt)
    ends it as ``aborted`` "interrupted", with the steps judged so far.
    """
    stop = stop or threading.Event()
    report = CapacityReport(options, usable_cores())
    try:
        _search(options, report, stop, on_start, on_step)
    except KeyboardInterrupt:  # between two steps; simulate() handles one inside a step
        stop.set()
        report.aborted, report.error = "interrupted", "interrupted"
    return report


def _search(
    options: CapacityOptions,
    report: CapacityReport,
    stop: threading.Event,
    on_start: StartCallback | None,
    on_step: StepCallback | None,
) -> None:
    criteria = options.criteria
    while (streams := next_streams(options.max_streams, report.steps)) is not None:
        if on_start is not None:
            on_start(streams)
        sampler, recorder = _WindowSampler(), StepRecorder(streams)
        run = _step_options(options, streams)
        run = replace(run, observers=(*run.observers, recorder))
        result = simulate(run, stop, on_progress=sampler)
        summary = result.summary
        if summary.outcome in ABORTING_OUTCOMES:
            report.aborted, report.error = summary.outcome, summary.error
            report.details = next((f.details for f in result.failures if f.details), None)
            return
        figures = _figures(summary, sampler, recorder, options, report.usable_cores)
        step = judge(figures, criteria)
        report.steps.append(step)
        if on_step is not None:
            on_step(step)
    report.answer = conclude(report.steps)


__all__ = [
    "ABORTING_OUTCOMES",
    "CapacityOptions",
    "CapacityReport",
    "StepRecorder",
    "find_capacity",
    "usable_cores",
]
