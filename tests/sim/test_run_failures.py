"""A run that fails never ends "ok": issue 8, point 9, and the Ctrl-C and corrupt-video cases.

Bad values are refused before anything runs (exit 2, naming the option or parameter);
an exception inside any stream thread ends the run with outcome ``error`` and exit 1
(lvatool's fault, said in one sentence, traceback only with ``--debug``); frames in
flight at Ctrl-C are *interrupted*, not timed out; a corrupt packet is skipped and counted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lvatool.conformance import CheckingExtension, CheckingPolicy
from lvatool.sim import ConnectOptions, RunOptions, StreamOptions, simulate
from lvatool.sim.samples import sample_path
from tests.schemas import assert_valid
from tests.sim.simrun import run, wait_for

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = str(ROOT / "samples" / "topologies" / "shared-memory-raw.json")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--topology", TOPOLOGY, "--param", "frameWidth=0"], "frameWidth"),
        (["--topology", TOPOLOGY, "--param", "frameHeight=-5"], "frameHeight"),
        (["--topology", TOPOLOGY, "--param", "frameWidth=wide"], "frameWidth"),
        (["--width", "0"], "--width"),
        (["--quality", "101"], "--quality"),
    ],
    ids=["param-width-0", "param-height-negative", "param-width-text", "width-0", "quality"],
)
def test_bad_values_are_refused_before_the_run(args: list[str], named: str) -> None:
    """The issue's case: a topology width of 0 used to crash a stream and exit 0 "ok"."""
    code, summary, output = run(*args)
    assert code == 2, output
    assert summary == {}  # nothing ran
    assert named in " ".join(output.split())
    assert "Traceback" not in output


def test_an_exception_inside_a_stream_ends_the_run_as_an_error() -> None:
    """From Python: a value that breaks the stream thread (a negative timescale makes
    negative uint64 timestamps) gives outcome "error", not a thread traceback and "ok"."""
    options = RunOptions(
        stream=StreamOptions(connect=ConnectOptions(target=""), timescale=-1),
        video=str(sample_path()),
        max_frames=5,
        serve_locally=True,
    )
    result = simulate(options)
    summary = result.summary.as_dict()
    assert_valid(summary, "simulate-summary")
    assert summary["outcome"] == "error"
    assert summary["error"].startswith("internal error in lvatool simulate, not the extension's")
    assert "ValueError" in summary["error"]
    (failure,) = result.failures
    assert failure.details is not None and "Traceback" in failure.details


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_under_output_fails_the_run_in_one_sentence() -> None:
    """--output on a device that is always full: the events cannot be written, so the run
    fails (exit 1, outcome error) instead of a thread traceback and exit 0."""
    code, summary, output = run("--output", "/dev/full", "--max-frames", "30")
    assert code == 1, output
    assert summary["outcome"] == "error"
    assert "cannot write the --output file: No space left on device" in " ".join(output.split())
    assert "Traceback" not in output


def test_a_corrupt_video_skips_its_bad_packets_and_counts_them(tmp_path: Path) -> None:
    """Bytes overwritten in the middle of the clip: the run goes on past them, warned."""
    corrupt = tmp_path / "corrupt.mp4"
    data = bytearray(sample_path().read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20_000] = os.urandom(20_000)
    corrupt.write_bytes(bytes(data))
    code, summary, output = run("--video", str(corrupt))
    assert code == 0, output
    assert 0 < summary["frames_acked"] == summary["frames_sent"]
    (warning,) = summary["warnings"]
    assert "undecodable packets" in warning


def test_ctrl_c_counts_frames_in_flight_as_interrupted(tmp_path: Path) -> None:
    """SIGINT with frames held by the extension: exit 130 after the partial summary, the
    frames in flight counted as interrupted, none as timed out."""
    hold_all = CheckingPolicy(reply_delay_s=0.0, hold=1_000_000, hold_timeout_s=120.0)
    json_path = tmp_path / "summary.json"
    with CheckingExtension(policy=hold_all) as checker:
        process = subprocess.Popen(
            [sys.executable, "-m", "lvatool", "simulate", "--target", checker.address,
             "--ack-timeout", "60", "--json", str(json_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            wait_for(
                lambda: sum(len(session.samples) for session in checker.sessions) >= 8,
                "the extension holds the first 8 samples (--max-in-flight)",
            )
        except AssertionError:
            process.kill()
            process.communicate(timeout=30)
            raise
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "frames interrupted" in stdout
    summary = json.loads(json_path.read_text())
    assert_valid(summary, "simulate-summary")
    assert summary["outcome"] == "interrupted"
    assert summary["frames_interrupted"] == summary["frames_sent"] == 8
    assert summary["frames_timed_out"] == 0


@pytest.mark.parametrize(
    "bad",
    [{"max_in_flight": 0}, {"ack_timeout_s": 0.0}, {"on_full": "queue"}, {"max_fps": 0.0},
     {"shm_bytes": 0}],
    ids=["no-frame-in-flight", "no-ack-time", "on-full", "max-fps", "shm-bytes"],
)  # fmt: skip
def test_stream_options_that_would_wait_forever_are_refused_from_python(
    bad: dict[str, object],
) -> None:
    """From Python, where no command-line range guards them: refused at construction."""
    with pytest.raises(ValueError, match=next(iter(bad))):
        StreamOptions(connect=ConnectOptions(target="localhost:5001"), **bad)  # type: ignore[arg-type]
