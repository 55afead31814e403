"""``lvatool serve`` in a process of its own, from tests: a free port, and a healthy wait.

Several test modules start the server as a subprocess (to watch it exit, to survive a
SIGBUS that would kill pytest, to keep Locust's monkey-patching away) with options of their
own; they share these two steps, built on :mod:`lvatool.testing.process`, whose
:class:`~lvatool.testing.process.ServeProcess` serves the tests that need no more.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from lvatool.testing.process import free_port, is_serving

__all__ = ["free_port", "wait_healthy"]


def wait_healthy(address: str, process: subprocess.Popen[Any], timeout_s: float) -> None:
    """Poll the health service until the extension is SERVING, against a deadline.

    AssertionError when the process exits first or ``timeout_s`` passes; the caller
    decides what to do with the process then.
    """
    deadline = time.monotonic() + timeout_s
    while not is_serving(address, timeout_s=1.0):
        if process.poll() is not None:
            raise AssertionError(f"lvatool serve exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"lvatool serve not healthy within {timeout_s:g} s")
        time.sleep(0.1)  # between polls; the deadline above bounds the wait
