"""``lvatool simulate --report FILE.html``: a run's settings, figures and charts in one page.

:class:`SimulateReport` is a :class:`~lvatool.sim.observe.RunObserver`. While the run goes
it does only cheap bookkeeping on the streams' threads, under one lock: a frame's fate
goes into the :class:`~lvatool.html_report.timeline.Timeline` (a few dict updates), and
stream 0's sent frames are offered to an :class:`~lvatool.html_report.picker.EvenPicker`,
which keeps a reference to at most ``thumbnails`` of them (the sample as sent, shared with
the streams: nothing is copied or decoded). Decoding and drawing those frames, building
the charts and writing the file all happen in ``run_ended``, after the last frame, so the
report costs the streams next to nothing (measured in ``benchmarks/``).

Thumbnails are stream 0's frames: every stream sends the same frames, and one stream's
answers side by side are what a reader compares.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go  # type: ignore[import-untyped]

from lvatool.html_report import page
from lvatool.html_report.picker import EvenPicker
from lvatool.html_report.thumbnails import Thumbnail, render_thumbnails
from lvatool.html_report.timeline import MAX_BUCKETS, Series, Timeline
from lvatool.media import Encoding
from lvatool.sim.observe import (
    FrameRecord,
    ObserverError,
    RunInfo,
    RunObserver,
    RunSample,
    SentFrame,
)

if TYPE_CHECKING:
    from lvatool.sim.run import RunResult

DEFAULT_THUMBNAILS = 16
CHARTS = ("throughput", "latency", "histogram", "inflight", "labels")  # the div ids, in order


@dataclass
class _Candidate:
    """A thumbnail candidate: the frame as sent, and its fate once known."""

    sent: SentFrame
    record: FrameRecord | None = None


class SimulateReport(RunObserver):
    """Collects a run's figures as it goes and writes the HTML report when it ends.

    ``settings`` are extra lines for the page's settings table (the command line's
    video, for instance); what the run itself knows (target, transfer, format, streams)
    is added from the run. An unwritable file raises :class:`ObserverError`, which fails
    the run with that sentence.
    """

    def __init__(
        self,
        path: Path,
        *,
        settings: Mapping[str, object] | None = None,
        thumbnails: int = DEFAULT_THUMBNAILS,
        max_buckets: int = MAX_BUCKETS,
        option: str = "--report",
    ) -> None:
        self.path = path
        self.option = option
        self.settings = dict(settings or {})
        self._lock = threading.Lock()
        self._timeline = Timeline(max_buckets)
        self._picker: EvenPicker[_Candidate] = EvenPicker(max(thumbnails, 2))
        self._by_sequence: dict[int, _Candidate] = {}
        self._info: RunInfo | None = None
        self._origin = time.monotonic()

    # -- the run's calls (streams' threads) ---------------------------------------------
    def run_started(self, run: RunInfo) -> None:
        self._info = run
        self._origin = run.origin

    def frame_sent(self, frame: SentFrame) -> None:
        if frame.stream != 0:
            return
        with self._lock:
            step = self._picker.step
            candidate = _Candidate(frame)
            if self._picker.offer(candidate):
                self._by_sequence[frame.sequence] = candidate
            if self._picker.step != step:  # thinned: forget the frames let go
                self._by_sequence = {c.sent.sequence: c for c in self._picker.items()}

    def frame_done(self, record: FrameRecord) -> None:
        now_s = time.monotonic() - self._origin
        with self._lock:
            self._timeline.record(record, now_s)
            if record.stream == 0 and record.sequence is not None:
                candidate = self._by_sequence.get(record.sequence)
                if candidate is not None:
                    candidate.record = record

    def sampled(self, sample: RunSample) -> None:
        with self._lock:
            self._timeline.sample(sample)

    def run_ended(self, result: RunResult) -> None:
        with self._lock:
            candidates = self._picker.items()
            series = self._timeline.series()
            histogram = self._timeline.latency.bars()
        thumbnails = render_thumbnails(
            [Thumbnail(c.sent, c.record) for c in candidates], streams=self._streams(result)
        )
        document = self.document(result, series, histogram, thumbnails)
        try:
            page.write_page(self.path, document)
        except OSError as error:
            raise ObserverError(
                f"cannot write {self.option} {self.path}: {error.strerror or error}"
            ) from None

    def close(self) -> None:
        with self._lock:  # let the frames go: they may be large (1080p RAW)
            self._picker = EvenPicker(self._picker.capacity)
            self._by_sequence = {}

    # -- the page ----------------------------------------------------------------------
    def _streams(self, result: RunResult) -> int:
        return self._info.streams if self._info else result.summary.streams

    def document(
        self,
        result: RunResult,
        series: Series,
        histogram: list[tuple[float, float, int]],
        thumbnails: list[str],
    ) -> str:
        """The page: settings, summary, charts and thumbnails, every value escaped."""
        summary = result.summary.as_dict()
        started = (
            datetime.datetime.fromtimestamp(self._info.started_at, datetime.UTC)
            if self._info
            else None
        )
        subtitle = f"{summary['frames_sent']} frames sent to {summary['target']}" + (
            f", {started:%Y-%m-%d %H:%M:%S} UTC" if started else ""
        )
        labels = summary["labels"]
        sections = [
            '<div class="columns">'
            + page.section("Settings", page.key_values(self._settings_rows(summary)))
            + page.section("Summary", page.key_values(_summary_rows(summary)))
            + "</div>",
            page.section(
                "Throughput",
                page.chart(_throughput_figure(series), "throughput"),
                page.note(_marks_note(series)),
            ),
            page.section("Latency over time", page.chart(_latency_figure(series), "latency")),
            page.section(
                "Latency histogram", page.chart(_histogram_figure(histogram), "histogram")
            ),
            page.section(
                "In flight and shared memory",
                page.chart(_inflight_figure(series, summary), "inflight"),
            ),
            page.section(
                "Labels",
                page.chart(_labels_figure(labels), "labels")
                if labels
                else page.note("No frame was answered with a classification or entity tag."),
            ),
            page.section(
                "Frames (stream 0)",
                '<div class="strip">' + "".join(thumbnails) + "</div>"
                if thumbnails
                else page.note("No frame was sent."),
            ),
        ]
        return page.page("lvatool simulate report", subtitle, sections)

    def _settings_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, object]]:
        rows: list[tuple[str, object]] = list(self.settings.items())
        rows += [("target", summary["target"]), ("streams", summary["streams"])]
        if summary["transfer"] == "shm":
            rows.append(
                (
                    "transfer",
                    f"shared memory, {summary['shm_mib']:g} MiB, on full: {summary['on_full']}",
                )
            )
        else:
            rows.append(("transfer", "embedded"))
        if self._info is not None:
            f = self._info.format
            raw = f.encoding is Encoding.RAW
            layout = f.encoding.name + (f" {f.pixel_format.name}" if raw else "")
            rows.append(("frames as sent", f"{layout} {f.width}×{f.height}"))
            rows.append(("media frame rate", f"{self._info.fps:g} frames/s"))
        return rows


def _summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, object]]:
    latency, service = summary["latency_ms"], summary["service_ms"]
    rows: list[tuple[str, object]] = [
        ("outcome", summary["outcome"] + (f": {summary['error']}" if summary["error"] else "")),
        ("frames decoded", summary["frames_decoded"]),
        ("frames sent", summary["frames_sent"]),
        ("frames acknowledged", summary["frames_acked"]),
        ("with inferences", summary["frames_with_inferences"]),
        ("dropped", summary["frames_dropped"]),
        ("timed out", summary["frames_timed_out"]),
        ("interrupted", summary["frames_interrupted"]),
        ("frames/s", f"{summary['fps']:.1f}"),
        ("latency p50 / p90 / p99 / max", _ms_figures(latency)),
        ("service p50 / p90 / p99 / max", _ms_figures(service)),
        ("bytes sent", f"{summary['bytes_sent']:,}"),
        ("elapsed", f"{summary['elapsed_s']:.2f} s"),
    ]
    truth = summary.get("truth")
    if truth:
        rows.append(
            (
                "truth",
                f"{truth['matched']} of {truth['compared']} matched "
                f"({100 * truth['accuracy']:.1f} %)",
            )
        )
    rows += [("warning", w) for w in summary["warnings"]]
    return rows


def _ms_figures(figures: Mapping[str, float]) -> str:
    return " / ".join(f"{figures[k]:.1f}" for k in ("p50", "p90", "p99", "max")) + " ms"


def _marks_note(series: Series) -> str:
    dropped, timed_out = sum(series.dropped), sum(series.timed_out)
    if not dropped and not timed_out:
        return "No frame was dropped or timed out."
    return (
        f"{dropped} dropped and {timed_out} timed out, marked on the time axis "
        f"(buckets of {series.width_s:g} s)."
    )


def _x_title(series: Series) -> str:
    return "seconds from the start" + (
        f" ({series.width_s:g}-second buckets)" if series.width_s != 1 else ""
    )


def _throughput_figure(series: Series) -> go.Figure:
    x = series.mid_s
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=x, y=series.acked_per_s, name="acknowledged/s", mode="lines"))
    figure.add_trace(
        go.Scatter(x=x, y=series.sent_per_s, name="sent/s", mode="lines", line={"dash": "dot"})
    )
    for name, counts, symbol, colour in (
        ("dropped", series.dropped, "x", "#c0262d"),
        ("timed out", series.timed_out, "triangle-down", "#a86a00"),
    ):
        marks = [(t, n) for t, n in zip(x, counts, strict=True) if n]
        if marks:
            figure.add_trace(
                go.Scatter(
                    x=[t for t, _ in marks],
                    y=[0] * len(marks),
                    mode="markers",
                    name=name,
                    marker={"symbol": symbol, "size": 11, "color": colour},
                    text=[f"{n} {name}" for _, n in marks],
                    hoverinfo="x+text",
                )
            )
    figure.update_layout(
        title="Frames per second", xaxis_title=_x_title(series), yaxis_title="frames/s"
    )
    return figure


def _latency_figure(series: Series) -> go.Figure:
    figure = go.Figure()
    for name, values in (("p50", series.p50_ms), ("p99", series.p99_ms)):
        figure.add_trace(
            go.Scatter(
                x=series.mid_s,
                y=values,
                name=name,
                mode="lines+markers",
                connectgaps=False,
                marker={"size": 4},
            )
        )
    figure.update_layout(
        title="Latency per bucket (from the scheduled send to the ack)",
        xaxis_title=_x_title(series),
        yaxis_title="ms",
    )
    return figure


def _histogram_figure(bars: list[tuple[float, float, int]]) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=[(low * high) ** 0.5 for low, high, _ in bars],
            y=[count for _, _, count in bars],
            width=[high - low for low, high, _ in bars],
            name="frames",
            hovertemplate="%{x:.2f} ms: %{y} frames<extra></extra>",
        )
    )
    figure.update_layout(
        title="Latency distribution (bins 2 % wide)",
        xaxis_title="ms",
        yaxis_title="frames",
        bargap=0,
    )
    return figure


def _inflight_figure(series: Series, summary: Mapping[str, Any]) -> go.Figure:
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=series.mid_s,
            y=series.in_flight_max,
            name="frames in flight (max)",
            mode="lines+markers",
            line={"shape": "hv"},
        )
    )
    layout: dict[str, Any] = {
        "title": "Frames in flight, and shared memory held",
        "xaxis_title": _x_title(series),
        "yaxis_title": "frames",
    }
    if summary["transfer"] == "shm":
        figure.add_trace(
            go.Scatter(
                x=series.mid_s,
                y=[None if b is None else b / (1 << 20) for b in series.shm_bytes_max],
                name="shared memory in use, MiB (max)",
                mode="lines",
                line={"shape": "hv", "dash": "dot"},
                yaxis="y2",
            )
        )
        layout["yaxis2"] = {
            "title": "MiB",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
        }
    figure.update_layout(**layout)
    return figure


def _labels_figure(labels: Mapping[str, int]) -> go.Figure:
    names = list(labels)
    figure = go.Figure(
        go.Bar(
            x=[page.chart_text(name) for name in names],
            y=[labels[name] for name in names],
            name="frames",
        )
    )
    figure.update_layout(title="Frames per label", xaxis_title="label", yaxis_title="frames")
    figure.update_xaxes(type="category")
    return figure
