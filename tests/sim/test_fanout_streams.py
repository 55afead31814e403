"""Decode once, fan out to N streams: end to end, real decoding, real gRPC, real /dev/shm.

Each stream must stay a correct session of its own (the conformance client suite judges
all four), a stalled stream must not hold the others back, the video must be decoded
once however many streams send it, and a paced stream's latency must count the time it
was held back (latency from scheduled send > service time from actual send).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lvatool.conformance import Outcome, run_client_suite
from tests.sim.fanout_servers import CALL_LIMIT_S, Behaviour, FanoutServer
from tests.sim.simrun import lvatool_shm_files, run

BARS_1080 = Path(__file__).resolve().parents[2] / "samples" / "videos" / "bars1080.mp4"


@pytest.mark.parametrize("transfer", [[], ["--shm", "8"]], ids=["embedded", "shm"])
def test_conformance_client_suite_passes_with_four_streams(transfer: list[str]) -> None:
    """Every session of a fanned-out run is judged and keeps the protocol (H, Q, M, F rules)."""
    command = [sys.executable, "-m", "lvatool", "simulate", "--target", "{target}", "--quiet",
               "--streams", "4", "--max-frames", "24", "--format", "raw", *transfer]  # fmt: skip
    report = run_client_suite(command, timeout_s=90)
    failures = [
        f"{r.id}: {r.message}" for r in report.results if r.outcome in (Outcome.FAIL, Outcome.ERROR)
    ]
    assert not failures, failures
    c05 = next(r for r in report.results if r.id == "C05")
    assert c05.message.startswith("96 samples"), c05.message  # 4 sessions × 24 frames judged
    assert report.properties.get("client_ending") == "exit status 0", report.properties


def test_frames_are_decoded_once_for_every_stream() -> None:
    code, summary, output = run("--streams", "3", "--max-frames", "40", "--shm", "8")
    assert code == 0, output
    assert summary["frames_decoded"] == 40  # once, not once per stream
    assert [s["frames_sent"] for s in summary["per_stream"]] == [40, 40, 40]
    assert summary["frames_acked"] == 120
    assert summary["truth"]["matched"] == 120  # every stream sent the right frames
    assert not lvatool_shm_files()


def test_raw_frames_are_laid_out_once_for_embedded_streams() -> None:
    code, summary, output = run("--streams", "2", "--max-frames", "30", "--format", "raw")
    assert code == 0, output
    assert summary["frames_decoded"] == 30
    assert summary["truth"]["matched"] == 60


def test_a_stalled_stream_does_not_stall_the_others() -> None:
    """The extension never acks its first session; the other streams are served throughout."""
    ack_timeout_s = 5.0
    with FanoutServer(Behaviour.STALLS_FIRST_SESSION) as server:
        code, summary, output = run(
            "--target", server.address, "--streams", "3", "--realtime", "--max-frames", "90",
            "--ack-timeout", str(ack_timeout_s), "--shm", "8", "--on-full", "drop",
        )  # fmt: skip
    assert code == 1, output  # the stalled stream fails the run: it is counted, not hidden
    streams = summary["per_stream"]
    stalled = [s for s in streams if s["outcome"] == "stalled"]
    served = [s for s in streams if s["outcome"] == "ok"]
    assert len(stalled) == 1 and len(served) == 2, streams
    assert stalled[0]["frames_acked"] == 0
    assert stalled[0]["frames_timed_out"] >= 1
    assert stalled[0]["frames_dropped_behind"] > 0  # it fell behind alone, and counted it
    for stream in served:
        assert stream["frames_acked"] == 90 and stream["frames_dropped"] == 0
        # never held back for as long as the stalled stream waited for its acks
        assert stream["latency_ms"]["max"] < 1000 * ack_timeout_s
    assert not lvatool_shm_files()


def test_a_stream_whose_writes_wait_still_times_out_and_the_others_go_on() -> None:
    """The extension stops reading its first session: 6 MB embedded frames fill gRPC's
    flow-control window, so that stream's writes wait. Its acks must still time out (its
    sends are queued, never awaited by the stream), and the other stream must finish."""
    ack_timeout_s = 3.0
    with FanoutServer(Behaviour.STOPS_READING_FIRST_SESSION) as server:
        code, summary, output = run(
            "--target", server.address, "--streams", "2", "--max-frames", "30",
            "--format", "raw", "--ack-timeout", str(ack_timeout_s), "--video", str(BARS_1080),
        )  # fmt: skip
    assert code == 1, output
    outcomes = sorted(s["outcome"] for s in summary["per_stream"])
    assert outcomes == ["ok", "stalled"], summary["per_stream"]
    assert summary["frames_acked"] == 30  # the served stream, all of its frames
    assert summary["elapsed_s"] < CALL_LIMIT_S / 2  # given up after its ack timeout


def test_latency_from_schedule_shows_what_a_slow_extension_holds_back() -> None:
    """Paced at 30 frames/s, one frame in flight, 50 ms per frame: the sender falls behind."""
    with FanoutServer(Behaviour.SLOW) as server:
        code, summary, output = run(
            "--target", server.address, "--realtime", "--max-frames", "20",
            "--max-in-flight", "1",
        )  # fmt: skip
    assert code == 0, output
    latency, service = summary["latency_ms"], summary["service_ms"]
    assert latency["p50"] > service["p50"]
    assert latency["max"] > service["max"]


def test_unpaced_latency_is_service_time() -> None:
    """As fast as acks allow, a frame is due when it is sent: the two figures agree."""
    code, summary, output = run("--max-frames", "20")
    assert code == 0, output
    assert summary["latency_ms"] == summary["service_ms"]


def test_stagger_without_realtime_is_a_usage_error() -> None:
    code, _, output = run("--stagger", "--max-frames", "5")
    assert code == 2, output
    assert "--stagger needs --realtime" in output
