"""Running whole suites: the server suite against a target, the client suite against a
client command or a client that connects, and the self-test of lvatool's own parts."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lvatool import __version__
from lvatool.conformance import client_checks, server_checks
from lvatool.conformance.catalogue import checks_of
from lvatool.conformance.checking_extension import CheckingExtension, CheckingPolicy
from lvatool.conformance.client_checks import ClientEnv
from lvatool.conformance.probes import ServerEnv
from lvatool.conformance.results import CheckResult, SuiteReport
from lvatool.conformance.runner import run_suite, select_checks
from lvatool.sim.call import CallError, ConnectOptions, open_channel, wait_for_channel

_ = (client_checks, server_checks)  # importing them registers their checks


class ConnectError(Exception):
    """The peer could not be reached (exit code 3)."""


@dataclass(frozen=True)
class Selection:
    select: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    strict: bool = False


def _properties(target: str) -> dict[str, str]:
    import grpc

    return {
        "target": target,
        "lvatool": __version__,
        "grpcio": grpc.__version__,
        "python": sys.version.split()[0],
    }


def run_server_suite(
    connect: ConnectOptions,
    selection: Selection = Selection(),
    *,
    username: str | None = None,
    password: str | None = None,
    profile: str | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> SuiteReport:
    """Every selected server check against ``connect.target``."""
    checks = select_checks(checks_of("server"), selection.select, selection.skip)
    channel = open_channel(connect)
    try:
        wait_for_channel(channel, connect)
    except CallError as error:
        raise ConnectError(str(error)) from None
    finally:
        channel.close()
    env = ServerEnv(connect, username=username, password=password, profile=profile)
    report = run_suite("server", connect.target, checks, env, strict=selection.strict,
                       on_result=on_result)  # fmt: skip
    report.properties = _properties(connect.target)
    return report


def run_client_suite(
    command: Sequence[str] | None,
    *,
    listen: str = "127.0.0.1:0",
    selection: Selection = Selection(),
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 120.0,
    policy: CheckingPolicy | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> SuiteReport:
    """Run the checking extension, let the client stream to it, then judge the records.

    With ``command``, the client is started here (``{target}`` in its arguments becomes
    the checker's address) and judged when it exits. Without, the checker waits on
    ``listen`` for a client's session to start and end.
    """
    checks = select_checks(checks_of("client"), selection.select, selection.skip)
    host, _, port = listen.rpartition(":")
    with CheckingExtension(host or "127.0.0.1", int(port or 0), policy) as checker:
        target = checker.address
        if command:
            argv = [part.replace("{target}", target) for part in command]
            try:
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
            except OSError as error:
                raise ConnectError(f"cannot start the client {shlex.join(argv)}: {error}") from None
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        else:
            if not checker.servicer.session_started.wait(timeout_s):
                raise ConnectError(f"no client connected to {target} within {timeout_s:g} s")
        deadline = time.monotonic() + min(timeout_s, 30.0)
        for record in checker.sessions:
            record.done.wait(max(deadline - time.monotonic(), 0.0))
        sessions = checker.sessions
    if not sessions:
        raise ConnectError(f"the client never opened a session with the checker at {target}")
    env = ClientEnv(sessions, username=username, password=password)
    report = run_suite("client", target, checks, env, strict=selection.strict, on_result=on_result)
    report.properties = _properties(target)
    if command:
        report.properties["client"] = shlex.join(command)
    return report


def self_test(
    selection: Selection = Selection(), on_result: Callable[[CheckResult], None] | None = None
) -> list[SuiteReport]:
    """Both suites against lvatool's own server and simulator."""
    from lvatool.server import ExtensionServer, ServerOptions, SessionPolicy

    username, password = "lvatool", "self-test"
    reports = []
    server_ids = tuple(c for c in selection.select if c.startswith("S"))
    client_ids = tuple(c for c in selection.select if c.startswith("C"))
    if server_ids or not selection.select:
        policy = SessionPolicy(credentials=(username, password))
        with ExtensionServer(ServerOptions(host="127.0.0.1", port=0, policy=policy)) as server:
            connect = ConnectOptions(target=server.address, username=username, password=password)
            reports.append(run_server_suite(
                connect, Selection(server_ids, selection.skip, selection.strict),
                username=username, password=password, profile="darklight", on_result=on_result,
            ))  # fmt: skip
    if client_ids or not selection.select:
        command = [
            sys.executable, "-m", "lvatool", "simulate", "--target", "{target}", "--quiet",
            "--shm", "8", "--format", "raw", "--pixel-format", "bgr24", "--max-frames", "45",
            "--username", username, "--password", password,
        ]  # fmt: skip
        reports.append(run_client_suite(
            command, selection=Selection(client_ids, selection.skip, selection.strict),
            username=username, password=password, on_result=on_result,
        ))  # fmt: skip
    return reports
