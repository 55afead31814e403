"""A run's figures over time, aggregated as frames come, in memory that does not grow.

The report needs throughput, latency percentiles, drops and the in-flight count per
second, but a run's length is not known in advance (``--loop`` can stream for hours at
hundreds of frames/s): keeping every record would grow without bound. So:

- Latencies go into :class:`LatencyBins`, counts per logarithmic bin 2 % wide: at most
  about a thousand bins whatever the number of frames, mergeable, and a percentile read
  from it is within 1 % of the exact one, plenty for a chart.
- Time is cut into buckets of ``width_s`` (1 s to start with). :class:`Timeline` keeps at
  most ``max_buckets`` of them; when a run outgrows that, the width doubles and neighbours
  merge (counts add, bins add), so an hour at 1 200 buckets becomes 4-second buckets.

Everything here is pure (no I/O, no threads, no clocks): the observer that feeds it
(:mod:`lvatool.html_report.simulate_report`) holds the lock and reads the clock.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from lvatool.sim.observe import FrameRecord, RunSample

_SMALLEST_MS = 0.001  # 1 µs: anything quicker shares the first bin
_RATIO = 1.02
_LOG_RATIO = math.log(_RATIO)
MAX_BUCKETS = 1200  # 20 minutes at one bucket per second


class LatencyBins:
    """Milliseconds counted per logarithmic bin (each 2 % wider than the last).

    A sorted list per second would be exact but grows with the frame rate; an
    HdrHistogram is about 24 KB even when nearly empty, too much for one per second.
    These bins cost one dict entry per distinct bin in use (a few dozen in a typical
    second) and their percentiles are within 1 % (half a bin) of the exact value.
    """

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()
        self.count = 0
        self.maximum = 0.0
        self.minimum = math.inf

    @staticmethod
    def _bin_of(milliseconds: float) -> int:
        if milliseconds <= _SMALLEST_MS:
            return 0
        return int(math.log(milliseconds / _SMALLEST_MS) / _LOG_RATIO)

    @staticmethod
    def bin_edges(index: int) -> tuple[float, float]:
        """The bin's lower and upper bound, in milliseconds."""
        low = _SMALLEST_MS * _RATIO**index
        return low, low * _RATIO

    def add(self, milliseconds: float) -> None:
        self._counts[self._bin_of(milliseconds)] += 1
        self.count += 1
        self.maximum = max(self.maximum, milliseconds)
        self.minimum = min(self.minimum, milliseconds)

    def merge(self, other: LatencyBins) -> None:
        self._counts.update(other._counts)
        self.count += other.count
        self.maximum = max(self.maximum, other.maximum)
        self.minimum = min(self.minimum, other.minimum)

    @property
    def distinct_bins(self) -> int:
        """Bins in use: what this costs in memory."""
        return len(self._counts)

    def percentile(self, fraction: float) -> float | None:
        """The latency below which ``fraction`` of the samples fall; None when empty.

        The bin holding the nearest-rank sample, read at its geometric middle and kept
        within the observed minimum and maximum (so p100 is the exact maximum).
        """
        if not self.count:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        if rank >= self.count:
            return self.maximum
        seen = 0
        for index in sorted(self._counts):
            seen += self._counts[index]
            if seen >= rank:
                low, high = self.bin_edges(index)
                return min(max(math.sqrt(low * high), self.minimum), self.maximum)
        return self.maximum

    def bars(self) -> list[tuple[float, float, int]]:
        """(low ms, high ms, count) of every bin in use, in order: the histogram."""
        return [(*self.bin_edges(i), self._counts[i]) for i in sorted(self._counts)]


@dataclass
class Bucket:
    """What happened in one slice of the run's time."""

    sent: int = 0
    acked: int = 0
    dropped: int = 0
    timed_out: int = 0
    interrupted: int = 0
    latency: LatencyBins = field(default_factory=LatencyBins)
    in_flight_max: int | None = None  # None: no sample fell in this bucket
    shm_bytes_max: int | None = None

    def merge(self, other: Bucket) -> None:
        self.sent += other.sent
        self.acked += other.acked
        self.dropped += other.dropped
        self.timed_out += other.timed_out
        self.interrupted += other.interrupted
        self.latency.merge(other.latency)
        self.in_flight_max = _larger(self.in_flight_max, other.in_flight_max)
        self.shm_bytes_max = _larger(self.shm_bytes_max, other.shm_bytes_max)


def _larger(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


@dataclass(frozen=True)
class Series:
    """The timeline as columns, one entry per bucket from the run's start, for charts."""

    width_s: float
    start_s: list[float]  # each bucket's start, seconds from the run's origin
    mid_s: list[float]  # the middle of the part of each bucket the run covered: for charts
    sent_per_s: list[float]
    acked_per_s: list[float]
    p50_ms: list[float | None]  # None: nothing acknowledged in that bucket
    p99_ms: list[float | None]
    dropped: list[int]
    timed_out: list[int]
    interrupted: list[int]
    in_flight_max: list[int | None]
    shm_bytes_max: list[int | None]


class Timeline:
    """Per-bucket counts and latencies of a run, fed record by record (not thread-safe).

    Frames are placed by when things happened: a sent frame by its send time, an
    acknowledged one (its latency too) by its ack time, a drop or timeout by when the
    stream gave up on it (``now_s``, as the record has no time of its own for that).
    """

    def __init__(self, max_buckets: int = MAX_BUCKETS) -> None:
        if max_buckets < 2:
            raise ValueError(f"max_buckets must be at least 2, not {max_buckets}")
        self.max_buckets = max_buckets
        self.width_s = 1.0
        self._buckets: dict[int, Bucket] = {}
        self.latency = LatencyBins()  # the whole run's, for the histogram
        self.first_s: float | None = None  # the first and last moments anything happened
        self.last_s: float | None = None

    def _bucket(self, t_s: float) -> Bucket:
        t_s = max(t_s, 0.0)
        self.first_s = t_s if self.first_s is None else min(self.first_s, t_s)
        self.last_s = t_s if self.last_s is None else max(self.last_s, t_s)
        key = int(t_s // self.width_s)
        while key >= self.max_buckets:
            self._coarsen()
            key = int(t_s // self.width_s)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket()
        return bucket

    def _coarsen(self) -> None:
        """Double the width: buckets 2k and 2k+1 become bucket k."""
        merged: dict[int, Bucket] = {}
        for key in sorted(self._buckets):
            target = merged.setdefault(key // 2, Bucket())
            target.merge(self._buckets[key])
        self._buckets = merged
        self.width_s *= 2

    def record(self, record: FrameRecord, now_s: float) -> None:
        """One frame's fate (``now_s``: seconds from the run's origin, at the call)."""
        if record.sent_s is not None:
            self._bucket(record.sent_s).sent += 1
        if record.status == "acked":
            bucket = self._bucket(record.acked_s if record.acked_s is not None else now_s)
            bucket.acked += 1
            if record.latency_ms is not None:
                bucket.latency.add(record.latency_ms)
                self.latency.add(record.latency_ms)
        elif record.status == "dropped":
            self._bucket(now_s).dropped += 1
        elif record.status == "timed_out":
            self._bucket(now_s).timed_out += 1
        else:
            self._bucket(now_s).interrupted += 1

    def sample(self, sample: RunSample) -> None:
        """The run's state at one moment: the bucket keeps the highest it saw."""
        bucket = self._bucket(sample.t_s)
        bucket.in_flight_max = _larger(bucket.in_flight_max, sample.in_flight)
        bucket.shm_bytes_max = _larger(bucket.shm_bytes_max, sample.shm_bytes_in_use)

    @property
    def bucket_count(self) -> int:
        return len(self._buckets)

    def _covered(self, key: int) -> tuple[float, float]:
        """The part of bucket ``key`` the run covered: a run starts and ends mid-bucket."""
        start, end = key * self.width_s, (key + 1) * self.width_s
        if self.first_s is None or self.last_s is None:
            return start, end
        covered = max(start, self.first_s), min(end, self.last_s)
        return covered if covered[1] > covered[0] else (start, end)

    def series(self) -> Series:
        """Every bucket from 0 to the last one used (empty ones as zeros), as columns.

        Rates are per second of the time each bucket covered: the first and last buckets
        are only partly run through, and counting their frames over a whole bucket would
        show a ramp and a cliff that did not happen. (A sliver shorter than a tenth of a
        bucket is counted over that tenth, so one frame in it does not look like a burst.)
        """
        last = max(self._buckets, default=-1)
        buckets = [self._buckets.get(key) or Bucket() for key in range(last + 1)]
        width = self.width_s
        covered = [self._covered(key) for key in range(last + 1)]
        spans = [max(end - start, width / 10) for start, end in covered]
        return Series(
            width_s=width,
            start_s=[key * width for key in range(last + 1)],
            mid_s=[(start + end) / 2 for start, end in covered],
            sent_per_s=[b.sent / span for b, span in zip(buckets, spans, strict=True)],
            acked_per_s=[b.acked / span for b, span in zip(buckets, spans, strict=True)],
            p50_ms=[b.latency.percentile(0.50) for b in buckets],
            p99_ms=[b.latency.percentile(0.99) for b in buckets],
            dropped=[b.dropped for b in buckets],
            timed_out=[b.timed_out for b in buckets],
            interrupted=[b.interrupted for b in buckets],
            in_flight_max=[b.in_flight_max for b in buckets],
            shm_bytes_max=[b.shm_bytes_max for b in buckets],
        )
