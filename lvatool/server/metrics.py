"""What the server records about its sessions, for the stats line and for Prometheus.

The servicer calls one :class:`ServerMetrics` (or nothing, when both the stats line and
``--metrics-port`` are off: then recording costs one ``is None`` test per batch). The
figures go to the interval tally behind the stats line (:mod:`lvatool.server.stats`)
and, with a metrics port, to Prometheus (:mod:`lvatool.server.metrics_export`, imported
only then: prometheus_client and its HTTP server stay out of a server that exports
nothing).

Per frame, with Prometheus on, the cost is a counter increment and two histogram
observations on series looked up once per session; per batch, one lock for the tally.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lvatool.media.formats import Encoding, FrameFormat
from lvatool.protocol import Status, StreamSpec
from lvatool.server.stats import IntervalTally

if TYPE_CHECKING:
    from lvatool.server.metrics_export import PrometheusMetrics, PrometheusSession

EMBEDDED = "embedded"
SHARED_MEMORY = "shm"


def transfer_label(spec: StreamSpec) -> str:
    """``embedded`` or ``shm``: how a session's frames travel (E1, M1)."""
    return EMBEDDED if spec.shared_memory is None else SHARED_MEMORY


def format_label(frame: FrameFormat) -> str:
    """``jpg``, ``png``, ``bmp`` or ``raw/<pixel format>`` such as ``raw/bgr24``."""
    if frame.encoding is Encoding.RAW:
        return f"raw/{frame.pixel_format.name.lower()}"
    return frame.encoding.name.lower()


class ServerMetrics:
    """One server's recorder; ``export`` adds the Prometheus metrics to the stats tally."""

    def __init__(self, export: bool = False) -> None:
        self.interval = IntervalTally()
        self.prometheus: PrometheusMetrics | None = None
        if export:
            from lvatool.server.metrics_export import PrometheusMetrics

            self.prometheus = PrometheusMetrics()

    @property
    def times_round_trips(self) -> bool:
        """Whether sessions' round trips are recorded; callers time nothing if not."""
        return self.prometheus is not None

    def session_opened(self, spec: StreamSpec) -> SessionMetrics:
        """A session whose descriptor was accepted; its recorder until it closes."""
        self.interval.session_opened()
        exported = None
        if self.prometheus is not None:
            exported = self.prometheus.session(transfer_label(spec), format_label(spec.frame))
        return SessionMetrics(self.interval, exported)

    def call_ended(self, status: Status) -> None:
        """A call ended (refused ones included) with the status its client received."""
        self.interval.call_ended(status.name)
        if self.prometheus is not None:
            self.prometheus.calls_ended.labels(status.name).inc()

    def shared_memory_mapped(self, delta_bytes: int) -> None:
        """A session mapped (positive) or unmapped (negative) its client's buffer."""
        if self.prometheus is not None:
            self.prometheus.shared_memory_mapped.inc(delta_bytes)


class SessionMetrics:
    """What one session records: frames processed, their round trips, its end."""

    def __init__(self, interval: IntervalTally, exported: PrometheusSession | None) -> None:
        self._interval = interval
        self._exported = exported
        self._closed = False

    def processed(self, frames: int, seconds: float) -> None:
        """``frames`` went through one processor call lasting ``seconds``."""
        self._interval.processed(frames, seconds)
        if self._exported is not None:
            self._exported.processed(frames, seconds)

    def answered(self, arrived_at: float) -> None:
        """A response is being handed to gRPC for a sample that arrived at ``arrived_at``."""
        if self._exported is not None:
            self._exported.answered(time.monotonic() - arrived_at)

    def closed(self) -> None:
        """The session is over; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self._interval.session_closed()
        if self._exported is not None:
            self._exported.closed()
