"""Running the extension server: ports, TLS, health, reflection, a graceful stop.

:class:`ExtensionServer` is usable from Python as well as from ``lvatool serve``::

    with ExtensionServer(ServerOptions(port=0)) as server:
        print("listening on", server.address)
"""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lvatool.addresses import Address, why_bind_fails
from lvatool.contract import SERVICE_NAME
from lvatool.grpc_options import channel_options, server_keepalive_options
from lvatool.server.darklight import DarkLightProcessor
from lvatool.server.metrics import ServerMetrics
from lvatool.server.processor import Processor
from lvatool.server.pump import tolerant_extension_handler
from lvatool.server.servicer import MediaGraphExtensionServicer, SessionPolicy
from lvatool.server.stats import StatsReporter
from lvatool.server.tls import TlsSetupError, load_tls_identity

if TYPE_CHECKING:
    from lvatool.server.metrics_export import MetricsEndpoint

log = logging.getLogger("lvatool.server")


@dataclass
class ServerOptions:
    """Everything ``lvatool serve`` can be told; defaults match Microsoft's guide."""

    host: str = "0.0.0.0"
    port: int = 5001
    max_message_mib: int = 64
    policy: SessionPolicy = field(default_factory=SessionPolicy)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # HTTP/2 pings drop a peer that answers nothing (frozen, vanished) within about
    # keepalive_time_s + keepalive_timeout_s of silence; a live peer always answers (A3).
    keepalive_time_s: float = 20.0
    keepalive_timeout_s: float = 10.0
    # Prometheus metrics over HTTP on this port (0 picks one); None: not exported.
    metrics_port: int | None = None
    metrics_host: str | None = None  # None: the same host as the gRPC port
    # One throughput line in the log this often; 0 turns it off. Off from Python (the
    # servers simulate and conformance start in-process have no one reading their log);
    # ``lvatool serve`` turns it on (--stats-interval-s 60).
    stats_interval_s: float = 0.0


class ServerStartError(RuntimeError):
    """The server could not start (port taken, unreadable certificate …)."""


@dataclass(frozen=True)
class StopReport:
    """What a stop had to do.

    ``cut`` sessions outlived the grace period and were cancelled (their clients see
    ``UNAVAILABLE``): the usual fate of live LVA sessions, which never end by themselves.
    ``stuck`` of them still had a thread running after that, a processor that never
    returns: only leaving the process ends those.
    """

    cut: int = 0
    stuck: int = 0

    @property
    def complete(self) -> bool:
        """No session is left running in the process."""
        return self.stuck == 0


# After the grace period gRPC cancels what is left; a session waiting for its client
# notices within SessionPolicy.idle_poll_s. This margin covers that and a loaded machine.
_CANCEL_MARGIN_S = 3.0


class ExtensionServer:
    """A gRPC server hosting the extension service, health and reflection."""

    def __init__(self, options: ServerOptions, processor: Processor | None = None) -> None:
        self.options = options
        self.processor = processor or DarkLightProcessor()
        self.port = 0
        policy = options.policy
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=policy.max_sessions + 8, thread_name_prefix="lvatool-call"
            ),
            options=channel_options(options.max_message_mib)
            + server_keepalive_options(options.keepalive_time_s, options.keepalive_timeout_s),
        )
        exported = options.metrics_port is not None
        # Nothing is recorded, not even per batch, when nobody would read it.
        self.metrics = (
            ServerMetrics(export=exported) if exported or options.stats_interval_s > 0 else None
        )
        self._metrics_endpoint: MetricsEndpoint | None = None
        self._stats: StatsReporter | None = None
        self.servicer = MediaGraphExtensionServicer(self.processor, policy, self.metrics)
        # Registered by hand rather than with the generated helper, to decode requests
        # ourselves: garbage bytes then end the call with a status the session chose and
        # logged, not one gRPC picked behind its back (issue 8, point 7).
        self._server.add_generic_rpc_handlers(
            (tolerant_extension_handler(self.servicer.ProcessMediaStream),)
        )
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )

    @property
    def address(self) -> str:
        """``host:port`` a client on this machine can dial."""
        host = self.options.host
        if host in ("0.0.0.0", "::", "[::]", ""):
            host = "127.0.0.1"
        return str(Address(host.strip("[]"), self.port))

    @property
    def metrics_port(self) -> int | None:
        """The port serving Prometheus metrics once started (None: not exported)."""
        endpoint = self._metrics_endpoint
        return endpoint.port if endpoint is not None else None

    def start(self) -> int:
        """Bind and start serving; return the bound port (useful with port 0)."""
        listen = Address(self.options.host.strip("[]"), self.options.port)
        secure = bool(self.options.tls_cert or self.options.tls_key)
        credentials = self._tls_credentials() if secure else None
        self._start_metrics_endpoint()
        try:
            if credentials is not None:
                port = self._server.add_secure_port(str(listen), credentials)
            else:
                port = self._server.add_insecure_port(str(listen))
        except RuntimeError:  # gRPC says only that binding failed; see why_bind_fails
            port = 0
        if port == 0:
            self._stop_reporting()
            raise ServerStartError(f"cannot listen on {listen}: {why_bind_fails(listen)}")
        self.port = int(port)
        self._server.start()
        if self.metrics is not None and self.options.stats_interval_s > 0:
            self._stats = StatsReporter(self.metrics.interval, self.options.stats_interval_s, log)
            self._stats.start()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        picked = " (port 0: picked by the system)" if self.options.port == 0 else ""
        log.info(
            "serving %s on %s%s (tls=%s)",
            SERVICE_NAME,
            Address(listen.host, self.port),
            picked,
            bool(self.options.tls_cert),
        )
        return self.port

    def _start_metrics_endpoint(self) -> None:
        """Serve the metrics before the extension: a busy metrics port fails the start (exit 3)."""
        options = self.options
        if options.metrics_port is None or self.metrics is None:
            return
        assert self.metrics.prometheus is not None
        from lvatool.server.metrics_export import MetricsEndpoint

        host = (options.metrics_host or options.host).strip("[]")
        endpoint = MetricsEndpoint(self.metrics.prometheus.registry, host, options.metrics_port)
        try:
            endpoint.start()
        except OSError:
            where = Address(host, options.metrics_port)
            raise ServerStartError(
                f"cannot listen on {where} for --metrics-port: {why_bind_fails(where)}"
            ) from None
        self._metrics_endpoint = endpoint
        log.info("serving Prometheus metrics on http://%s/metrics", Address(host, endpoint.port))

    def _stop_reporting(self) -> None:
        """End the stats line and the metrics endpoint: they stop with the server."""
        if self._stats is not None:
            self._stats.stop()
            self._stats = None
        if self._metrics_endpoint is not None:
            self._metrics_endpoint.stop()

    def stop(self, grace_s: float = 5.0) -> StopReport:
        """Stop accepting calls, let sessions in flight finish for ``grace_s``, then cut them.

        Returns what had to be cut. A session whose processor never returns cannot be
        cancelled from outside its thread: ``stuck`` counts those, and only the end of
        the process ends them (``lvatool serve`` exits; see its exit codes). The stats
        line and the metrics endpoint stop last, so a scrape sees how sessions ended.
        """
        try:
            return self._stop_serving(grace_s)
        finally:
            self._stop_reporting()

    def _stop_serving(self, grace_s: float) -> StopReport:
        self._health.enter_graceful_shutdown()
        slots = self.servicer.slots
        # gRPC's own cut comes later, as a backstop: ours must follow marking the servicer
        # as stopping, so each cut session logs the status its client receives.
        stopped = self._server.stop(grace_s + _CANCEL_MARGIN_S)
        if slots.wait_until_idle(grace_s):
            stopped.wait(_CANCEL_MARGIN_S)
            return StopReport()
        cut = slots.active
        log.info("%d session(s) still open after the grace period (%g s): cutting", cut, grace_s)
        self.servicer.stopping.set()
        stopped = self._server.stop(0)
        slots.wait_until_idle(_CANCEL_MARGIN_S)
        stopped.wait(_CANCEL_MARGIN_S)
        return StopReport(cut=cut, stuck=slots.active)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the server stops or ``timeout_s`` passes; True if it stopped."""
        return bool(self._server.wait_for_termination(timeout_s))

    def _tls_credentials(self) -> grpc.ServerCredentials:
        cert, key = self.options.tls_cert, self.options.tls_key
        if not (cert and key):
            raise ServerStartError("TLS needs both --tls-cert and --tls-key")
        try:
            identity = load_tls_identity(cert, key)
        except TlsSetupError as error:
            raise ServerStartError(str(error)) from None
        return grpc.ssl_server_credentials([(identity.private_key, identity.certificate_chain)])

    def __enter__(self) -> ExtensionServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(grace_s=1.0)
