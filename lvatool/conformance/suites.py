"""Running whole suites: the server suite against a target, the client suite against a
client command or a client that connects, and the self-test of lvatool's own parts."""

from __future__ import annotations

import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lvatool import __version__
from lvatool.addresses import Address, parse_listen, why_bind_fails
from lvatool.conformance import client_checks, server_checks
from lvatool.conformance.catalogue import Check, checks_of
from lvatool.conformance.checking_extension import (
    CheckingExtension,
    CheckingPolicy,
    SessionRecord,
)
from lvatool.conformance.child import ClientProcess, ClientStartError
from lvatool.conformance.client_checks import ClientEnv
from lvatool.conformance.interrupt import interruption_reason
from lvatool.conformance.results import CheckResult, RunOutcome, SuiteReport
from lvatool.conformance.runner import run_suite, select_checks, unfinished_report
from lvatool.conformance.server_checks import ServerEnv, prepare, probe_candidates
from lvatool.conformance.server_checks.probe_frames import describe_frame
from lvatool.media import FrameFormat
from lvatool.sim.call import CallError, ConnectOptions, open_channel, wait_for_channel

_ = (client_checks, server_checks)  # importing them registers their checks


class ConnectError(Exception):
    """The peer could not be reached or started (exit code 3).

    ``report`` is the run's report all the same (every selected check skipped with the
    reason), so the command line writes ``--json``/``--junit`` before it exits.
    """

    outcome = RunOutcome.CANNOT_CONNECT

    def __init__(self, message: str, report: SuiteReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class ListenError(ConnectError):
    """The checking extension could not listen where it was asked to (exit code 3)."""

    outcome = RunOutcome.CANNOT_LISTEN


@dataclass(frozen=True)
class Selection:
    select: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    strict: bool = False


def _unfinished(
    suite: str, target: str, checks: list[Check], outcome: RunOutcome, reason: str
) -> SuiteReport:
    """A report for a run that ended before its checks, with the usual properties."""
    report = unfinished_report(suite, target, checks, outcome, reason)
    report.properties = _properties(target)
    return report


def interrupted_report(
    suite: str, target: str, selection: Selection, interrupt: KeyboardInterrupt
) -> SuiteReport:
    """The report of a run interrupted before its suite could say so itself.

    The suites catch Ctrl-C while they run; this covers the instants around them
    (starting lvatool's own server for the self-test, tearing it down).
    """
    checks = select_checks(checks_of(suite), selection.select, selection.skip)
    reason = interruption_reason(interrupt)
    return _unfinished(suite, target, checks, RunOutcome.INTERRUPTED, reason)


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
    # The processor's results may depend on earlier frames of the same session (motion
    # detection, tracking): S05 is skipped, S06 and S12 compare with the same sequence.
    stateful: bool = False
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
    try:
        _reach(connect)
    except CallError as error:
        reason = str(error)
        report = _unfinished("server", connect.target, checks, RunOutcome.CANNOT_CONNECT, reason)
        raise ConnectError(reason, report) from None
    except KeyboardInterrupt as interrupt:
        reason = interruption_reason(interrupt)
        return _unfinished("server", connect.target, checks, RunOutcome.INTERRUPTED, reason)
    env = ServerEnv(
        connect,
        username=options.username,
        password=options.password,
        profile=options.profile,
        extension_configuration=options.extension_configuration,
        sessions=options.sessions,
        stateful=options.stateful,
        candidates=probe_candidates(options.probe_formats, options.probe_sizes),
        silence_s=options.silence_s,
        warmup_s=max(options.silence_s, 15.0),
    )
    try:
        prepare(env, min(options.timeout_s / 2, 30.0))
    except KeyboardInterrupt as interrupt:  # prepare cancels its own calls
        reason = interruption_reason(interrupt)
        report = _unfinished("server", connect.target, checks, RunOutcome.INTERRUPTED, reason)
    else:
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
            "stateful": "true" if options.stateful else "false",
            "timeout_s": f"{options.timeout_s:g}",
        }
    )
    return report


def _reach(connect: ConnectOptions) -> None:
    """Connect once to ``connect.target`` before any check, or raise :class:`CallError`."""
    channel = open_channel(connect)
    try:
        wait_for_channel(channel, connect)
    finally:
        channel.close()


def run_client_suite(
    command: Sequence[str] | None,
    *,
    listen: str | Address = "127.0.0.1:0",
    selection: Selection = Selection(),
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 120.0,
    policy: CheckingPolicy | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> SuiteReport:
    """Run the checking extension, let the client stream to it, then judge the records.

    With ``command``, the client is started here (``{target}`` in its arguments becomes
    the checker's address) and judged when it exits; it runs in a process group of its
    own, ended (SIGTERM, then SIGKILL after a grace) however the run ends: at
    ``timeout_s``, on Ctrl-C, on an error. Without, the checker waits on ``listen`` for
    a client's session to start and end. ``listen`` as text is parsed with
    :func:`lvatool.addresses.parse_listen` (an :class:`~lvatool.addresses.AddressError`
    names what is wrong); an empty host is 127.0.0.1.

    Raises :class:`ConnectError` (or :class:`ListenError`) with the report attached when
    no client was judged; Ctrl-C returns a report whose outcome is ``interrupted``.
    """
    checks = select_checks(checks_of("client"), selection.select, selection.skip)
    address = listen if isinstance(listen, Address) else parse_listen(listen, "127.0.0.1")
    try:
        target, sessions, ending = _observe_client(command, address, timeout_s, policy)
    except ConnectError as error:
        error.report = _unfinished("client", str(address), checks, error.outcome, str(error))
        raise
    except KeyboardInterrupt as interrupt:
        reason = interruption_reason(interrupt)
        return _unfinished("client", str(address), checks, RunOutcome.INTERRUPTED, reason)
    env = ClientEnv(sessions, username=username, password=password)
    report = run_suite("client", target, checks, env, strict=selection.strict, on_result=on_result)
    report.properties = _properties(target)
    if command:
        report.properties["client"] = shlex.join(command)
        report.properties["client_ending"] = ending
    return report


def _observe_client(
    command: Sequence[str] | None,
    address: Address,
    timeout_s: float,
    policy: CheckingPolicy | None,
) -> tuple[str, list[SessionRecord], str]:
    """The checker's address, the sessions it recorded and how the started client ended."""
    try:
        checker = CheckingExtension(address.host, address.port, policy)
    except (RuntimeError, OSError):  # gRPC says only "Failed to bind": ask the OS why
        raise ListenError(f"cannot listen on {address}: {why_bind_fails(address)}") from None
    ending = ""
    with checker:
        target = checker.address
        if command:
            argv = [part.replace("{target}", target) for part in command]
            try:
                client = ClientProcess(argv)
            except ClientStartError as error:
                raise ConnectError(str(error)) from None
            with client:  # its group is ended as the block ends, however it ends
                exited = client.wait(timeout_s)
                ending = _client_ending(client.returncode, timed_out=not exited,
                                        timeout_s=timeout_s)  # fmt: skip
        elif not checker.servicer.session_started.wait(timeout_s):
            raise ConnectError(f"no client connected to {target} within {timeout_s:g} s")
        deadline = time.monotonic() + min(timeout_s, 30.0)
        for record in checker.sessions:
            record.done.wait(max(deadline - time.monotonic(), 0.0))
        sessions = checker.sessions
    if not sessions:
        raise ConnectError(f"the client never opened a session with the checker at {target}")
    return target, sessions, ending


def _client_ending(returncode: int | None, *, timed_out: bool, timeout_s: float) -> str:
    """How the started client ended, for the report's ``client_ending`` property."""
    if timed_out:
        return f"ended by the checker after --timeout {timeout_s:g} s"
    if returncode is not None and returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


def self_test(
    selection: Selection = Selection(), on_result: Callable[[CheckResult], None] | None = None
) -> list[SuiteReport]:
    """Both suites against lvatool's own server and simulator.

    Never raises for the peer: a suite that cannot connect or is interrupted ends the
    self-test with its report (outcome ``cannot connect`` or ``interrupted``) last.
    """
    server_ids = tuple(c for c in selection.select if c.startswith("S"))
    client_ids = tuple(c for c in selection.select if c.startswith("C"))
    runs: list[tuple[str, tuple[str, ...], Callable[[Selection], SuiteReport]]] = []
    if server_ids or not selection.select:
        runs.append(("server", server_ids, lambda chosen: _self_test_server(chosen, on_result)))
    if client_ids or not selection.select:
        runs.append(("client", client_ids, lambda chosen: _self_test_client(chosen, on_result)))
    reports: list[SuiteReport] = []
    for suite, ids, run in runs:
        chosen = Selection(ids, selection.skip, selection.strict)
        try:
            reports.append(run(chosen))
        except ConnectError as error:
            if error.report is not None:
                reports.append(error.report)
            return reports
        except KeyboardInterrupt as interrupt:  # between the suites' own handling
            reports.append(interrupted_report(suite, "self-test", chosen, interrupt))
            return reports
        if reports[-1].outcome is not RunOutcome.COMPLETED:
            return reports
    return reports


_SELF_TEST_CREDENTIALS = ("lvatool", "self-test")


def _self_test_server(
    selection: Selection, on_result: Callable[[CheckResult], None] | None
) -> SuiteReport:
    """The server suite against lvatool's own server, with credentials and the labels."""
    from lvatool.server import ExtensionServer, ServerOptions, SessionPolicy

    username, password = _SELF_TEST_CREDENTIALS
    policy = SessionPolicy(credentials=(username, password))
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0, policy=policy)) as server:
        connect = ConnectOptions(target=server.address, username=username, password=password)
        options = ServerSuiteOptions(username=username, password=password, profile="darklight")
        return run_server_suite(connect, selection, options, on_result=on_result)


def _self_test_client(
    selection: Selection, on_result: Callable[[CheckResult], None] | None
) -> SuiteReport:
    """The client suite against lvatool's own simulator, through shared memory."""
    username, password = _SELF_TEST_CREDENTIALS
    command = [
        sys.executable, "-m", "lvatool", "simulate", "--target", "{target}", "--quiet",
        "--shm", "8", "--format", "raw", "--pixel-format", "bgr24", "--max-frames", "45",
        "--username", username, "--password", password,
    ]  # fmt: skip
    return run_client_suite(command, selection=selection, username=username,
                            password=password, on_result=on_result)  # fmt: skip
