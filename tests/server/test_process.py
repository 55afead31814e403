"""``lvatool serve`` as a process: health, reflection, processors, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lvatool.contract import SERVICE_NAME
from lvatool.media import Encoding, FrameFormat
from tests.frames import DARK, descriptor, encode, sample
from tests.rawcall import RawCall
from tests.serveproc import free_port, wait_healthy
from tests.sim.simrun import wait_for


def start(*args: str, stderr: IO[str] | int = subprocess.PIPE) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lvatool",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        stderr=stderr,
        text=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        wait_healthy(address, process, 30)
    except AssertionError:
        process.kill()
        raise AssertionError(f"server did not become healthy: {process.communicate()[1]}") from None
    return process, address


def test_sigterm_finishes_and_exits_zero() -> None:
    """SIGTERM with a live session (as LVA's always are): the grace, then the session is
    cut (UNAVAILABLE on both sides of the log line) and the process exits 0."""
    process, address = start("--grace-s", "2")
    try:
        with grpc.insecure_channel(address) as channel:
            call = RawCall(channel)
            call.send(descriptor(FrameFormat(Encoding.JPG)))
            call.recv()
            call.send(sample(2, encode(DARK, FrameFormat(Encoding.JPG))))
            call.recv()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
            assert call.status()[0] == grpc.StatusCode.UNAVAILABLE
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "session start" in stderr
    assert "session end" in stderr and "received=1 acknowledged=1" in stderr
    assert "status=UNAVAILABLE" in stderr


def test_reflection_lists_the_service() -> None:
    """grpcurl works: reflection names the extension service and health."""
    process, address = start()
    try:
        with grpc.insecure_channel(address) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
            names = {s.name for s in reply.list_services_response.service}
            assert SERVICE_NAME in names
            assert "grpc.health.v1.Health" in names
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_custom_processor_from_file(tmp_path: Path) -> None:
    """--processor file.py:function serves a user's model."""
    model = tmp_path / "my_model.py"
    model.write_text(
        "from lvatool.server import classification\n"
        "def process(frame):\n"
        "    return [classification('bright' if frame.image.mean() > 100 else 'dim', 0.75)]\n"
    )
    process, address = start("--processor", f"{model}:process", "--log-format", "json")
    try:
        with grpc.insecure_channel(address) as channel:
            call = RawCall(channel)
            jpg = FrameFormat(Encoding.JPG)
            call.send(descriptor(jpg))
            call.recv()
            call.send(sample(2, encode(DARK, jpg)))
            (inference,) = call.recv().media_sample.inferences
            assert inference.classification.tag.value == "dim"
            assert abs(inference.classification.tag.confidence - 0.75) < 1e-6
            call.cancel()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert '"message": "session start' in stderr


def test_bad_processor_is_a_usage_error() -> None:
    """A --processor that cannot load is exit 2 with one clear sentence, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "lvatool", "serve", "--processor", "no_such_module_xyz:run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert "no_such_module_xyz" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_exit_3() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 3, result.stderr
    assert "cannot listen" in result.stderr
    assert "address already in use" in result.stderr
    assert "add_port" not in result.stderr, "gRPC's own log line reached the user"
    assert "Traceback" not in result.stderr


def test_grpc_core_lines_are_silenced_when_quieted_before_grpc_loads() -> None:
    """gRPC's own ``add_port.cc`` line repeats our sentence in its words: off by default.

    ``quiet_grpc_core_logs`` must run before grpc is first imported; here it does, as the
    command line's entry does, and the user's own GRPC_VERBOSITY is left alone.
    """
    script = (
        "import sys\n"
        "from lvatool.logs import quiet_grpc_core_logs\n"
        "quiet_grpc_core_logs()\n"
        "from lvatool.cli import app\n"
        "app(sys.argv[1:])\n"
    )
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        environ = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
        command = [sys.executable, "-c", script, "serve", "--host", "127.0.0.1", "--port", port]
        quiet = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environ)
        loud = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            env={**environ, "GRPC_VERBOSITY": "ERROR"},
        )
    assert quiet.returncode == 3 and "address already in use" in quiet.stderr
    assert "add_port" not in quiet.stderr
    assert quiet.stderr.strip().count("\n") == 0, quiet.stderr  # one sentence
    assert "add_port" in loud.stderr  # the user's choice wins


def test_port_zero_logs_the_port_it_picked(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", "0"],
            stderr=stderr,
            text=True,
        )
    try:
        wait_for(lambda: "serving" in log.read_text(), "the serving line", 60)
        line = next(x for x in log.read_text().splitlines() if "serving" in x)
        port = int(line.split(" on 127.0.0.1:")[1].split()[0])
        assert port > 0
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=30
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bind", "tcp://nowhere"], "--bind"),
        (["--bind", "tcp://localhost:70000"], "--bind"),
        (["--host", "two words", "--port", "5001"], "--host"),
    ],
)
def test_bad_listen_address_is_a_usage_error(args: list[str], named: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lvatool", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr


HANGING_PROCESSOR = """
import pathlib
import threading

ENTERED = pathlib.Path({marker!r})


def process(frame):
    ENTERED.touch()
    threading.Event().wait()  # a model that never returns
"""


def start_hanging(tmp_path: Path, grace_s: str) -> tuple[subprocess.Popen[str], Path, RawCall]:
    """``lvatool serve`` whose processor hangs on the frame it is given; stderr in a file."""
    marker = tmp_path / "entered"
    model = tmp_path / "hanging.py"
    model.write_text(HANGING_PROCESSOR.format(marker=str(marker)))
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process, address = start(
            "--processor", f"{model}:process", "--grace-s", grace_s, stderr=stderr
        )
    channel = grpc.insecure_channel(address)
    call = RawCall(channel, deadline_s=120)
    call.send(descriptor(FrameFormat(Encoding.JPG)))
    call.recv(timeout_s=30)
    call.send(sample(2, encode(DARK, FrameFormat(Encoding.JPG))))
    wait_for(marker.exists, "the processor to be called", 30)
    return process, log, call


def test_sigterm_with_a_hanging_processor_exits_after_the_grace(tmp_path: Path) -> None:
    """A processor that never returns: SIGTERM still ends the process after --grace-s
    (exit 1: a session was stuck); it used to log "stopped" and stay."""
    process, log, call = start_hanging(tmp_path, grace_s="1")
    try:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=1 + 30)  # grace + a generous margin for a loaded machine
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    stderr = log.read_text()
    assert process.returncode == 1, stderr
    assert elapsed >= 1.0  # the grace was given first
    assert "stuck in the processor" in stderr and "Traceback" not in stderr
    assert call.status(timeout_s=30)[0] == grpc.StatusCode.UNAVAILABLE


def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    """During a long grace, a second signal ends the process at once with exit 130."""
    process, log, call = start_hanging(tmp_path, grace_s="600")
    try:
        process.send_signal(signal.SIGTERM)
        wait_for(lambda: "received SIGTERM" in log.read_text(), "the first signal logged", 30)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)  # not the 600 s grace
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        call.cancel()
    stderr = log.read_text()
    assert process.returncode == 130, stderr
    assert "received SIGINT again" in stderr and "Traceback" not in stderr
