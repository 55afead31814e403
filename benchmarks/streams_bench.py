"""Many cameras from one simulator: decode once, fan out, and what it costs per frame sent.

``lvatool serve`` runs in its own process; each ``lvatool simulate`` run is a child whose
CPU time (user + system, from ``wait4``) and peak RSS are read when it exits. The 1080p
H.264 clip is sent

- as 416x416 JPEG, embedded (``jpeg-416``), and
- as 1920x1080 BGR24 through shared memory (``shm-bgr24-1080p``, 32 MiB per stream),

with ``--streams`` 1, 4, 16 and 64, as fast as acks allow, each stream sending the same
600 frames (decoded once). Then 64 staggered real-time cameras at 5 frames/s
(320 frames/s offered) are run for ``--realtime-s`` seconds: drops and timeouts must be 0.

Figures per run: frames/s acknowledged (all streams), simulate's CPU ms per frame sent,
simulate's peak RSS (MiB; shared-memory pages the simulator touched are counted in it),
the shm files' total size, p50/p99 latency from scheduled send and p99 service time.

With ``--repeat N`` the rows are run N times, in rounds (every row once per round, so
drift on the shared machine hits every row alike); each figure is the median of its N
runs, and each round prints its CPU-per-frame ratio of the fewest to the most streams.

Usage: python benchmarks/streams_bench.py [--streams 1 4 16 64] [--cases ...] [--repeat N]
       [--realtime-s 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import free_port, report, run_simulate, wait_until_serving

CLIP = Path(__file__).resolve().parent.parent / "samples" / "videos" / "bars1080.mp4"
SHM_MIB = 32
CASES = {
    "jpeg-416": ["--format", "jpeg", "--width", "416", "--height", "416"],
    "shm-bgr24-1080p": ["--format", "raw", "--pixel-format", "bgr24", "--shm", str(SHM_MIB)],
}


@contextlib.contextmanager
def serve_for(streams: int) -> Iterator[str]:
    """``lvatool serve`` in its own process, taking ``streams`` sessions from loopback.

    Its default of 32 sessions per peer address would refuse half of 64 cameras.
    """
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--max-sessions", str(streams),
         "--max-sessions-per-peer", str(streams)],
    )  # fmt: skip
    try:
        wait_until_serving(f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def frames_per_stream(streams: int) -> int:
    """Frames each stream sends: as many at every stream count as one stream sends.

    A run pays fixed costs before its first frame (the process starting, and per stream
    a channel, its threads and a 32 MiB shared buffer reserved and faulted in). Runs
    shortened to 60 frames a stream at 64 streams made them look 1.5 times dearer per
    frame than at steady state (3.3 against 2.3 ms at 240 frames), so every stream sends
    the 600 frames the single stream does.
    """
    return 600


def simulate(target: str, *args: str) -> tuple[dict[str, Any], float, float]:
    """Run ``lvatool simulate``; its JSON summary, CPU seconds and peak RSS in MiB."""
    with tempfile.TemporaryDirectory() as folder:
        run = run_simulate(target, CLIP, args, Path(folder))
    summary = run.summary
    if summary is None:
        raise SystemExit(f"simulate wrote no summary (exit {run.exit_code}): {' '.join(args)}")
    if summary["outcome"] != "ok":
        print(f"warning: {summary['outcome']}: {summary['error']}", file=sys.stderr)
    return summary, run.cpu_s, run.peak_rss_mib


def figures(
    summary: dict[str, Any], cpu_s: float, rss_mib: float, shm_mib: float
) -> dict[str, float]:
    sent = max(int(summary["frames_sent"]), 1)
    return {
        "fps": float(summary["fps"]),
        "cpu_ms_per_frame": 1000 * cpu_s / sent,
        "peak_rss_mib": rss_mib,
        "shm_files_mib": shm_mib,
        "p50_ms": summary["latency_ms"]["p50"],
        "p99_ms": summary["latency_ms"]["p99"],
        "service_p99_ms": summary["service_ms"]["p99"],
        "sent": sent,
        "decoded": summary["frames_decoded"],
        "dropped": summary["frames_dropped"],
        "timed_out": summary["frames_timed_out"],
        "failed_streams": sum(1 for s in summary.get("per_stream", []) if s["outcome"] != "ok"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--realtime-s", type=float, default=20.0, help="0: skip that run")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds through every row; medians are kept"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    rounds: dict[str, list[dict[str, float]]] = {}
    with serve_for(max([*args.streams, 64])) as target:
        for round_number in range(1, args.repeat + 1):
            for case in args.cases:
                for streams in args.streams:
                    frames = frames_per_stream(streams)
                    summary, cpu_s, rss = simulate(
                        target, "--streams", str(streams), "--max-frames", str(frames),
                        *CASES[case],
                    )  # fmt: skip
                    shm = SHM_MIB * streams if "--shm" in CASES[case] else 0.0
                    row = figures(summary, cpu_s, rss, shm)
                    rounds.setdefault(f"{case} x{streams}", []).append(row)
                    print(f"round {round_number}: {case} x{streams}: {row}", flush=True)
                print_cpu_ratio(case, args.streams, rounds, round_number)
        if args.realtime_s > 0:
            fps = 5
            decoded = int(30 * args.realtime_s)  # the clip is 30 frames/s; 1 in 6 is kept
            summary, cpu_s, rss = simulate(
                target, "--streams", "64", "--realtime", "--max-fps", str(fps),
                "--max-frames", str(decoded), *CASES["jpeg-416"],
            )  # fmt: skip
            rounds["jpeg-416 x64 realtime 5fps"] = [figures(summary, cpu_s, rss, 0.0)]
    results = {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in rounds.items()
    }
    report(results, args.json)
    return 0


def print_cpu_ratio(
    case: str, streams: list[int], rounds: dict[str, list[dict[str, float]]], round_number: int
) -> None:
    """CPU per frame at the fewest streams over that at the most, in this round: the
    fan-out's saving, measured by runs minutes apart rather than across sessions."""
    fewest, most = min(streams), max(streams)
    if fewest == most:
        return
    ratio = (
        rounds[f"{case} x{fewest}"][-1]["cpu_ms_per_frame"]
        / rounds[f"{case} x{most}"][-1]["cpu_ms_per_frame"]
    )
    print(f"round {round_number}: {case} CPU per frame x{fewest} / x{most} = {ratio:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
