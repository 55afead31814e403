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
from lvatool.conformance.results import CheckResult, SuiteReport
from lvatool.conformance.runner import run_suite, select_checks
from lvatool.conformance.server_checks import ServerEnv, prepare, probe_candidates
from lvatool.conformance.server_checks.probe_frames import describe_frame
from lvatool.media import FrameFormat
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


@dataclass(frozen=True)
class ServerSuiteOptions:
    """How to drive the server under test, beyond where it is."""

    username: str | None = None
    password: str | None = None
    profile: str | None = None  # "darklight": also expect the labels of R4
    extension_configuration: str = ""  # sent in every descriptor (H3)
    sessions: int = 16  # opened at once by S12 (H1)
    probe_formats: tuple[FrameFormat, ...] = ()  # tried after the defaults
    probe_sizes: tuple[tuple[int, int], ...] = ()
    timeout_s: float = 60.0  # the whole suite, whatever the peer does
    silence_s: float = 5.0  # how long a server may be quiet where an answer is due


def run_server_suite(
    connect: ConnectOptions,
    selection: Selection = Selection(),
    options: ServerSuiteOptions = ServerSuiteOptions(),
    *,
    on_result: Callable[[CheckResult], None] | None = None,
) -> SuiteReport:
    """Every selected server check against ``connect.target``, within ``options.timeout_s``.

    First the run picks the probe format the server processes (see
    :mod:`lvatool.conformance.server_checks.environment`); that costs part of the budget.
    """
    started = time.monotonic()
    checks = select_checks(checks_of("server"), selection.select, selection.skip)
    channel = open_channel(connect)
    try:
        wait_for_channel(channel, connect)
    except CallError as error:
        raise ConnectError(str(error)) from None
    finally:
        channel.close()
    env = ServerEnv(
        connect,
        username=options.username,
        password=options.password,
        profile=options.profile,
        extension_configuration=options.extension_configuration,
        sessions=options.sessions,
        candidates=probe_candidates(options.probe_formats, options.probe_sizes),
        silence_s=options.silence_s,
        warmup_s=max(options.silence_s, 15.0),
    )
    prepare(env, min(options.timeout_s / 2, 30.0))
    left = options.timeout_s - (time.monotonic() - started)
    report = run_suite("server", connect.target, checks, env, strict=selection.strict,
                       on_result=on_result, budget_s=left)  # fmt: skip
    report.properties = _properties(connect.target)
    report.properties.update(
        {
            "probe_format": describe_frame(env.probe) if env.probe else "none",
            "probe_trials": "; ".join(env.probe_trials),
            "extension_configuration": options.extension_configuration,
            "sessions": str(options.sessions),
            "timeout_s": f"{options.timeout_s:g}",
        }
    )
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
            options = ServerSuiteOptions(username=username, password=password, profile="darklight")
            reports.append(run_server_suite(
                connect, Selection(server_ids, selection.skip, selection.strict), options,
                on_result=on_result,
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
