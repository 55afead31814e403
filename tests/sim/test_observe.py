"""Run observers (lvatool.sim.observe): told of every frame, exactly once, from real runs."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from lvatool.sim import ConnectOptions, RunOptions, StreamOptions, simulate
from lvatool.sim.observe import (
    FrameRecord,
    ObserverError,
    RunInfo,
    RunObserver,
    RunSample,
    SentFrame,
)
from lvatool.sim.run import RunResult
from lvatool.sim.samples import load_truth, sample_path, truth_path


class Collector(RunObserver):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.info: RunInfo | None = None
        self.sent: list[SentFrame] = []
        self.records: list[FrameRecord] = []
        self.samples: list[RunSample] = []
        self.ended: RunResult | None = None
        self.closed = False

    def run_started(self, run: RunInfo) -> None:
        self.info = run

    def frame_sent(self, frame: SentFrame) -> None:
        with self.lock:
            self.sent.append(frame)

    def frame_done(self, record: FrameRecord) -> None:
        with self.lock:
            self.records.append(record)

    def sampled(self, sample: RunSample) -> None:
        self.samples.append(sample)

    def run_ended(self, result: RunResult) -> None:
        self.ended = result

    def close(self) -> None:
        self.closed = True


def _options(observer: RunObserver, *, streams: int, shm: bool, frames: int) -> RunOptions:
    return RunOptions(
        stream=StreamOptions(
            connect=ConnectOptions(target=""), shm_bytes=(8 << 20) if shm else None
        ),
        video=str(sample_path()),
        streams=streams,
        max_frames=frames,
        truth=load_truth(truth_path(sample_path())),
        serve_locally=True,
        observers=(observer,),
    )


@pytest.mark.parametrize("shm", [False, True], ids=["embedded", "shm"])
def test_every_frame_sent_gets_one_record_with_its_inferences(shm: bool) -> None:
    collector = Collector()
    result = simulate(_options(collector, streams=2, shm=shm, frames=40))
    summary = result.summary
    assert summary.outcome == "ok"
    assert collector.closed and collector.ended is result
    assert collector.info is not None and collector.info.streams == 2
    assert collector.info.transfer == ("shm" if shm else "embedded")

    records = collector.records
    assert len(records) == summary.stats.frames_sent == 80
    assert {(r.stream, r.sequence) for r in records} == {
        (f.stream, f.sequence) for f in collector.sent
    }
    assert all(r.status == "acked" for r in records)
    for stream in (0, 1):
        mine = sorted((r for r in records if r.stream == stream), key=lambda r: r.sequence or 0)
        assert [r.index for r in mine] == list(range(40))
    # The records' labels are the summary's counts, and truth matches are the summary's.
    assert Counter(r.label for r in records) == summary.stats.labels
    assert sum(1 for r in records if r.matched) == summary.stats.truth_matched == 80
    for record in records:
        assert record.sent_s is not None and record.acked_s is not None
        assert record.acked_s >= record.sent_s >= 0
        assert record.latency_ms is not None and record.latency_ms >= 0
        assert record.inferences and record.inferences[0].classification.tag.value == record.label


def test_an_observer_that_cannot_go_on_fails_the_run_with_its_sentence() -> None:
    class DiskFull(Collector):
        def frame_done(self, record: FrameRecord) -> None:
            super().frame_done(record)
            if len(self.records) == 5:
                raise ObserverError("cannot write the --results file: No space left on device")

    observer = DiskFull()
    result = simulate(_options(observer, streams=1, shm=True, frames=60))
    assert result.summary.outcome == "error"
    assert result.summary.error == "cannot write the --results file: No space left on device"
    assert observer.closed
    assert len(observer.records) == 5  # told once; nothing more after it gave up


def test_an_observer_that_cannot_start_fails_the_run_before_any_frame() -> None:
    class CannotOpen(Collector):
        def run_started(self, run: RunInfo) -> None:
            raise ObserverError("cannot write the --results file: Permission denied")

    observer = CannotOpen()
    result = simulate(_options(observer, streams=2, shm=True, frames=20))
    assert result.summary.outcome == "error"
    assert result.summary.error == "cannot write the --results file: Permission denied"
    assert result.summary.stats.frames_sent == 0 and observer.records == []
    assert observer.closed
