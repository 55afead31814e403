"""``lvatool simulate`` end to end: real PyAV decoding, real gRPC, real /dev/shm."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvatool.conformance import CheckingExtension, CheckingPolicy
from lvatool.server import ExtensionServer, ServerOptions
from lvatool.sim.samples import sample_path
from tests.peers.mutant_servers import DIES_AFTER, Fault, MutantServer
from tests.sim.simrun import lvatool_shm_files, run, wait_for

ROOT = Path(__file__).resolve().parents[2]
CLIP = sample_path()


@pytest.fixture(scope="module")
def reference() -> Iterator[str]:
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as server:
        yield server.address


def test_main_job_without_arguments() -> None:
    """The README's first command: reference server in-process, bundled clip, 100 % truth."""
    code, summary, output = run()
    assert code == 0, output
    assert summary["frames_acked"] == summary["frames_decoded"] == 300
    assert summary["truth"] == {"compared": 300, "matched": 300, "accuracy": 1.0}


@pytest.mark.parametrize("transfer", [[], ["--shm", "8"]], ids=["embedded", "shm"])
def test_truth_is_100_percent_against_reference(reference: str, transfer: list[str]) -> None:
    """Q3 end to end: every result comes back tied to its own frame."""
    code, summary, output = run("--target", reference, "--format", "raw", *transfer)
    assert code == 0, output
    assert summary["truth"]["accuracy"] == 1.0
    assert summary["frames_acked"] == 300


PIXEL_FORMATS = ["yuv420p", "rgb565be", "rgb565le", "rgb555be", "rgb555le", "rgb24", "bgr24",
                 "argb", "rgba", "abgr", "bgra"]  # fmt: skip


@pytest.mark.parametrize("pixel_format", PIXEL_FORMATS)
@pytest.mark.parametrize("transfer", [[], ["--shm", "4"]], ids=["embedded", "shm"])
def test_every_pixel_format_and_padded_stride(
    reference: str, pixel_format: str, transfer: list[str]
) -> None:
    """F1: all 11 RAW formats, odd sizes, rows padded to 64 bytes; labels all right."""
    code, summary, output = run(
        "--target", reference, "--max-frames", "40", "--pixel-format", pixel_format,
        "--stride-align", "64", "--width", "161", "--height", "91", "--scale-mode", "stretch",
        *transfer,
    )  # fmt: skip
    assert code == 0, output
    assert summary["truth"]["matched"] == 40


@pytest.mark.parametrize("fmt", ["jpeg", "png", "bmp"])
@pytest.mark.parametrize("mode", ["preserveAspectRatio", "stretch", "pad"])
def test_encodings_and_scale_modes(reference: str, fmt: str, mode: str) -> None:
    """F1, F4: every encoding with every scale mode (pad to a near-square keeps labels)."""
    code, summary, output = run(
        "--target", reference, "--max-frames", "30", "--format", fmt, "--width", "200",
        "--height", "120", "--scale-mode", mode,
    )  # fmt: skip
    assert code == 0, output
    assert summary["truth"]["matched"] == 30


def test_checking_server_finds_no_region_rewritten_early() -> None:
    """M3, Q4: acks late and out of order; each region hashes the same at ack time."""
    with CheckingExtension(policy=CheckingPolicy(hold=6)) as checker:
        code, summary, output = run(
            "--target", checker.address, "--shm", "8", "--format", "raw", "--max-frames", "120"
        )
        (session,) = checker.sessions
    assert code == 0, output
    assert summary["frames_acked"] == 120
    assert len(session.samples) == 120
    assert session.rewritten == []


def test_on_full_drop_drops_and_counts() -> None:
    """M5: a buffer with room for one frame and a server that holds frames: drops counted."""
    frame_mib = 640 * 360 * 3 / (1 << 20)
    with CheckingExtension(policy=CheckingPolicy(hold=4)) as checker:
        code, summary, output = run(
            "--target", checker.address, "--shm", f"{frame_mib * 2.5:.3f}", "--format", "raw",
            "--max-frames", "60", "--on-full", "drop",
        )  # fmt: skip
    assert code == 0, output
    assert summary["frames_dropped"] > 0
    assert summary["frames_sent"] + summary["frames_dropped"] == 60
    assert summary["frames_acked"] == summary["frames_sent"]


def test_silent_server_ends_in_timeouts_not_a_hang() -> None:
    """Every wait is bounded: a server that never acks costs one --ack-timeout."""
    with MutantServer(Fault.NEVER_ACKS) as server:
        started = time.monotonic()
        code, summary, output = run("--target", server.address, "--ack-timeout", "1")
        elapsed = time.monotonic() - started
    assert code == 1, output
    assert summary["frames_timed_out"] == summary["frames_sent"] > 0
    assert summary["frames_acked"] == 0
    assert elapsed < 15
    assert "acknowledged nothing" in output


def test_server_that_dies_mid_stream_gives_partial_summary() -> None:
    with MutantServer(Fault.DIES_MID_STREAM) as server:
        code, summary, output = run("--target", server.address, "--max-in-flight", "1")
    assert code == 3, output
    assert summary["frames_acked"] == DIES_AFTER
    assert "UNAVAILABLE" in output


def test_server_that_acks_twice_is_a_protocol_violation() -> None:
    with MutantServer(Fault.ACKS_TWICE) as server:
        code, summary, output = run("--target", server.address)
    assert code == 4, output
    assert "Q2" in output and "second time" in output
    assert summary["outcome"] == "violation"


def test_server_without_descriptor_is_a_protocol_violation() -> None:
    with MutantServer(Fault.SAMPLE_FIRST) as server:
        code, _, output = run("--target", server.address)
    assert code == 4, output
    assert "H2" in output


def test_cannot_connect_is_exit_3() -> None:
    code, _, output = run("--target", "127.0.0.1:1", "--connect-timeout", "1")
    assert code == 3, output
    assert "cannot connect" in output


def test_shm_file_is_removed_after_normal_end_and_error() -> None:
    code, _, _ = run("--shm", "4", "--max-frames", "10")
    assert code == 0
    with MutantServer(Fault.ACKS_TWICE) as server:
        code, _, _ = run("--target", server.address, "--shm", "4")
    assert code == 4
    assert not lvatool_shm_files()


def test_shm_file_is_removed_on_sigint() -> None:
    """A Ctrl-C mid-run still removes the buffer file and prints a partial summary."""
    # A checker that holds every sample: frames stay in flight until the interrupt.
    hold_all = CheckingPolicy(reply_delay_s=0.0, hold=1_000_000, hold_timeout_s=120.0)
    with CheckingExtension(policy=hold_all) as checker:
        process = subprocess.Popen(
            [sys.executable, "-m", "lvatool", "simulate", "--target", checker.address,
             "--shm", "4", "--ack-timeout", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            wait_for(lambda: lvatool_shm_files(process.pid), "the buffer file appears")
            wait_for(
                lambda: any(session.samples for session in checker.sessions),
                "the extension receives a sample",
            )
        except AssertionError:
            process.kill()
            process.communicate(timeout=30)
            raise
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert not lvatool_shm_files(process.pid)
    assert "Traceback" not in stderr
    assert "frames sent" in stdout
    assert process.returncode == 130


@pytest.mark.parametrize("topology", ["embedded-jpeg.json", "shared-memory-raw.json"])
def test_topology_examples(topology: str) -> None:
    """The shipped topologies drive the run; command-line options win over them."""
    server = ExtensionServer(
        ServerOptions(host="127.0.0.1", port=0),
    )
    if topology == "embedded-jpeg.json":
        from lvatool.server import SessionPolicy

        server = ExtensionServer(
            ServerOptions(
                host="127.0.0.1", port=0, policy=SessionPolicy(credentials=("lva", "lvatool-demo"))
            )
        )
    with server:
        address = f"tcp://{server.address}"
        name = "grpcExtensionAddress" if topology == "embedded-jpeg.json" else "grpcUrl"
        code, summary, output = run(
            "--topology", str(ROOT / "samples" / "topologies" / topology),
            "--param", f"{name}={address}", "--max-frames", "90",
        )  # fmt: skip
    assert code == 0, output
    transfer = (summary["transfer"], summary["shm_mib"], summary["on_full"])
    if topology == "embedded-jpeg.json":
        assert transfer == ("embedded", None, None)
        # maximumSamplesPerSecond 10 on a 30 fps clip: one frame in three
        assert summary["frames_sent"] == 30
        assert summary["frames_sampled_out"] == 60
    else:
        assert transfer == ("shm", 32, "wait")
        assert summary["frames_sent"] == 90


def test_four_streams() -> None:
    code, summary, output = run("--streams", "4", "--max-frames", "50", "--shm", "8")
    assert code == 0, output
    assert summary["frames_acked"] == 200
    assert summary["truth"]["matched"] == 200


def test_output_is_iot_hub_events(tmp_path: Path) -> None:
    """R3: one JSON line per response with inferences, body and application properties."""
    out = tmp_path / "events.jsonl"
    code, _, output = run("--max-frames", "12", "--output", str(out))
    assert code == 0, output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == 12
    first = events[0]
    assert set(first) == {"body", "applicationProperties"}
    assert first["body"]["inferences"][0]["type"] == "classification"
    assert first["body"]["inferences"][0]["classification"]["tag"]["value"] in ("dark", "light")
    props = first["applicationProperties"]
    assert props["eventType"] == "Microsoft.Media.Graph.Analytics.Inference"
    assert props["dataVersion"] == "1.0"
    timestamps = [e["body"]["timestamp"] for e in events]
    assert timestamps == sorted(timestamps)
    assert abs(timestamps[0] / 90_000 - time.time()) < 3600  # F3: 90 kHz ticks since the epoch


def test_thresholds_fail_the_run() -> None:
    code, _, output = run("--max-frames", "10", "--min-fps", "1000000")
    assert code == 1
    assert "--min-fps" in output


def test_usage_errors_are_exit_2() -> None:
    for args in (["--format", "gif"], ["--pixel-format", "rgb48"], ["--video", "/no/such.mp4"],
                 ["--scale-mode", "zoom"], ["--on-full", "maybe"]):  # fmt: skip
        code, _, output = run(*args)
        assert code == 2, (args, output)
        assert "Traceback" not in output
