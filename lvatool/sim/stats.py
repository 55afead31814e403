"""What a run measured: counts, labels, latency percentiles, truth matches.

Memory stays flat however long a run lasts: latencies go into an HdrHistogram (the
well-kept Python port, 2 significant digits: 1 % resolution from 1 µs to 16 minutes,
about 24 KB each), not a list, labels into a counter of distinct tags, and warnings
into a tally of distinct kinds (:mod:`lvatool.sim.tally`).

Two latencies are kept per frame (no coordinated omission): ``latency`` from when the
frame was *scheduled* to be sent (its media time on the paced clock, with
``--realtime``) and ``service`` from when it was actually sent. A stream held back by a
slow extension sends late, and only the first figure shows that wait; unpaced, the two
start at the same moment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from lvatool.sim.tally import WarningTally

_LOWEST_US = 1
_HIGHEST_US = 10**9  # about 16 minutes: longer is clamped, still counted
_DIGITS = 2


class LatencyHistogram:
    """Times in milliseconds, recorded in microseconds in an HdrHistogram."""

    def __init__(self) -> None:
        self._histogram = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
        self.maximum = 0.0
        self._figures: tuple[int, dict[str, float]] | None = None  # (samples, figures)

    @property
    def total(self) -> int:
        return int(self._histogram.get_total_count())

    def add(self, milliseconds: float) -> None:
        microseconds = min(max(round(milliseconds * 1000), _LOWEST_US), _HIGHEST_US)
        self._histogram.record_value(microseconds)
        self.maximum = max(self.maximum, milliseconds)

    def merge(self, other: LatencyHistogram) -> None:
        self._histogram.add(other._histogram)
        self.maximum = max(self.maximum, other.maximum)

    def percentile(self, fraction: float) -> float:
        """The time below which ``fraction`` of the samples fall (0 when empty)."""
        if not self.total:
            return 0.0
        value = self._histogram.get_value_at_percentile(100 * fraction) / 1000
        return float(min(value, self.maximum))

    def figures(self) -> dict[str, float]:
        """p50, p90, p99 and max in milliseconds, rounded for the summary.

        Computed in one pass over the histogram (the library walks its buckets in Python,
        about a millisecond a walk) and kept until the next sample: a summary of 64 streams
        asks for its figures several times, and these walks once cost more CPU than the
        streams' sending.
        """
        total = self.total
        if self._figures is not None and self._figures[0] == total:
            return dict(self._figures[1])
        figures = {"p50": 0.0, "p90": 0.0, "p99": 0.0}
        if total:
            found = self._histogram.get_percentile_to_value_dict([50, 90, 99])
            for name, percent in (("p50", 50), ("p90", 90), ("p99", 99)):
                figures[name] = round(min(found[percent] / 1000, self.maximum), 3)
        figures["max"] = round(self.maximum, 3)
        self._figures = (total, figures)
        return dict(figures)


@dataclass
class StreamStats:
    """Counts of one stream (one session); summed over streams for the run."""

    frames_decoded: int = 0
    frames_sent: int = 0
    frames_acked: int = 0
    frames_with_inferences: int = 0
    frames_dropped: int = 0
    frames_dropped_behind: int = 0  # of frames_dropped: a whole fan-out window behind
    frames_timed_out: int = 0
    frames_interrupted: int = 0  # in flight when the run was stopped (Ctrl-C)
    frames_sampled_out: int = 0
    late_acks: int = 0
    bytes_sent: int = 0
    truth_compared: int = 0
    truth_matched: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)  # from scheduled send
    service: LatencyHistogram = field(default_factory=LatencyHistogram)  # from actual send
    warnings: WarningTally = field(default_factory=WarningTally)
    first_sent_at: float | None = None  # time.monotonic() of the first sample sent
    last_acked_at: float | None = None  # … and of the last acknowledgement

    @property
    def streaming_s(self) -> float:
        """From the first sample sent to the last ack: the window ``fps`` is measured over."""
        if self.first_sent_at is None or self.last_acked_at is None:
            return 0.0
        return max(self.last_acked_at - self.first_sent_at, 0.0)

    def merge(self, other: StreamStats) -> None:
        for name in (
            "frames_decoded", "frames_sent", "frames_acked", "frames_with_inferences",
            "frames_dropped", "frames_dropped_behind", "frames_timed_out", "frames_interrupted",
            "frames_sampled_out", "late_acks", "bytes_sent", "truth_compared", "truth_matched",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        firsts = [t for t in (self.first_sent_at, other.first_sent_at) if t is not None]
        lasts = [t for t in (self.last_acked_at, other.last_acked_at) if t is not None]
        self.first_sent_at = min(firsts) if firsts else None
        self.last_acked_at = max(lasts) if lasts else None
        self.labels.update(other.labels)
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.warnings.merge(other.warnings)


@dataclass
class RunSummary:
    """The figures of a whole run, as printed and as written by ``--json``.

    The transfer is kept as values (``"embedded"`` or ``"shm"``, the buffer's MiB and the
    on-full policy), not as a sentence, so that scripts reading ``--json`` need not parse
    prose; the console renders the sentence (:mod:`lvatool.sim.report`). The JSON shape is
    published as ``lvatool/schemas/simulate-summary.schema.json``.
    """

    stats: StreamStats
    elapsed_s: float
    transfer: Literal["embedded", "shm"]
    target: str
    streams: int
    shm_mib: float | None = None  # buffer size, for transfer "shm" only
    on_full: Literal["wait", "drop"] | None = None  # for transfer "shm" only
    outcome: str = "ok"
    error: str | None = None
    per_stream: list[tuple[StreamStats, str]] = field(default_factory=list)  # (stats, outcome)

    @property
    def fps(self) -> float:
        """Acknowledged frames per second while streaming (start-up not counted)."""
        window = self.stats.streaming_s
        return self.stats.frames_acked / window if window > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        s = self.stats
        result: dict[str, Any] = {
            "target": self.target,
            "streams": self.streams,
            "transfer": self.transfer,
            "shm_mib": self.shm_mib,
            "on_full": self.on_full,
            "frames_decoded": s.frames_decoded,
            "frames_sent": s.frames_sent,
            "frames_acked": s.frames_acked,
            "frames_with_inferences": s.frames_with_inferences,
            "frames_dropped": s.frames_dropped,
            "frames_dropped_behind": s.frames_dropped_behind,
            "frames_timed_out": s.frames_timed_out,
            "frames_interrupted": s.frames_interrupted,
            "frames_sampled_out": s.frames_sampled_out,
            "late_acks": s.late_acks,
            "bytes_sent": s.bytes_sent,
            "fps": round(self.fps, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "streaming_s": round(self.stats.streaming_s, 3),
            "latency_ms": s.latency.figures(),
            "service_ms": s.service.figures(),
            "labels": dict(sorted(s.labels.items())),
            "outcome": self.outcome,
            "error": self.error,
            "warnings": s.warnings.texts(),
        }
        if self.per_stream:
            result["per_stream"] = [
                stream_figures(one, outcome) for one, outcome in self.per_stream
            ]
        if s.truth_compared:
            result["truth"] = {
                "compared": s.truth_compared,
                "matched": s.truth_matched,
                "accuracy": round(s.truth_matched / s.truth_compared, 6),
            }
        return result


def stream_figures(stats: StreamStats, outcome: str) -> dict[str, Any]:
    """One stream's own figures, for the summary's ``per_stream`` list."""
    return {
        "outcome": outcome,
        "frames_sent": stats.frames_sent,
        "frames_acked": stats.frames_acked,
        "frames_dropped": stats.frames_dropped,
        "frames_dropped_behind": stats.frames_dropped_behind,
        "frames_timed_out": stats.frames_timed_out,
        "latency_ms": stats.latency.figures(),
        "service_ms": stats.service.figures(),
    }
