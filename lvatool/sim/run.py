"""A whole simulation: N concurrent streams from one source against one extension.

:func:`simulate` is what ``lvatool simulate`` calls; it is usable from Python too. It
starts the reference server in-process when no target is given, runs the streams,
and returns a :class:`RunResult` with the summary and what went wrong, if anything.

The video is decoded and prepared once for all streams (:class:`SharedFrames`); each
stream keeps its own call, buffer, numbering, pacing and statistics. Decoding starts
when every stream has connected (or failed to), so no stream misses the first frames
while another is still in its handshake. Paced streams are staggered over one frame
interval, as real cameras are not in phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Literal

from lvatool.sim.observe import ObserverError, RunInfo, RunObserver, RunSample
from lvatool.sim.publish import EventWriter
from lvatool.sim.shared_frames import DEFAULT_WINDOW, SharedFrames
from lvatool.sim.source import VideoSource
from lvatool.sim.stats import RunSummary, StreamStats
from lvatool.sim.stream import (
    StreamFailure,
    StreamOptions,
    StreamRunner,
    internal_failure,
    skipped_packets_warning,
)


@dataclass(frozen=True)
class RunOptions:
    """Everything one run needs beyond each stream's options."""

    stream: StreamOptions
    video: str
    streams: int = 1
    loop: bool = False
    max_frames: int | None = None
    truth: list[str] | None = None
    output: Path | None = None
    serve_locally: bool = False
    stagger: bool | None = None  # None: staggered when paced (--realtime)
    window: int = DEFAULT_WINDOW  # frames decoded ahead and held for the slowest stream
    observers: tuple[RunObserver, ...] = ()  # told of every frame (lvatool.sim.observe)

    def __post_init__(self) -> None:
        if self.streams < 1:
            raise ValueError(f"streams must be at least 1, not {self.streams}")
        if self.window < 1:
            raise ValueError(f"window must be at least 1 frame, not {self.window}")

    def schedule_offsets(self, fps: float) -> list[float]:
        """Each stream's shift of its real-time schedule: spread over one frame interval."""
        staggered = self.stream.realtime if self.stagger is None else self.stagger
        if not staggered or self.streams == 1:
            return [0.0] * self.streams
        interval = 1.0 / (self.stream.max_fps or fps or 30.0)
        return [interval * index / self.streams for index in range(self.streams)]


@dataclass
class RunResult:
    """The summary, and each stream's failure (``details``: a traceback, for ``--debug``)."""

    summary: RunSummary
    failures: list[StreamFailure]


@contextlib.contextmanager
def _local_server() -> Iterator[str]:
    from lvatool.server import ExtensionServer, ServerOptions

    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as server:
        yield server.address


@contextlib.contextmanager
def _events_file(path: Path) -> Iterator[IO[str]]:
    """``--output``, line-buffered: each event reaches the file as it happens.

    A full disk then fails the write of that event, inside the stream, which ends the run
    with the reason; closing, whose flush would fail the same way again, stays quiet.
    """
    file = path.open("w", encoding="utf-8", buffering=1)
    try:
        yield file
    finally:
        with contextlib.suppress(OSError):
            file.close()


ProgressCallback = Callable[[int, int], None]


def simulate(
    options: RunOptions,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Run the simulation; a KeyboardInterrupt is turned into a clean, partial result.

    ``on_progress(sent, acked)`` is called a few times a second while streams run.
    Observers hear of the run's end (``run_ended``) when it ended normally, and are
    closed however it ended; one that fails at the end fails the run with its reason.
    """
    stop = stop or threading.Event()
    with contextlib.ExitStack() as stack:
        for observer in reversed(options.observers):
            stack.callback(observer.close)
        stream_options = options.stream
        if options.serve_locally:
            address = stack.enter_context(_local_server())
            stream_options = replace(
                stream_options, connect=replace(stream_options.connect, target=address)
            )
        output: IO[str] | None = None
        if options.output is not None:
            output = stack.enter_context(_events_file(options.output))
        result = _run_streams(options, stream_options, stop, output, on_progress)
        for observer in options.observers:
            try:
                observer.run_ended(result)
            except ObserverError as error:
                failure = StreamFailure("error", str(error))
                result.failures.append(failure)
                if result.summary.outcome == "ok":
                    result.summary.outcome, result.summary.error = "error", str(failure)
        return result
    raise AssertionError("unreachable")


def _run_streams(
    options: RunOptions,
    stream_options: StreamOptions,
    stop: threading.Event,
    output: IO[str] | None,
    on_progress: ProgressCallback | None,
) -> RunResult:
    events = None
    if output is not None:
        graph = stream_options.graph or ("", "lvatool-simulate", "grpcExtension")
        events = EventWriter(
            output,
            topic=graph[0] or "/lvatool/simulate",
            subject=f"/graphInstances/{graph[1]}/processors/{graph[2]}",
        )
    lock = threading.Lock()
    source = VideoSource(options.video, loop=options.loop, max_frames=options.max_frames)
    # How long the frames wait for a stream that holds the window full while another
    # stream starves: a paced camera waits for nobody, nor does --on-full drop; with
    # --on-full wait, as long as a stream waits for an ack.
    wait_for_laggard = stream_options.on_full == "wait" and not stream_options.realtime
    frames = SharedFrames(
        source,
        stream_options.image,
        max_fps=stream_options.max_fps,
        paced=stream_options.realtime,
        window=options.window,
        lag_grace_s=stream_options.ack_timeout_s if wait_for_laggard else 0.0,
        as_bytes=not stream_options.shm_bytes,
    )
    origin = time.monotonic()
    runners = [
        StreamRunner(
            stream_options,
            frames.reader(),
            schedule_offset_s=offset,
            truth=options.truth,
            events=events,
            events_lock=lock,
            stop=stop,
            stream_index=index,
            observers=options.observers,
            origin=origin,
        )
        for index, offset in enumerate(options.schedule_offsets(source.info.fps))
    ]
    if options.observers:
        info = RunInfo(
            streams=options.streams,
            fps=stream_options.max_fps or source.info.fps or 30.0,
            format=frames.preparer.format,
            transfer="shm" if stream_options.shm_bytes else "embedded",
            started_at=time.time() - (time.monotonic() - origin),
            origin=origin,
        )
        for observer in options.observers:
            try:
                observer.run_started(info)
            except ObserverError as error:  # before any stream: the run does not start
                frames.stop()
                return _not_started(options, stream_options, StreamFailure("error", str(error)))
    try:
        return _run_runners(options, stream_options, runners, frames, stop, on_progress)
    finally:
        frames.stop()


def _run_runners(
    options: RunOptions,
    stream_options: StreamOptions,
    runners: list[StreamRunner],
    frames: SharedFrames,
    stop: threading.Event,
    on_progress: ProgressCallback | None,
) -> RunResult:
    started = time.monotonic()
    finished = [threading.Event() for _ in runners]

    async def run_one(runner: StreamRunner, done: threading.Event) -> None:
        try:
            await runner.run()
        except Exception as error:  # run() keeps its failures; this guards against its bugs
            runner.failure = runner.failure or internal_failure(error)
        finally:
            done.set()

    async def run_all() -> None:
        await asyncio.gather(*(run_one(r, d) for r, d in zip(runners, finished, strict=True)))

    def run_loop() -> None:
        try:
            asyncio.run(run_all())
        except BaseException as error:  # the loop itself failed: no stream may hang on it
            for runner, done in zip(runners, finished, strict=True):
                if not done.is_set():
                    runner.failure = runner.failure or internal_failure(error)
                    runner.connected.set()
                    done.set()

    # Every stream on one event loop, in one thread: see lvatool.sim.aio_call for why.
    threading.Thread(target=run_loop, name="lvatool-streams", daemon=True).start()
    # Events, not Thread.join: a join interrupted by Ctrl-C can leave the thread looking
    # finished while it still runs, and its clean-up (the /dev/shm file) would be lost.
    try:
        while not all(r.connected.wait(0.05) for r in runners):
            pass
        frames.start()
        for done in finished:
            while not done.wait(0.2):
                if on_progress is not None:
                    on_progress(
                        sum(r.stats.frames_sent for r in runners),
                        sum(r.stats.frames_acked for r in runners),
                    )
                if options.observers:
                    _sample(options, runners)
    except KeyboardInterrupt:
        stop.set()
        for done in finished:
            done.wait(15)
    elapsed = time.monotonic() - started
    total = StreamStats()
    for runner in runners:
        total.merge(runner.stats)
    frames.stop()
    total.frames_decoded = frames.decoded  # once, for every stream
    total.frames_sampled_out = frames.sampled_out
    total.warnings.extend(skipped_packets_warning(frames.source))
    failures = [r.failure for r in runners if r.failure is not None]
    summary = _summary(options, stream_options, total, elapsed)
    if options.streams > 1:
        summary.per_stream = [
            (r.stats, r.failure.kind if r.failure is not None else "ok") for r in runners
        ]
    if stop.is_set():
        summary.outcome, summary.error = "interrupted", "interrupted"
    elif failures:
        # Our own failure first: it may be what made the other streams fail too.
        first = next((f for f in failures if f.kind == "error"), failures[0])
        summary.outcome, summary.error = first.kind, str(first)
    return RunResult(summary, failures)


def _not_started(
    options: RunOptions, stream_options: StreamOptions, failure: StreamFailure
) -> RunResult:
    """The result of a run that failed before its first stream started."""
    summary = _summary(options, stream_options, StreamStats(), 0.0)
    summary.outcome, summary.error = "error", str(failure)
    return RunResult(summary, [failure])


def _summary(
    options: RunOptions, stream_options: StreamOptions, stats: StreamStats, elapsed_s: float
) -> RunSummary:
    """The run's summary of ``stats``, with the transfer as values (see :class:`RunSummary`)."""
    shm_bytes = stream_options.shm_bytes
    return RunSummary(
        stats=stats,
        elapsed_s=elapsed_s,
        transfer="shm" if shm_bytes else "embedded",
        target=stream_options.connect.target,
        streams=options.streams,
        shm_mib=shm_bytes / (1 << 20) if shm_bytes else None,
        on_full=_on_full(stream_options.on_full) if shm_bytes else None,
    )


def _sample(options: RunOptions, runners: list[StreamRunner]) -> None:
    """Tell the observers the run's state now (read without locks: a snapshot, not exact)."""
    shm_bytes = options.stream.shm_bytes or 0
    sample = RunSample(
        t_s=time.monotonic() - runners[0].origin,
        frames_sent=sum(r.stats.frames_sent for r in runners),
        frames_acked=sum(r.stats.frames_acked for r in runners),
        in_flight=sum(r.in_flight for r in runners),
        shm_bytes_in_use=sum(r.shm_bytes_in_use for r in runners),
        shm_bytes_total=shm_bytes * len(runners),
    )
    for observer in options.observers:
        observer.sampled(sample)


def _on_full(policy: str) -> Literal["wait", "drop"]:
    """The policy the stream actually applied: it waits on "wait" and drops otherwise."""
    return "wait" if policy == "wait" else "drop"
