"""Ctrl-C, SIGTERM and --timeout during ``lvatool conformance``: nothing lost, nothing left.

Real processes throughout: ``lvatool conformance`` runs as a subprocess, the client it
starts is a Python program that hangs (and starts a helper of its own that ignores
SIGTERM, as a launcher's child might), and the server under test is a gRPC extension
that never answers. Each test waits until the run has begun (the client's pid files, the
server's first call), signals, then checks the exit code, the reports and that every
process the run started is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from lvatool.contract import extension_pb2_grpc
from tests.schemas import assert_valid
from tests.sim.simrun import wait_for

#: A client that hangs: it records its pid, starts a helper (in its process group) that
#: ignores SIGTERM and records its own pid, then waits for a signal forever.
HANGING_CLIENT = """
import os, signal, subprocess, sys
pids = sys.argv[1]
helper = (
    "import os, signal, sys\\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))\\n"
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\\n"
    "signal.pause()\\n"
)
subprocess.Popen([sys.executable, "-c", helper, pids + ".helper"])
open(pids + ".tmp", "w").write(str(os.getpid()))
os.rename(pids + ".tmp", pids)
while True:
    signal.pause()
"""

START_S = 60.0  # generous: Python start-up on a loaded 2-core machine
END_S = 60.0


def gone(pid: int) -> bool:
    """True when process ``pid`` no longer runs (exited, or a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


class HangingClient:
    """Paths of the hanging client's script and pid files, and the pids once started."""

    def __init__(self, directory: Path) -> None:
        self.script = directory / "hanging_client.py"
        self.script.write_text(HANGING_CLIENT, encoding="utf-8")
        self.pid_file = directory / "client.pid"
        self.helper_pid_file = directory / "client.pid.helper"

    def command(self) -> list[str]:
        return [sys.executable, str(self.script), str(self.pid_file)]

    def started(self) -> bool:
        return self.pid_file.exists() and self.helper_pid_file.exists()

    def pids(self) -> list[int]:
        return [int(self.pid_file.read_text()), int(self.helper_pid_file.read_text())]


def conformance(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lvatool", "conformance", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for the run to end; its exit code and its output (stdout and stderr)."""
    out, err = process.communicate(timeout=END_S)
    assert "Traceback" not in err, err
    return process.returncode, out + err


def interrupted_reports(json_path: Path, junit_path: Path, signal_name: str) -> dict[str, object]:
    """Both reports exist and say the run was interrupted by ``signal_name``."""
    document = json.loads(json_path.read_text())
    assert_valid(document, "conformance-report")
    assert document["outcome"] == "interrupted"
    assert signal_name in document["reason"]
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["outcome"] == "interrupted"
    assert signal_name in (properties.get("reason") or "")
    run_errors = [e for e in suite.iter("error") if e.get("type") == "interrupted"]
    assert len(run_errors) == 1
    return dict(document)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[HangingClient]:
    hanging = HangingClient(tmp_path)
    yield hanging
    if hanging.started():  # never leave one behind, even when a test fails
        for pid in hanging.pids():
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_client_suite_writes_its_reports_and_ends_the_client(
    tmp_path: Path, client: HangingClient, signal_number: signal.Signals
) -> None:
    json_path, junit_path = tmp_path / "r.json", tmp_path / "r.xml"
    run = conformance("client", "--json", str(json_path), "--junit", str(junit_path),
                      "--", *client.command())  # fmt: skip
    try:
        wait_for(client.started, "the client and its helper started", START_S)
        run.send_signal(signal_number)
        code, output = finish(run)
    finally:
        run.kill()
    assert code == 130, output
    assert f"interrupted by {signal_number.name}" in output
    document = interrupted_reports(json_path, junit_path, signal_number.name)
    assert document["suite"] == "client"
    # the client and the helper that ignores SIGTERM: both ended, none left running
    wait_for(lambda: all(gone(pid) for pid in client.pids()), "the client's group ended", END_S)


class SilentExtension(extension_pb2_grpc.MediaGraphExtensionServicer):  # type: ignore[misc]
    """An extension that accepts every call and never answers, until the caller gives up."""

    def __init__(self) -> None:
        self.called = threading.Event()

    def ProcessMediaStream(self, request_iterator: object, context: grpc.ServicerContext) -> None:
        self.called.set()
        ended = threading.Event()
        context.add_callback(ended.set)
        ended.wait(END_S)  # bounded, whatever the caller does
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "silent test extension")


@pytest.fixture
def silent_server() -> Iterator[tuple[str, SilentExtension]]:
    servicer = SilentExtension()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    extension_pb2_grpc.add_MediaGraphExtensionServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(0).wait(10.0)


def test_an_interrupted_server_suite_writes_its_reports(
    tmp_path: Path, silent_server: tuple[str, SilentExtension]
) -> None:
    address, servicer = silent_server
    json_path, junit_path = tmp_path / "r.json", tmp_path / "r.xml"
    run = conformance("server", "--target", address, "--json", str(json_path),
                      "--junit", str(junit_path))  # fmt: skip
    try:
        assert servicer.called.wait(START_S), "the suite never called the extension"
        run.send_signal(signal.SIGINT)
        code, output = finish(run)
    finally:
        run.kill()
    assert code == 130, output
    document = interrupted_reports(json_path, junit_path, "SIGINT")
    checks = document["checks"]
    assert isinstance(checks, list) and checks
    assert all(c["outcome"] == "skip" and "interrupted" in c["message"] for c in checks)


def test_a_client_past_its_timeout_is_ended_with_everything_it_started(
    tmp_path: Path, client: HangingClient
) -> None:
    """--timeout: SIGTERM to the client's group, then SIGKILL for the helper ignoring it."""
    json_path = tmp_path / "r.json"
    run = conformance("client", "--timeout", "10", "--json", str(json_path),
                      "--", *client.command())  # fmt: skip
    try:
        code, output = finish(run)
    finally:
        run.kill()
    assert code == 3, output  # it never opened a session with the checker
    assert "never opened a session" in output
    document = json.loads(json_path.read_text())
    assert_valid(document, "conformance-report")
    assert document["outcome"] == "cannot connect"
    assert client.started(), "the client did not start within --timeout; raise it"
    wait_for(lambda: all(gone(pid) for pid in client.pids()), "the client's group ended", END_S)


def test_an_interrupt_between_checks_keeps_the_verdicts_so_far() -> None:
    """SIGTERM while a check waits on its peer: earlier verdicts kept, the waiting check's
    calls cancelled (so its thread ends), it and later checks skipped with the reason."""
    from lvatool.conformance.catalogue import Check, Level
    from lvatool.conformance.interrupt import interrupts_raise
    from lvatool.conformance.results import Outcome, RunOutcome
    from lvatool.conformance.runner import CheckContext, run_suite

    cancelled = threading.Event()

    def passes(context: CheckContext) -> str:
        return "fine"

    def signalled_while_waiting(context: CheckContext) -> str:
        context.on_cancel(cancelled.set)  # as a check registers its gRPC calls
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to the main thread, in the runner
        cancelled.wait(END_S)
        return "cancelled"

    checks = [
        Check("X1", "passes", ("Q2",), Level.MUST, 60.0, "test", passes),
        Check("X2", "waits", ("Q2",), Level.MUST, 60.0, "test", signalled_while_waiting),
        Check("X3", "never runs", ("Q2",), Level.MUST, 60.0, "test", passes),
    ]
    with interrupts_raise():
        report = run_suite("test", "nowhere", checks, None)
    assert cancelled.is_set()
    assert report.outcome is RunOutcome.INTERRUPTED
    assert report.reason == "interrupted by SIGTERM"
    assert [(r.id, r.outcome) for r in report.results] == [
        ("X1", Outcome.PASS), ("X2", Outcome.SKIP), ("X3", Outcome.SKIP),
    ]  # fmt: skip
    assert all(r.message == "not run: interrupted by SIGTERM" for r in report.results[1:])
