"""Benchmark ``lvatool serve``: throughput, round-trip latency and peak memory.

The server runs in its own process (``python -m lvatool serve``); this script drives it
from another with a minimal client over the protocol core (``lvatool.sim.call``). For
shared memory the client lays a few 1080p frames into a buffer once and cycles through
them, so the figure is the server's side of the work, not the client's copying.

Scenarios:
  shm-1080p      1920x1080 BGR24 through shared memory, pipelined
  embedded-1080p 1920x1080 BGR24 embedded, pipelined
  jpeg-416       416x416 JPEG (quality 90) embedded, paced at 30 frames/s, one in flight
  memory         server peak RSS after a 1,000-frame and then a 10,000-frame 1080p session

Usage: python benchmarks/serve_bench.py [--frames 1000] [--long-frames 10000] [--json FILE]
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import time
import uuid
from pathlib import Path

import numpy as np
from _common import report, serve_in_process_of_its_own

from lvatool.media import Encoding, FrameFormat, PixelFormat, encode_image, rgb_to_raw
from lvatool.memory import reuse_large_buffers
from lvatool.protocol import AckReceived, ContentReference, SharedMemoryTransfer, StreamSpec
from lvatool.sim.call import (
    CallEnded,
    ConnectOptions,
    ExtensionCall,
    open_channel,
    wait_for_channel,
)


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _frame(value: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(value)
    base = np.full((height, width, 3), value, dtype=np.int16)
    return np.clip(base + rng.integers(-20, 21, size=(height, width, 3)), 0, 255).astype(np.uint8)


def run_session(
    target: str,
    spec: StreamSpec,
    payloads: list[bytes] | list[ContentReference],
    frames: int,
    window: int,
    pace_fps: float | None = None,
) -> dict[str, float]:
    """Stream ``frames`` samples cycling through ``payloads``; at most ``window`` in flight."""
    options = ConnectOptions(target=target)
    channel = open_channel(options)
    wait_for_channel(channel, options)
    call = ExtensionCall(channel, spec, options)
    call.handshake(10)
    latencies: list[float] = []
    sent = acked = 0
    start = time.perf_counter()
    in_flight_slots = list(range(min(window, len(payloads))))
    next_due = start
    while acked < frames:
        while sent < frames and in_flight_slots:
            if pace_fps:
                now = time.perf_counter()
                if now < next_due:
                    time.sleep(next_due - now)
                next_due += 1 / pace_fps
            slot = in_flight_slots.pop()
            call.send(sent * 3000, payloads[slot], tag=(slot, time.perf_counter()))
            sent += 1
        event = call.next_event(10)
        if not isinstance(event, AckReceived):
            raise SystemExit(f"benchmark: unexpected {event!r}")
        slot, sent_at = event.tag
        latencies.append(time.perf_counter() - sent_at)
        in_flight_slots.append(slot)
        acked += 1
    elapsed = time.perf_counter() - start
    call.close()
    end = call.next_event(10)
    assert isinstance(end, CallEnded) and end.code == "OK", end
    channel.close()
    latencies.sort()
    return {
        "frames": frames,
        "fps": frames / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


class ShmBuffer:
    """A /dev/shm file holding a few prepared frames."""

    def __init__(self, frames: list[bytes]) -> None:
        self.name = f"lvatool-bench-{uuid.uuid4().hex[:8]}"
        self.size = sum(len(f) for f in frames)
        path = Path("/dev/shm") / self.name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.ftruncate(fd, self.size)
        with mmap.mmap(fd, self.size) as buffer:
            offset = 0
            self.references = []
            for frame in frames:
                buffer[offset : offset + len(frame)] = frame
                self.references.append(ContentReference(offset, len(frame)))
                offset += len(frame)
        os.close(fd)
        self.path = path

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--long-frames", type=int, default=10000)
    parser.add_argument("--window", type=int, default=4, help="frames in flight (pipelined runs)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    reuse_large_buffers()  # as the lvatool command line does, for a like-for-like run

    results: dict[str, dict[str, float]] = {}
    bgr = [rgb_to_raw(_frame(v, 1920, 1080), PixelFormat.BGR24) for v in (40, 210, 90, 170)]
    raw_1080 = FrameFormat(Encoding.RAW, PixelFormat.BGR24, 1920, 1080)
    shm = ShmBuffer(bgr)
    try:
        with serve_in_process_of_its_own() as (target, server_pid):
            shm_spec = StreamSpec(raw_1080, shared_memory=SharedMemoryTransfer(shm.name, shm.size))
            results["shm-1080p"] = run_session(
                target, shm_spec, shm.references, args.frames, args.window
            )
            results["embedded-1080p"] = run_session(
                target, StreamSpec(raw_1080), bgr, max(args.frames // 2, 1), args.window
            )
            jpegs = [encode_image(_frame(v, 416, 416), Encoding.JPG, 90) for v in (40, 210)]
            results["jpeg-416"] = run_session(
                target, StreamSpec(FrameFormat(Encoding.JPG)), jpegs, 300, 1, pace_fps=30
            )
            short = run_session(target, shm_spec, shm.references, 1000, args.window)
            rss_short = _peak_rss_mib(server_pid)
            long = run_session(target, shm_spec, shm.references, args.long_frames, args.window)
            rss_long = _peak_rss_mib(server_pid)
            results["memory"] = {
                "rss_after_1000_mib": rss_short,
                f"rss_after_{args.long_frames}_mib": rss_long,
                "growth_pct": 100 * (rss_long - rss_short) / rss_short,
                "fps_short": short["fps"],
                "fps_long": long["fps"],
            }
    finally:
        shm.remove()
    report(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
