"""The throughput line ``lvatool serve`` logs every ``--stats-interval-s``.

An operator without Prometheus still wants to see, in the log they already read, that
frames flow and how fast: frames/s over the interval, sessions open, the processor's
p50/p99 over the interval, and how calls ended since the last line. The figures are
tallied per interval and reset by each line, so a line describes its own minute, not
the server's whole life (a slow model after an hour of fast ones shows at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

# Microseconds, 2 significant digits (1 % resolution): about 24 KB whatever the load.
_LOWEST_US = 1
_HIGHEST_US = 10**9
_DIGITS = 2


@dataclass(frozen=True)
class IntervalFigures:
    """What happened between two stats lines."""

    seconds: float
    frames: int
    sessions_open: int
    processing_p50_ms: float | None  # None: no frame was processed
    processing_p99_ms: float | None
    calls_ended: dict[str, int] = field(default_factory=dict)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One ``key=value`` line, like the ``session end`` lines, easy to grep and parse."""
        ended = ",".join(f"{name}:{count}" for name, count in sorted(self.calls_ended.items()))
        return (
            f"stats seconds={self.seconds:.1f} frames={self.frames} "
            f"frames_per_s={self.frames_per_s:.1f} sessions_open={self.sessions_open} "
            f"processing_p50_ms={_ms(self.processing_p50_ms)} "
            f"processing_p99_ms={_ms(self.processing_p99_ms)} "
            f"calls_ended={ended or 'none'}"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class IntervalTally:
    """Counts since the last :meth:`take`; every method may be called from any thread.

    One lock, held for a few additions per processor call: a few microseconds per batch
    against the milliseconds a frame takes to decode and process.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._since = clock()
        self._frames = 0
        self._sessions_open = 0
        self._processing = _histogram()
        self._ended: Counter[str] = Counter()

    def processed(self, frames: int, seconds: float) -> None:
        """``frames`` went through one processor call lasting ``seconds``."""
        microseconds = min(max(round(seconds * 1e6), _LOWEST_US), _HIGHEST_US)
        with self._lock:
            self._frames += frames
            self._processing.record_value(microseconds, frames)

    def session_opened(self) -> None:
        with self._lock:
            self._sessions_open += 1

    def session_closed(self) -> None:
        with self._lock:
            self._sessions_open -= 1

    def call_ended(self, status: str) -> None:
        with self._lock:
            self._ended[status] += 1

    def take(self) -> IntervalFigures:
        """The figures since the previous take (or the start), and start a new interval."""
        fresh = _histogram()
        with self._lock:
            now = self._clock()
            seconds, self._since = now - self._since, now
            frames, self._frames = self._frames, 0
            processing, self._processing = self._processing, fresh
            ended, self._ended = self._ended, Counter()
            sessions_open = self._sessions_open
        p50 = p99 = None
        if frames:  # the percentile walk runs outside the lock: sessions never wait on it
            found = processing.get_percentile_to_value_dict([50, 99])
            p50, p99 = found[50] / 1000, found[99] / 1000
        return IntervalFigures(seconds, frames, sessions_open, p50, p99, dict(ended))


def _histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


class StatsReporter:
    """Logs :meth:`IntervalTally.take` every ``interval_s`` on a thread of its own.

    It waits on an event with the interval as its deadline, so :meth:`stop` ends it at
    once rather than up to a whole interval later.
    """

    def __init__(self, tally: IntervalTally, interval_s: float, log: logging.Logger) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        self._tally = tally
        self._interval_s = interval_s
        self._log = log
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lvatool-stats", daemon=True)

    def start(self) -> None:
        self._tally.take()  # the first line covers its own interval, not the start-up
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop logging; True once the thread has ended (waits at most ``timeout_s``)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self._log.info("%s", self._tally.take().line())
