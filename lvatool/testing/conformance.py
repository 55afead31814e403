"""The conformance server suite as a test assertion.

:func:`assert_conformant` runs the checks of ``lvatool conformance server`` in this
process (the same :func:`lvatool.conformance.run_server_suite`, the same check
selection) and turns the verdict into what a test framework understands: it returns the
report when every MUST check passed, and raises ``AssertionError`` otherwise, with one
line per failing check (its ID, title and the message quoting what the server sent), so
the test's output says what to fix without opening a report file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lvatool.conformance import (
    ConnectError,
    Outcome,
    RunOutcome,
    Selection,
    ServerSuiteOptions,
    SuiteReport,
    run_server_suite,
)
from lvatool.sim.call import ConnectOptions
from lvatool.testing.processors import ProcessorLike
from lvatool.testing.server import serve
from lvatool.text import visible

#: ``host:port`` (or ``tcp://host:port``, ``[v6]:port``): the text after the last colon is a port.
_ADDRESS = re.compile(r".*:\d+/?$")


def is_address(target: str) -> bool:
    """Whether ``target`` names a server (``HOST:PORT``) rather than a processor reference."""
    return bool(_ADDRESS.fullmatch(target.strip()))


def assert_conformant(
    target: ProcessorLike,
    *,
    checks: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    strict: bool = False,
    profile: str | None = None,
    extension_configuration: str = "",
    username: str | None = None,
    password: str | None = None,
    sessions: int = 16,
    stateful: bool = False,
    timeout_s: float = 60.0,
    connect_timeout_s: float = 10.0,
) -> SuiteReport:
    """Run the conformance server suite against ``target``; AssertionError unless it passes.

    ``target`` is a server's address (``"127.0.0.1:5001"``, ``"tcp://host:5001"``) or a
    processor (an object, or a reference such as ``"processor.py:process"``), which is
    then served in this process for the run (see :func:`lvatool.testing.serve`).
    ``checks`` selects check IDs (``["S01", "S05"]``; all by default), ``skip`` leaves
    some out; ``strict`` fails SHOULD checks too. The other keywords are those of
    ``lvatool conformance server`` (``--profile``, ``--extension-config``,
    ``--username``/``--password``, ``--sessions``, ``--timeout``); ``stateful`` is
    ``--stateful``, for a processor whose results depend on the session's earlier frames
    (motion detection, tracking): S05 is skipped, S06 and S12 compare each session with
    the same sequence of frames sent alone. A server that does not
    answer within ``connect_timeout_s`` is an AssertionError saying so. Unknown check IDs
    raise ValueError. Returns the :class:`~lvatool.conformance.SuiteReport`.
    """
    selection = Selection(tuple(checks or ()), tuple(skip), strict)
    options = ServerSuiteOptions(
        username=username,
        password=password,
        profile=profile,
        extension_configuration=extension_configuration,
        sessions=sessions,
        stateful=stateful,
        timeout_s=timeout_s,
    )
    if isinstance(target, str) and is_address(target):
        return _run(target, selection, options, connect_timeout_s)
    credentials = None if username is None else (username, password or "")
    with serve(target, credentials=credentials) as address:
        return _run(address, selection, options, connect_timeout_s)


def _run(
    address: str, selection: Selection, options: ServerSuiteOptions, connect_timeout_s: float
) -> SuiteReport:
    connect = ConnectOptions(
        target=address,
        connect_timeout_s=connect_timeout_s,
        username=options.username,
        password=options.password,
    )
    try:
        report = run_server_suite(connect, selection, options)
    except ConnectError as error:
        raise AssertionError(f"conformance: cannot connect to {address}: {error}") from None
    failures = failure_lines(report)
    if failures or report.outcome is not RunOutcome.COMPLETED:
        raise AssertionError(failure_message(report))
    return report


def failure_lines(report: SuiteReport) -> list[str]:
    """One line per failed (or crashed) check: ``S06 Title (M3, Q2): message``."""
    lines = []
    for result in report.results:
        if result.outcome not in (Outcome.FAIL, Outcome.ERROR):
            continue
        rules = f" ({', '.join(result.rules)})" if result.rules else ""
        crashed = " [checker error]" if result.outcome is Outcome.ERROR else ""
        lines.append(f"{result.id} {result.title}{rules}{crashed}: {visible(result.message)}")
    return lines


def failure_message(report: SuiteReport) -> str:
    """The AssertionError text: how many checks failed against what, then each one."""
    failures = failure_lines(report)
    head = (
        f"conformance: {len(failures)} of {len(report.results)} server checks failed "
        f"against {report.target}"
    )
    if report.outcome is not RunOutcome.COMPLETED:
        head += f"; the run did not complete ({report.outcome.value}: {visible(report.reason)})"
    return "\n  ".join([head + ":" if failures else head, *failures])
