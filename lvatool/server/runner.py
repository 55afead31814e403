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

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from lvatool.contract import SERVICE_NAME, extension_pb2_grpc
from lvatool.grpc_options import channel_options
from lvatool.server.darklight import DarkLightProcessor
from lvatool.server.processor import Processor
from lvatool.server.servicer import MediaGraphExtensionServicer, SessionPolicy

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


class ServerStartError(RuntimeError):
    """The server could not start (port taken, unreadable certificate …)."""


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
            options=channel_options(options.max_message_mib),
        )
        extension_pb2_grpc.add_MediaGraphExtensionServicer_to_server(  # type: ignore[no-untyped-call]
            MediaGraphExtensionServicer(self.processor, policy), self._server
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
        return f"{host}:{self.port}"

    def start(self) -> int:
        """Bind and start serving; return the bound port (useful with port 0)."""
        bind = f"{self.options.host}:{self.options.port}"
        if ":" in self.options.host and not self.options.host.startswith("["):
            bind = f"[{self.options.host}]:{self.options.port}"
        try:
            if self.options.tls_cert or self.options.tls_key:
                port = self._server.add_secure_port(bind, self._tls_credentials())
            else:
                port = self._server.add_insecure_port(bind)
        except RuntimeError as error:
            raise ServerStartError(f"cannot listen on {bind}: {error}") from None
        if port == 0:
            raise ServerStartError(f"cannot listen on {bind}: the address is in use or invalid")
        self.port = int(port)
        self._server.start()
        for service in ("", SERVICE_NAME):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving %s on %s (tls=%s)", SERVICE_NAME, bind, bool(self.options.tls_cert))
        return self.port

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting calls, let calls in flight finish for ``grace_s``, then end them."""
        self._health.enter_graceful_shutdown()
        self._server.stop(grace_s).wait(grace_s + 5.0)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the server stops or ``timeout_s`` passes; True if it stopped."""
        return bool(self._server.wait_for_termination(timeout_s))

    def _tls_credentials(self) -> grpc.ServerCredentials:
        cert, key = self.options.tls_cert, self.options.tls_key
        if not (cert and key):
            raise ServerStartError("TLS needs both --tls-cert and --tls-key")
        try:
            return grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        except OSError as error:
            raise ServerStartError(f"cannot read {error.filename}: {error.strerror}") from None

    def __enter__(self) -> ExtensionServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(grace_s=1.0)
