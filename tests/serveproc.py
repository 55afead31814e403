"""``lvatool serve`` in a process of its own, from tests: a free port, and a healthy wait.

Several test modules start the server as a subprocess (to watch it exit, to survive a
SIGBUS that would kill pytest, to keep Locust's monkey-patching away); they share these
two steps rather than each keeping its own copy.
"""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lvatool.contract import SERVICE_NAME


def free_port() -> int:
    """A loopback port nobody listens on at this moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(address: str, process: subprocess.Popen[Any], timeout_s: float) -> None:
    """Poll the health service until the extension is SERVING, against a deadline.

    AssertionError when the process exits first or ``timeout_s`` passes; the caller
    decides what to do with the process then.
    """
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if process.poll() is not None:
                raise AssertionError(f"lvatool serve exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"lvatool serve not healthy within {timeout_s:g} s")
            time.sleep(0.1)
