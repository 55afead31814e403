"""What the benchmark scripts share: a server in its own process and the result table."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path


def wait_until_serving(address: str, timeout_s: float = 60.0) -> None:
    """Block until a server answers on ``address``: no guessed start-up sleep."""
    import grpc

    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve_in_process_of_its_own() -> Iterator[tuple[str, int]]:
    """``lvatool serve`` in a child process; yields its address and PID."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
    )  # fmt: skip
    try:
        wait_until_serving(f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}", server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def report(results: dict[str, dict[str, float]], json_path: Path | None) -> None:
    width = max(len(name) for name in results) + 2
    for name, figures in results.items():
        print(f"{name:{width}s}" + "  ".join(f"{k}={v:.2f}" for k, v in figures.items()))
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))
