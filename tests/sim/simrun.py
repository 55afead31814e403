"""Running ``lvatool simulate`` in-process from tests, its JSON summary checked every time."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from lvatool.cli import app
from tests.schemas import assert_valid


def run(*args: str) -> tuple[int, dict[str, Any], str]:
    """Run simulate in-process; its exit code, its JSON summary and its stderr.

    Every summary written is validated against the published schema, so each test's run
    (embedded, shared memory, several streams, failures) also tests the schema.
    """
    out = (
        Path(os.environ.get("TMPDIR", "/tmp"))
        / f"lvatool-sim-{os.getpid()}-{time.monotonic_ns()}.json"
    )
    result = CliRunner().invoke(app, ["simulate", "--quiet", "--json", str(out), *args])
    try:
        summary: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    finally:
        out.unlink(missing_ok=True)
    if summary:
        assert_valid(summary, "simulate-summary")
    return result.exit_code, summary, result.output


def lvatool_shm_files(pid: int | None = None) -> set[str]:
    """Buffer files made by simulate in process ``pid`` (this one by default)."""
    return {p.name for p in Path("/dev/shm").glob(f"lvatool-{pid or os.getpid()}-*")}


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail, naming ``what``, at the deadline.

    Tests wait for the state they need rather than for a fixed time: a fixed sleep is too
    short on a loaded machine and wasted on an idle one.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.02)
