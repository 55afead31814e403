"""``--results FILE``: the run observer that writes one record per frame sent, as the run goes.

The file is written while the run goes, in send order (:class:`SendOrder` puts the
records, which come in acknowledgement order, back in place), each batch flushed at
once: a run that crashes or is killed leaves every frame resolved until then on disk.
A write that fails (a full disk) ends the run with one sentence naming the file,
through :class:`ObserverError`, never a short file without a word.

``.jsonl`` (the lossless form, and the only one a baseline can be): a ``run`` header,
``frame`` lines, an ``end`` line. ``.csv``: a header row and one row per frame, with
a compact summary of the inferences, for spreadsheets.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

from lvatool.results.header import ClipIdentity, RunHeader, header_for
from lvatool.results.order import DEFAULT_HOLD_S, SendOrder
from lvatool.results.records import CSV_COLUMNS, FrameResult, from_record, to_csv_row, to_json
from lvatool.sim.observe import (
    FrameRecord,
    ObserverError,
    RunInfo,
    RunObserver,
    RunSample,
    SentFrame,
)
from lvatool.sim.run import RunResult

ResultsKind = Literal["jsonl", "csv"]
_KINDS: dict[str, ResultsKind] = {".jsonl": "jsonl", ".csv": "csv"}


def results_kind(path: Path) -> ResultsKind | None:
    """``jsonl`` or ``csv`` by the file's extension; None for any other."""
    return _KINDS.get(path.suffix.casefold())


class _Sink:
    """Lines of one file format; every method may raise OSError."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file

    def header(self, header: RunHeader) -> None:
        raise NotImplementedError

    def frames(self, results: list[FrameResult]) -> None:
        raise NotImplementedError

    def end(self, fields: dict[str, Any]) -> None:
        raise NotImplementedError


class _JsonlSink(_Sink):
    def header(self, header: RunHeader) -> None:
        self.file.write(json.dumps(header.to_json()) + "\n")

    def frames(self, results: list[FrameResult]) -> None:
        self.file.write("".join(json.dumps(to_json(result)) + "\n" for result in results))

    def end(self, fields: dict[str, Any]) -> None:
        self.file.write(json.dumps({"kind": "end", **fields}) + "\n")


class _CsvSink(_Sink):
    def __init__(self, file: IO[str]) -> None:
        super().__init__(file)
        self.writer = csv.writer(file)  # quotes cells with commas, quotes or line breaks

    def header(self, header: RunHeader) -> None:
        self.writer.writerow(CSV_COLUMNS)

    def frames(self, results: list[FrameResult]) -> None:
        self.writer.writerows(to_csv_row(result) for result in results)

    def end(self, fields: dict[str, Any]) -> None:
        """CSV has frame rows only: the run's outcome is in the summary."""


class ResultsWriter(RunObserver):
    """Writes ``path`` (``.jsonl`` or ``.csv``) while the run goes; thread-safe.

    The file is created here, before the run, so a path that cannot be written fails
    as a usage error (OSError), not minutes into the run.
    """

    def __init__(
        self,
        path: Path,
        *,
        video: str,
        clip: ClipIdentity,
        truth: bool,
        extension: str | None = None,
        settings: dict[str, Any] | None = None,
        hold_s: float = DEFAULT_HOLD_S,
    ) -> None:
        kind = results_kind(path)
        if kind is None:
            raise ValueError(f"{path} is neither .jsonl nor .csv")
        self.path = path
        self._header = functools.partial(
            header_for, video=video, clip=clip, truth=truth, extension=extension,
            settings=dict(settings or {}),
        )  # fmt: skip
        self._lock = threading.Lock()
        self._order: SendOrder[FrameResult] = SendOrder(hold_s)
        self._origin = time.monotonic()
        self._file: IO[str] | None = path.open("w", encoding="utf-8", newline="")
        self._sink: _Sink = (_JsonlSink if kind == "jsonl" else _CsvSink)(self._file)
        self._failure: str | None = None
        self.frames_written = 0

    # -- RunObserver -----------------------------------------------------------------------
    def run_started(self, run: RunInfo) -> None:
        header = self._header(run)
        with self._lock:
            self._origin = run.origin
            # No ObserverError here: the run does not expect one before its first frame.
            # A failure is kept and raised at the first frame instead.
            with contextlib.suppress(ObserverError):
                self._write(lambda: self._sink.header(header))

    def frame_sent(self, frame: SentFrame) -> None:
        with self._lock:
            self._check()
            self._order.sent(frame.stream, frame.sequence, frame.sent_s)
            self._write_frames(self._order.ready(self._now()))

    def frame_done(self, record: FrameRecord) -> None:
        result = from_record(record)  # outside the lock: streams convert in parallel
        with self._lock:
            self._check()
            ready = self._order.resolved(record.stream, record.sequence, result, self._now())
            self._write_frames(ready)

    def sampled(self, sample: RunSample) -> None:
        with self._lock:
            if self._failure is None:
                self._write_frames(self._order.ready(self._now()))

    def run_ended(self, result: RunResult) -> None:
        with self._lock:
            if self._failure is not None:
                return  # said once already, by the frame that met it
            unresolved = self._order.unresolved
            self._write_frames(self._order.drain())
            summary = result.summary
            end = {"outcome": summary.outcome, "error": summary.error,
                   "frames": self.frames_written, "unresolved": unresolved}  # fmt: skip
            self._write(lambda: self._sink.end(end))

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):  # its flush would fail the same way again
                    self._file.close()
                self._file = None

    # -- writing ---------------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic() - self._origin

    def _check(self) -> None:
        if self._failure is not None:
            raise ObserverError(self._failure)

    def _write_frames(self, results: list[FrameResult]) -> None:
        if results:
            self._write(lambda: self._sink.frames(results))
            self.frames_written += len(results)

    def _write(self, write: Callable[[], None]) -> None:
        """Write and flush; a failure becomes the run's one sentence (ObserverError)."""
        if self._file is None:
            return
        try:
            write()
            self._file.flush()
        except OSError as error:
            self._failure = (
                f"cannot write the --results file {self.path}: {error.strerror or error}"
            )
            raise ObserverError(self._failure) from None
