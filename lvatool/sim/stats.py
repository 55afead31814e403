"""What a run measured: counts, labels, latency percentiles, truth matches.

Memory stays flat however long a run lasts: latencies go into a fixed log-scale
histogram (1 % resolution), not a list, labels into a counter of distinct tags, and
warnings into a tally of distinct kinds (:mod:`lvatool.sim.tally`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from lvatool.sim.tally import WarningTally

_MIN_MS = 0.001
_STEP = math.log(1.01)
_BUCKETS = 2200  # 0.001 ms × 1.01^2200 ≈ 3 × 10^6 ms


class LatencyHistogram:
    """Round-trip times in milliseconds, in log-spaced buckets."""

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.total = 0
        self.maximum = 0.0

    def add(self, milliseconds: float) -> None:
        index = 0 if milliseconds <= _MIN_MS else int(math.log(milliseconds / _MIN_MS) / _STEP)
        self.counts[min(index, _BUCKETS - 1)] += 1
        self.total += 1
        self.maximum = max(self.maximum, milliseconds)

    def merge(self, other: LatencyHistogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.maximum = max(self.maximum, other.maximum)

    def percentile(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the samples fall (0 when empty)."""
        if not self.total:
            return 0.0
        rank = max(1, math.ceil(fraction * self.total))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                upper = _MIN_MS * math.exp((index + 1) * _STEP)
                return min(upper, self.maximum)
        return self.maximum


@dataclass
class StreamStats:
    """Counts of one stream (one session); summed over streams for the run."""

    frames_decoded: int = 0
    frames_sent: int = 0
    frames_acked: int = 0
    frames_with_inferences: int = 0
    frames_dropped: int = 0
    frames_timed_out: int = 0
    frames_interrupted: int = 0  # in flight when the run was stopped (Ctrl-C)
    frames_sampled_out: int = 0
    late_acks: int = 0
    bytes_sent: int = 0
    truth_compared: int = 0
    truth_matched: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
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
            "frames_dropped", "frames_timed_out", "frames_interrupted", "frames_sampled_out",
            "late_acks", "bytes_sent", "truth_compared", "truth_matched",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        firsts = [t for t in (self.first_sent_at, other.first_sent_at) if t is not None]
        lasts = [t for t in (self.last_acked_at, other.last_acked_at) if t is not None]
        self.first_sent_at = min(firsts) if firsts else None
        self.last_acked_at = max(lasts) if lasts else None
        self.labels.update(other.labels)
        self.latency.merge(other.latency)
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
            "frames_timed_out": s.frames_timed_out,
            "frames_interrupted": s.frames_interrupted,
            "frames_sampled_out": s.frames_sampled_out,
            "late_acks": s.late_acks,
            "bytes_sent": s.bytes_sent,
            "fps": round(self.fps, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "streaming_s": round(self.stats.streaming_s, 3),
            "latency_ms": {
                "p50": round(s.latency.percentile(0.50), 3),
                "p90": round(s.latency.percentile(0.90), 3),
                "p99": round(s.latency.percentile(0.99), 3),
                "max": round(s.latency.maximum, 3),
            },
            "labels": dict(sorted(s.labels.items())),
            "outcome": self.outcome,
            "error": self.error,
            "warnings": s.warnings.texts(),
        }
        if s.truth_compared:
            result["truth"] = {
                "compared": s.truth_compared,
                "matched": s.truth_matched,
                "accuracy": round(s.truth_matched / s.truth_compared, 6),
            }
        return result
