"""``lvatool serve``: run the reference extension (or your processor) as a gRPC server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from lvatool.addresses import Address, AddressError, parse_listen
from lvatool.commands.credential_options import Password, PasswordFile
from lvatool.credentials import (
    TLS_CERT_ENV,
    TLS_KEY_ENV,
    CredentialsError,
    check_pair,
    resolve_password,
)
from lvatool.logs import configure_logging
from lvatool.server import (
    ExtensionServer,
    ProcessorLoadError,
    ServerOptions,
    ServerStartError,
    SessionPolicy,
    load_processor,
)
from lvatool.server.lifecycle import StopSignals, exit_code, leave

log = logging.getLogger("lvatool.serve")


def parse_bind(bind: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (LVA's ``grpcBinding`` form) or ``HOST:PORT`` to a pair.

    Kept for callers of the old helper; :func:`lvatool.addresses.parse_listen` does the work.
    """
    try:
        address = parse_listen(bind)
    except AddressError as error:
        raise typer.BadParameter(
            f"{error} (LVA's form is tcp://HOST:PORT)", param_hint="--bind"
        ) from None
    return address.host, address.port


def _listen_address(host: str, port: int, bind: str | None) -> Address:
    """Where to listen: ``--bind`` wins over ``--host``/``--port``; both go through one parser."""
    if bind is not None:
        return Address(*parse_bind(bind))
    try:
        return parse_listen(str(Address(host.strip("[]"), port)))
    except AddressError as error:
        raise typer.BadParameter(str(error), param_hint="--host") from None


def _metrics_address(host: str | None, port: int | None, listen: Address) -> Address | None:
    """Where to serve metrics: ``--metrics-host`` (default the gRPC host) and ``--metrics-port``."""
    if port is None:
        if host is not None:
            raise typer.BadParameter("give --metrics-port too", param_hint="--metrics-host")
        return None
    try:
        return parse_listen(str(Address((host or listen.host).strip("[]"), port)))
    except AddressError as error:
        raise typer.BadParameter(str(error), param_hint="--metrics-host") from None


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
    max_sessions_per_peer: Annotated[
        int,
        typer.Option(
            min=1,
            help="Concurrent sessions from one peer IP address (one LVA module is one address).",
        ),
    ] = 32,
    handshake_timeout_s: Annotated[
        float, typer.Option(min=0.1, help="End a call whose descriptor does not come (H2).")
    ] = 30.0,
    idle_timeout_s: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="End a session silent this long with DEADLINE_EXCEEDED (off: LVA may be "
            "silent for hours when motion-gated).",
        ),
    ] = None,
    keepalive_time_s: Annotated[
        float, typer.Option(min=0.1, help="Ping a connection after this much silence (A3).")
    ] = 20.0,
    keepalive_timeout_s: Annotated[
        float, typer.Option(min=0.1, help="Drop a peer whose ping goes unanswered this long.")
    ] = 10.0,
    username: Annotated[
        str | None, typer.Option(help="Require these Basic credentials (A1).")
    ] = None,
    password: Password = None,
    password_file: PasswordFile = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(envvar=TLS_CERT_ENV, help="PEM certificate chain: serve TLS (A2)."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(envvar=TLS_KEY_ENV, help="PEM private key for --tls-cert.")
    ] = None,
    grace_s: Annotated[
        float,
        typer.Option(min=0, help="On SIGINT/SIGTERM, let calls finish this long, then cut them."),
    ] = 5.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Serve Prometheus metrics over HTTP on this port (/metrics)."
        ),
    ] = None,
    metrics_host: Annotated[
        str | None, typer.Option(help="Address for --metrics-port (default: --host's).")
    ] = None,
    stats_interval_s: Annotated[
        float, typer.Option(min=0, help="Log one throughput line this often (0: never).")
    ] = 60.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """Serve the LVA extension contract; dark/light classification unless --processor.

    Frames arrive embedded or through shared memory (/dev/shm), in any encoding and RAW
    pixel format. Health (grpc.health.v1) and reflection are on, so grpc_health_probe and
    grpcurl work. --metrics-port serves Prometheus metrics over HTTP, and a throughput
    line is logged every --stats-interval-s. SIGINT/SIGTERM stop it: calls get --grace-s
    to end, then are cut; exit 0, or 1 if a processor never returned, or 130 on a second
    signal.
    """
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("expected debug, info, warning or error", param_hint="--log-level")
    if log_format not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--log-format")
    try:
        credentials = check_pair(
            username, resolve_password(password, password_file, username=username)
        )
    except CredentialsError as error:
        typer.echo(f"lvatool serve: {error}", err=True)
        raise typer.Exit(2) from None
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter(
            f"give both --tls-cert and --tls-key (or {TLS_CERT_ENV} and {TLS_KEY_ENV})",
            param_hint="--tls-cert",
        )
    listen = _listen_address(host, port, bind)
    metrics_listen = _metrics_address(metrics_host, metrics_port, listen)
    configure_logging(log_level, log_format)
    try:
        chosen = load_processor(processor) if processor else None
    except ProcessorLoadError as error:
        raise typer.BadParameter(str(error), param_hint="--processor") from None
    policy = SessionPolicy(
        name=name,
        batch_size=batch_size,
        batch_timeout_s=batch_timeout_ms / 1000,
        handshake_timeout_s=handshake_timeout_s,
        max_sessions=max_sessions,
        max_sessions_per_peer=max_sessions_per_peer,
        idle_timeout_s=idle_timeout_s,
        credentials=credentials,
    )
    options = ServerOptions(
        host=listen.host,
        port=listen.port,
        max_message_mib=max_message_mib,
        policy=policy,
        tls_cert=tls_cert,
        tls_key=tls_key,
        keepalive_time_s=keepalive_time_s,
        keepalive_timeout_s=keepalive_timeout_s,
        metrics_port=metrics_listen.port if metrics_listen is not None else None,
        metrics_host=metrics_listen.host if metrics_listen is not None else None,
        stats_interval_s=stats_interval_s,
    )
    signals = StopSignals()
    signals.install()
    try:
        server = ExtensionServer(options, chosen)
        server.start()
    except ServerStartError as error:
        typer.echo(f"lvatool serve: {error}", err=True)
        raise typer.Exit(3) from None
    received = signals.wait()
    log.info("received %s, stopping (grace %g s; a second signal exits at once)", received, grace_s)
    report = server.stop(grace_s)
    if report.complete:
        log.info("stopped" + (f" ({report.cut} session(s) cut)" if report.cut else ""))
        return
    code = exit_code(report)
    log.error(
        "stopped with %d session(s) stuck in the processor after --grace-s %g s (exit %d)",
        report.stuck,
        grace_s,
        code,
    )
    leave(code)
