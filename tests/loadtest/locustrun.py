"""Real Locust runs from tests: ``lvatool serve`` and Locust each in their own processes.

The extension must not run inside a Locust process (gevent's monkey-patching makes every
call hang there), and Locust must not be imported into the test process (it would patch
the standard library under every other test): everything here is a subprocess, and every
wait has a deadline.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.serveproc import free_port, wait_healthy

#: Locust's exit codes: 0 a clean run, 1 a run with failures (``--exit-code-on-error``).
RUN_OK, RUN_WITH_FAILURES = 0, 1


@contextmanager
def serving(*args: str, timeout_s: float = 30.0) -> Iterator[str]:
    """``lvatool serve`` in its own process, healthy; yields its ``host:port``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--grace-s", "1", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        wait_healthy(address, process, timeout_s)
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def locust(*args: str) -> subprocess.Popen[str]:
    """``python -m lvatool.loadtest ARGS`` (Locust with the packaged locustfile)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "lvatool.loadtest", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def finish(process: subprocess.Popen[str], timeout_s: float = 90.0) -> tuple[int, str]:
    """Its exit code and output; killed (and the test failed) past ``timeout_s``."""
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"locust still running after {timeout_s:g} s:\n{output}") from None
    return process.returncode, output


def stats_rows(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of Locust's ``PREFIX_stats.csv``, by (Type, Name); the total is ("", "Aggregated")."""
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as file:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(file)}


def failure_rows(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_failures.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))
