"""``lvatool simulate --find-capacity`` end to end, and the options it refuses.

The search runs for real: real-time cameras (PyAV decoding the bundled clip) over gRPC on
loopback to an extension of known capacity in its own process (tests/peers/
fixed_rate_server.py: K frames/s in total, shared by all sessions). With cameras at
10 frames/s it must answer K / 10 cameras, within one step. The SLO is loose and the
verdicts rest on rates and losses, so a loaded machine moves the latencies, not the answer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from tests.peers.fixed_rate_server import fixed_rate_server
from tests.schemas import assert_valid

TOTAL_FPS = 40.0  # K, the extension's capacity in frames per second
CAMERA_FPS = 10.0
SMALL_FAST = ["--max-fps", "10", "--width", "64", "--height", "48", "--step-s", "2"]


def find_capacity(*args: str) -> tuple[int, dict[str, Any], str]:
    """Run the search in-process: its exit code, its --json document and all its output."""
    out = (
        Path(os.environ.get("TMPDIR", "/tmp"))
        / f"lvatool-capacity-{os.getpid()}-{time.monotonic_ns()}.json"
    )
    result = CliRunner().invoke(app, ["simulate", "--json", str(out), *args])
    try:
        document: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    finally:
        out.unlink(missing_ok=True)
    if document:
        assert_valid(document, "simulate-capacity")
    return result.exit_code, document, result.output


@pytest.mark.timeout(180)
def test_finds_the_known_capacity_of_a_fixed_rate_extension() -> None:
    with fixed_rate_server(TOTAL_FPS) as address:
        code, document, output = find_capacity(
            "--target", address, "--find-capacity", "--slo-p99-ms", "500",
            "--max-streams", "8", *SMALL_FAST,
        )  # fmt: skip
    assert code == 0, output
    expected = TOTAL_FPS / CAMERA_FPS
    assert abs(document["cameras"] - expected) <= 1, output
    assert document["outcome"] == "capacity"
    assert document["first_failed"] == document["cameras"] + 1
    steps = {step["streams"]: step for step in document["steps"]}
    assert [n for n in steps if n <= 2] == [1, 2] and steps[1]["passed"] and steps[2]["passed"]
    over = steps[8]  # twice the capacity: the extension, not the simulator, falls short
    assert not over["passed"] and over["simulator_bottleneck"] is None
    assert over["acked_fps"] < 0.95 * over["offered_fps"]
    # Each camera is judged too: a passing step's slowest camera kept the rate.
    slowest = steps[1]["slowest_camera"]
    assert slowest["camera"] == 0 and slowest["acked_fps"] >= 0.9 * CAMERA_FPS, steps[1]
    assert over["slowest_camera"]["acked_fps"] < CAMERA_FPS
    # Each step is printed as it runs, then the one closing line.
    for step in document["steps"]:
        camera_word = "camera" if step["streams"] == 1 else "cameras"
        assert f"{step['streams']} {camera_word}: offered" in output
    assert f"sustains {document['cameras']} cameras at 10 frames/s, p99 " in output
    assert f"({document['first_failed']} failed: " in output


def test_a_target_that_does_not_answer_aborts_with_exit_3_and_says_why() -> None:
    code, document, output = find_capacity(
        "--target", "127.0.0.1:1", "--connect-timeout", "0.5", "--find-capacity",
        "--slo-p99-ms", "100", "--realtime",
    )  # fmt: skip
    assert code == 3, output
    assert document["outcome"] == "connect" and document["cameras"] is None
    assert document["steps"] == [] and document["error"]
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--find-capacity", "--realtime", "--target", "127.0.0.1:5001"], "needs --slo-p99-ms"),
        (["--find-capacity", "--slo-p99-ms", "100", "--target", "127.0.0.1:5001"],
         "needs --realtime or --max-fps"),
        (["--find-capacity", "--slo-p99-ms", "100", "--realtime"], "give --target"),
        (["--find-capacity", "--slo-p99-ms", "100", "--realtime", "--target", "127.0.0.1:5001",
          "--streams", "4", "--min-fps", "5"], "--streams, --min-fps cannot be used"),
        (["--slo-p99-ms", "100"], "go with --find-capacity"),
        (["--step-s", "3"], "go with --find-capacity"),
    ],
)  # fmt: skip
def test_options_that_make_no_search_are_one_sentence_and_exit_2(
    args: list[str], words: str
) -> None:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_help_teaches_the_search() -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--find-capacity", "--slo-p99-ms", "--max-streams", "--step-s"):
        assert option in result.output
