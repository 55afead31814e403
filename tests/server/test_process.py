"""``lvatool serve`` as a process: health, reflection, processors, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lvatool.contract import SERVICE_NAME
from lvatool.media import Encoding, FrameFormat
from tests.frames import DARK, descriptor, encode, sample
from tests.rawcall import RawCall


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
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
        stderr=subprocess.PIPE,
        text=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return process, address
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError(f"server did not become healthy: {process.communicate()[1]}")
            time.sleep(0.1)


def test_sigterm_finishes_and_exits_zero() -> None:
    """Stop on SIGTERM within the grace period with exit code 0, logging session ends."""
    process, address = start("--grace-s", "2")
    try:
        with grpc.insecure_channel(address) as channel:
            call = RawCall(channel)
            call.send(descriptor(FrameFormat(Encoding.JPG)))
            call.recv()
            call.send(sample(2, encode(DARK, FrameFormat(Encoding.JPG))))
            call.recv()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "session start" in stderr
    assert "session end" in stderr and "received=1 acknowledged=1" in stderr


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
