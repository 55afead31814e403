"""What the benchmark scripts share: a server in its own process, ``lvatool simulate``
runs measured from outside, and the result table."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvatool.testing.process import free_port, is_serving

__all__ = ["SimulateRun", "free_port", "report", "run_simulate", "serve_in_process_of_its_own",
           "wait_until_serving"]  # fmt: skip


def wait_until_serving(address: str, timeout_s: float = 60.0) -> None:
    """Block until a server answers on ``address``: no guessed start-up sleep."""
    deadline = time.monotonic() + timeout_s
    while not is_serving(address):
        if time.monotonic() > deadline:
            raise SystemExit(f"no server answered on {address} within {timeout_s:g} s")
        time.sleep(0.1)  # between polls, against the deadline


@dataclass
class SimulateRun:
    """One ``lvatool simulate`` process as seen from outside (``wait4``)."""

    summary: dict[str, Any] | None  # its --json summary; None if it wrote none
    exit_code: int
    cpu_s: float  # user + system
    peak_rss_mib: float
    wall_s: float


def run_simulate(target: str, clip: Path, args: Sequence[str], folder: Path) -> SimulateRun:
    """Run ``lvatool simulate`` on ``clip`` (looped) against ``target``, quietly, its summary
    written into ``folder`` (where outputs named in ``args`` may go too)."""
    summary_path = folder / "summary.json"
    command = [
        sys.executable, "-m", "lvatool", "simulate", "--video", str(clip), "--loop",
        "--target", target, "--quiet", "--json", str(summary_path), *args,
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)  # the child bounds its own waits
    return SimulateRun(
        summary=json.loads(summary_path.read_text()) if summary_path.exists() else None,
        exit_code=os.waitstatus_to_exitcode(status),
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,
        wall_s=time.monotonic() - started,
    )


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
