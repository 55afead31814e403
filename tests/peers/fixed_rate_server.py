"""An extension of known capacity: it serves K frames per second in total, whatever the load.

A capacity search must find what an extension can take, so its test needs an extension
whose capacity is known in advance. This one is the reference dark/light server with a
processor that takes one token per frame from a token bucket shared by all sessions,
refilled at ``rate`` tokens per second: under its capacity frames are answered at once;
over it each frame waits for its token, so acks come later and later, as from a real
extension whose GPU is saturated. Its capacity in cameras is ``rate / camera_fps``.

It runs in its own process (``python -m tests.peers.fixed_rate_server --rate 40``), so
that the simulator's CPU measured by the search is the simulator's alone;
:func:`fixed_rate_server` starts it, waits (with a deadline) for the address it prints,
and stops it when the ``with`` block ends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from lvatool.server import (
    ExtensionServer,
    Frame,
    Inference,
    Processor,
    ServerOptions,
    SessionInfo,
    classification,
)

READY = "fixed-rate server listening on "
START_TIMEOUT_S = 30.0


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; takers queue in arrival order.

    A taker that finds no token reserves the next one (the count goes negative) and is
    told how long until it is due, so concurrent sessions share the rate fairly.
    """

    def __init__(self, rate: float, burst: float) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; the seconds until it is due (0: now)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            return max(0.0, -self._tokens / self.rate)


class FixedRateProcessor(Processor):
    """Dark/light by mean luma, answered only when the shared bucket has a token for it."""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket

    def process(self, frame: Frame, session: SessionInfo) -> Sequence[Inference]:
        wait_s = self.bucket.reserve()
        if wait_s:
            time.sleep(wait_s)  # the frame's turn on the saturated "accelerator"
        return [classification("light" if frame.mean_luma() > 100 else "dark")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, required=True, help="frames per second in total")
    parser.add_argument("--burst", type=float, default=4.0, help="tokens saved up at most")
    args = parser.parse_args(argv)
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = ExtensionServer(
        ServerOptions(host="127.0.0.1", port=0),
        processor=FixedRateProcessor(TokenBucket(args.rate, args.burst)),
    )
    server.start()
    print(READY + server.address, flush=True)
    stopped.wait()
    server.stop(grace_s=1.0)


@contextlib.contextmanager
def fixed_rate_server(rate: float, burst: float = 4.0) -> Iterator[str]:
    """Run the server in a child process; yields its ``host:port``."""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.fixed_rate_server", "--rate", str(rate),
         "--burst", str(burst)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True
    ).start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise RuntimeError(f"the fixed-rate server did not start (exit {process.poll()})")
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=min(remaining, 0.5))
                if line.startswith(READY):
                    yield line[len(READY) :].strip()
                    return
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()
