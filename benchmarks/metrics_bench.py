"""What recording metrics costs ``lvatool serve``: frames/s and server CPU per frame.

The same sessions as ``serve_bench.py`` (its client and shared buffer), against three
servers, each in its own process:

  off      --stats-interval-s 0          nothing recorded
  stats    (defaults)                    the stats-line tally only
  metrics  --metrics-port P              the tally and the Prometheus metrics, scraped
                                         once a second during the run, as Prometheus would

The configurations take turns, ``--rounds`` times, so a neighbour's load on a shared
machine falls on all of them alike; the medians are reported. Server CPU per frame
(from /proc) is the steadier figure: frames/s also moves with the client's share of
the cores. On a busy machine both move more than recording costs, so the script also
times the recording calls a frame makes (``recording``), alone, in microseconds.

Usage: python benchmarks/metrics_bench.py [--frames 1000] [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from _common import free_port, report, wait_until_serving
from serve_bench import ShmBuffer, _frame, run_session

from lvatool.media import Encoding, FrameFormat, PixelFormat, encode_image, rgb_to_raw
from lvatool.memory import reuse_large_buffers
from lvatool.protocol import SharedMemoryTransfer, StreamSpec
from lvatool.server.metrics import ServerMetrics

CONFIGURATIONS = {
    "off": ["--stats-interval-s", "0"],
    "stats": [],
    "metrics": ["--metrics-port"],  # a free port is appended
}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _server(extra: list[str]) -> Iterator[tuple[str, int, int | None]]:
    """``lvatool serve`` with ``extra`` options; its address, PID and metrics port."""
    port = free_port()
    metrics_port = None
    if extra and extra[-1] == "--metrics-port":
        metrics_port = free_port()
        extra = [*extra, str(metrics_port)]
    server = subprocess.Popen(
        [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", *extra],
    )  # fmt: skip
    try:
        wait_until_serving(f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}", server.pid, metrics_port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


@contextlib.contextmanager
def _scraping(metrics_port: int | None) -> Iterator[None]:
    """Scrape the endpoint once a second while the block runs, as Prometheus would."""
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(1.0):
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read()

    thread = threading.Thread(target=scrape, daemon=True)
    if metrics_port is not None:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(15)


def recording_cost_us(frames: int = 200_000) -> dict[str, float]:
    """Microseconds per frame of what a session records (batch size 1), by configuration."""
    spec = StreamSpec(FrameFormat(Encoding.RAW, PixelFormat.BGR24, 1920, 1080))
    costs = {}
    for name, metrics in (("stats_us", ServerMetrics()), ("metrics_us", ServerMetrics(True))):
        session = metrics.session_opened(spec)
        started = time.process_time()  # CPU time: a neighbour's load does not count
        for _ in range(frames):
            arrived_at = time.monotonic()  # the pump's timestamp
            session.processed(1, 0.001)
            session.answered(arrived_at)
        costs[name] = 1e6 * (time.process_time() - started) / frames
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=4, help="frames in flight")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    reuse_large_buffers()

    bgr = [rgb_to_raw(_frame(v, 1920, 1080), PixelFormat.BGR24) for v in (40, 210, 90, 170)]
    raw_1080 = FrameFormat(Encoding.RAW, PixelFormat.BGR24, 1920, 1080)
    jpegs = [encode_image(_frame(v, 416, 416), Encoding.JPG, 90) for v in (40, 210)]
    shm = ShmBuffer(bgr)
    shm_spec = StreamSpec(raw_1080, shared_memory=SharedMemoryTransfer(shm.name, shm.size))
    jpeg_spec = StreamSpec(FrameFormat(Encoding.JPG))
    figures: dict[str, dict[str, list[float]]] = {}
    try:
        for _ in range(args.rounds):
            for name, extra in CONFIGURATIONS.items():
                with _server(extra) as (target, pid, metrics_port), _scraping(metrics_port):
                    run_session(target, shm_spec, shm.references, 100, args.window)  # warm-up
                    for case, spec, payloads in (
                        ("shm-1080p", shm_spec, shm.references),
                        ("jpeg-416", jpeg_spec, jpegs),
                    ):
                        cpu = _cpu_seconds(pid)
                        result = run_session(target, spec, payloads, args.frames, args.window)
                        per_frame_ms = 1000 * (_cpu_seconds(pid) - cpu) / args.frames
                        entry = figures.setdefault(f"{case} {name}", {})
                        entry.setdefault("fps", []).append(result["fps"])
                        entry.setdefault("p50_ms", []).append(result["p50_ms"])
                        entry.setdefault("server_cpu_ms_per_frame", []).append(per_frame_ms)
    finally:
        shm.remove()
    medians = {
        key: {figure: statistics.median(values) for figure, values in entry.items()}
        for key, entry in sorted(figures.items())
    }
    medians["recording"] = recording_cost_us()
    report(medians, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
