"""Running a capacity search: each step is one real-time :func:`lvatool.sim.simulate` run.

The plan and the verdicts are in :mod:`lvatool.sim.capacity`; this module measures. A step
runs N looping cameras in real time for ``warmup_s + step_s`` seconds of video. While it
runs, simulate's progress callback is sampled (frames sent and acked, and this process's
CPU time, a few times a second); the steady window is the part of those samples after
the warm-up, so start-up costs (connections, encoder set-up, the extension's first
frames) do not count against the extension.

Latency, drops and time-outs are read from the run's published summary (the
``simulate-summary`` shape), through :func:`step_latency_ms` and :func:`step_losses`
only, so the search follows whatever the summary measures.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

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
from lvatool.sim.run import RunOptions, simulate
from lvatool.sim.stats import RunSummary

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


def step_latency_ms(summary: dict[str, Any]) -> tuple[float, float]:
    """p50 and p99 latency of a step, in ms: the one place the search reads latency.

    Read from the summary's published ``latency_ms`` (schema ``simulate-summary``): the
    time from each frame's *scheduled* send to its ack where the summary measures that
    (so a sender held back by a slow extension cannot hide it), the round trip from the
    actual send where it does not.
    """
    latency = summary["latency_ms"]
    return float(latency["p50"]), float(latency["p99"])


def step_losses(summary: dict[str, Any]) -> tuple[int, int]:
    """Frames dropped (for want of buffer room, or behind schedule) and frames timed out."""
    dropped = int(summary["frames_dropped"]) + int(summary.get("frames_dropped_behind", 0))
    return dropped, int(summary["frames_timed_out"])


def _figures(
    summary: RunSummary, sampler: _WindowSampler, options: CapacityOptions, cores: int
) -> StepFigures:
    published = summary.as_dict()
    p50, p99 = step_latency_ms(published)
    dropped, timed_out = step_losses(published)
    window = sampler.window(options.warmup, options.step_s)
    if window is None:  # judged as "no steady window"
        window_s, sent, acked, in_flight, cpu_s = 0.0, 0, 0, 0.0, 0.0
    else:
        start, end, in_flight = window
        window_s, cpu_s = end.at - start.at, end.cpu_s - start.cpu_s
        sent, acked = end.sent - start.sent, end.acked - start.acked
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
        sampler = _WindowSampler()
        result = simulate(_step_options(options, streams), stop, on_progress=sampler)
        summary = result.summary
        if summary.outcome in ABORTING_OUTCOMES:
            report.aborted, report.error = summary.outcome, summary.error
            report.details = next((f.details for f in result.failures if f.details), None)
            return
        step = judge(_figures(summary, sampler, options, report.usable_cores), criteria)
        report.steps.append(step)
        if on_step is not None:
            on_step(step)
    report.answer = conclude(report.steps)


__all__ = [
    "ABORTING_OUTCOMES",
    "CapacityOptions",
    "CapacityReport",
    "find_capacity",
    "step_latency_ms",
    "step_losses",
    "usable_cores",
]
