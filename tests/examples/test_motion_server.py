"""The motion example behind a real server: loaded as users load it, streamed to by simulate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc

from lvatool.media import Encoding, FrameFormat
from lvatool.testing import assert_conformant, serve
from tests.frames import descriptor
from tests.rawcall import RawCall

REPO = Path(__file__).resolve().parents[2]
StartServer = Callable[..., str]


def test_simulate_against_lvatool_serve_with_the_motion_processor(
    lvatool_server: StartServer, tmp_path: Path
) -> None:
    """``lvatool serve --processor lvatool.examples.motion:process`` and ``lvatool simulate``:
    every frame after the first has the bouncing box's motion, published as R3 says."""
    address = lvatool_server("lvatool.examples.motion:process")
    events, summary = tmp_path / "events.jsonl", tmp_path / "summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "lvatool", "simulate", "--target", address, "--quiet",
         "--max-frames", "30", "--format", "raw", "--pixel-format", "bgr24",
         "--output", str(events), "--json", str(summary)],
        capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(summary.read_text())["frames_acked"] == 30
    published = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(published) == 29  # frame 0 has nothing to compare with: no event (R3)
    for event in published:
        for inference in event["body"]["inferences"]:
            assert inference["type"] == "motion"
            box = inference["motion"]["box"]
            left, top = box.get("l", 0.0), box.get("t", 0.0)  # JSON leaves out zeros
            assert left >= 0 and left + box["w"] <= 1.0001  # R2
            assert top >= 0 and top + box["h"] <= 1.0001


def test_the_example_file_loads_and_is_conformant_as_a_stateful_processor(
    lvatool_server: StartServer,
) -> None:
    """A detector of change gives a frame other results after other frames by design:
    ``stateful=True`` (``--stateful``) compares S06 and S12 with the same sequence of
    frames sent alone, and skips S05, which has nothing left to judge."""
    address = lvatool_server("examples/processors/motion.py:process", cwd=REPO)
    report = assert_conformant(address, stateful=True)
    assert not report.failed
    outcomes = {result.id: result.outcome.value for result in report.results}
    assert outcomes["S05"] == "skip"
    assert outcomes["S06"] == "pass" and outcomes["S12"] == "pass"


def test_a_bad_sensitivity_refuses_the_session_through_the_server() -> None:
    config = '{"sensitivity": 7}'
    with (
        serve("lvatool.examples.motion:process") as address,
        grpc.insecure_channel(address) as channel,
    ):
        call = RawCall(channel)
        call.send(descriptor(FrameFormat(Encoding.JPG), config=config))
        code, details = call.status()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "the processor refused the session" in details
    assert "sensitivity must be a number from 0 to 1, not 7" in details
