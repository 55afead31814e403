"""The server's Prometheus metrics and the HTTP endpoint that serves them (``--metrics-port``).

Each server keeps its metrics in a registry of its own, not in prometheus_client's
global one: two servers in one process (tests, an application hosting several) then
export only their own figures and cannot collide on names.

Every label value comes from a closed set (``transfer``: ``embedded`` or ``shm``;
``format``: an encoding or a RAW pixel format; ``status``: a gRPC status name), never
from text a peer chose, so no client can grow the number of series without bound.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

# A scraper is one Prometheus or two: past this many connections at once the endpoint
# closes new ones at once instead of starting a thread for each.
MAX_SCRAPE_CONNECTIONS = 16
# A connection that sends no complete request within this long is closed.
SCRAPE_TIMEOUT_S = 10.0

# From half a millisecond (a small JPEG) to 10 s (a model stuck on a batch): prometheus'
# default buckets start at 5 ms, too coarse for a processor that takes one.
LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class PrometheusMetrics:
    """The metric families of one server, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.sessions_open = Gauge(
            "lvatool_sessions_open",
            "Sessions whose descriptor was accepted and that have not ended.",
            registry=registry,
        )
        self.sessions_started = Counter(
            "lvatool_sessions_started",
            "Sessions whose descriptor was accepted, by transfer and frame format.",
            ["transfer", "format"],
            registry=registry,
        )
        self.frames_processed = Counter(
            "lvatool_frames_processed",
            "Frames processed and acknowledged, by transfer and frame format.",
            ["transfer", "format"],
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "lvatool_processing_seconds",
            "Time of the processor call that processed each frame (its batch's call).",
            ["transfer"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.round_trip_seconds = Histogram(
            "lvatool_round_trip_seconds",
            "From a sample's arrival to its response being handed to gRPC.",
            ["transfer"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.calls_ended = Counter(
            "lvatool_calls_ended",
            "Calls ended, by the gRPC status their client received (refused calls too).",
            ["status"],
            registry=registry,
        )
        self.shared_memory_mapped = Gauge(
            "lvatool_shared_memory_mapped_bytes",
            "Bytes of clients' shared buffers mapped by open sessions.",
            registry=registry,
        )

    def session(self, transfer: str, frame_format: str) -> PrometheusSession:
        """A session's handles on its series, looked up once rather than per frame."""
        self.sessions_started.labels(transfer, frame_format).inc()
        self.sessions_open.inc()
        return PrometheusSession(self, transfer, frame_format)


class PrometheusSession:
    """One session's series: a frame costs a few microseconds, no label lookup."""

    def __init__(self, metrics: PrometheusMetrics, transfer: str, frame_format: str) -> None:
        self._sessions_open = metrics.sessions_open
        self._frames = metrics.frames_processed.labels(transfer, frame_format)
        self._processing = metrics.processing_seconds.labels(transfer)
        self._round_trip = metrics.round_trip_seconds.labels(transfer)

    def processed(self, frames: int, seconds: float) -> None:
        self._frames.inc(frames)
        for _ in range(frames):
            self._processing.observe(seconds)

    def answered(self, seconds: float) -> None:
        self._round_trip.observe(seconds)

    def closed(self) -> None:
        self._sessions_open.dec()


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (scrapes every few seconds would drown the server's log)."""

    timeout = SCRAPE_TIMEOUT_S  # a stalled client's connection ends, and its thread

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _BoundedScrapeServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per connection, at most :data:`MAX_SCRAPE_CONNECTIONS` of them.

    prometheus_client's own server starts a thread for every connection without limit,
    so anyone who can reach the port could pile up threads (memory) in the extension's
    process by opening connections and sending nothing. Here a connection over the
    limit is closed at once, and an idle one times out.
    """

    daemon_threads = True

    def __init__(self, family: socket.AddressFamily, address: tuple[str, int]) -> None:
        self.address_family = family
        self._connections = threading.BoundedSemaphore(MAX_SCRAPE_CONNECTIONS)
        super().__init__(address, _QuietHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: the slot is not coming back otherwise
            self._connections.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()


class MetricsEndpoint:
    """An HTTP endpoint serving one registry, stopped with the extension server.

    It runs on threads of its own (at most :data:`MAX_SCRAPE_CONNECTIONS`, each ending
    after :data:`SCRAPE_TIMEOUT_S` without a request): a slow or hostile scraper can
    blind the metrics for a while, never hold a session's thread or grow the process.
    Binding happens in :meth:`start`, so a busy port fails the server's start like a
    busy gRPC port does.
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self.host = host
        self.port = port
        self._httpd: _BoundedScrapeServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Bind and serve; the bound port (``port`` 0 picks one). OSError if it cannot bind."""
        family, _, _, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        httpd = _BoundedScrapeServer(family, (str(address[0]), self.port))
        httpd.set_app(make_wsgi_app(self._registry))
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="lvatool-metrics", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving and close the socket; a second call does nothing."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout_s)
