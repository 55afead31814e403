"""``lvatool serve``: run the reference extension (or your processor) as a gRPC server."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from lvatool.logs import configure_logging
from lvatool.server import (
    ExtensionServer,
    ProcessorLoadError,
    ServerOptions,
    ServerStartError,
    SessionPolicy,
    load_processor,
)

log = logging.getLogger("lvatool.serve")


def parse_bind(bind: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (LVA's ``grpcBinding`` form) or ``HOST:PORT`` to a pair."""
    address = bind.removeprefix("tcp://")
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter(f"{bind!r}: expected tcp://HOST:PORT", param_hint="--bind")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 5001,
    bind: Annotated[
        str | None,
        typer.Option(help="tcp://HOST:PORT, as in LVA's grpcBinding; wins over --host/--port."),
    ] = None,
    processor: Annotated[
        str | None,
        typer.Option(help="Your processor as module:attr or file.py:attr (default: dark/light)."),
    ] = None,
    name: Annotated[
        str, typer.Option(help="extension_identifier in the reply descriptor.")
    ] = "lvatool",
    batch_size: Annotated[int, typer.Option(min=1, max=256, help="Frames per processor call.")] = 1,
    batch_timeout_ms: Annotated[
        float, typer.Option(min=0, help="Process a partial batch after waiting this long.")
    ] = 50.0,
    max_message_mib: Annotated[
        int, typer.Option(min=4, max=2047, help="gRPC send/receive limit (E2).")
    ] = 64,
    max_sessions: Annotated[int, typer.Option(min=1, help="Concurrent sessions accepted.")] = 64,
    username: Annotated[
        str | None, typer.Option(help="Require these Basic credentials (A1).")
    ] = None,
    password: Annotated[str | None, typer.Option(help="Password for --username.")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate chain: serve TLS (A2).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    grace_s: Annotated[
        float, typer.Option(min=0, help="On SIGINT/SIGTERM, let calls finish for this long.")
    ] = 5.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """Serve the LVA extension contract; dark/light classification unless --processor.

    Frames arrive embedded or through shared memory (/dev/shm), in any encoding and RAW
    pixel format. Health (grpc.health.v1) and reflection are on, so grpc_health_probe and
    grpcurl work. Stops cleanly on SIGINT/SIGTERM.
    """
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("expected debug, info, warning or error", param_hint="--log-level")
    if log_format not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--log-format")
    if (username is None) != (password is None):
        raise typer.BadParameter("give both --username and --password", param_hint="--username")
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key", param_hint="--tls-cert")
    if bind is not None:
        host, port = parse_bind(bind)
    configure_logging(log_level, log_format)
    try:
        chosen = load_processor(processor) if processor else None
    except ProcessorLoadError as error:
        raise typer.BadParameter(str(error), param_hint="--processor") from None
    policy = SessionPolicy(
        name=name,
        batch_size=batch_size,
        batch_timeout_s=batch_timeout_ms / 1000,
        max_sessions=max_sessions,
        credentials=(username, password) if username is not None and password is not None else None,
    )
    options = ServerOptions(
        host=host,
        port=port,
        max_message_mib=max_message_mib,
        policy=policy,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    try:
        server = ExtensionServer(options, chosen)
        server.start()
    except ServerStartError as error:
        typer.echo(f"lvatool serve: {error}", err=True)
        raise typer.Exit(3) from None
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping (grace %.1f s)", signal.Signals(signum).name, grace_s)
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    while not stop.wait(0.5):
        pass
    server.stop(grace_s)
    log.info("stopped")
