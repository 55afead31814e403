"""``simulate --report``: real runs of the bundled clip, the page opened in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lvatool.html_report.simulate_report import CHARTS, DEFAULT_THUMBNAILS, SimulateReport
from lvatool.media import Encoding, PixelFormat
from lvatool.server import ExtensionServer, Frame, ServerOptions, classification
from lvatool.server.processor import FunctionProcessor
from lvatool.sim import ConnectOptions, ImageOptions, RunOptions, StreamOptions, simulate
from lvatool.sim.run import RunResult
from lvatool.sim.samples import load_truth, sample_path, truth_path
from tests.html_report.browser import (
    BROWSER_TEST_TIMEOUT_S,
    assert_charts_rendered,
    assert_self_contained,
    read_dom,
    rendered_dom,
    screenshot,
)

pytestmark = pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)

MAX_REPORT_BYTES = 6 << 20  # plotly.js (about 4.8 MB) once, plus data and thumbnails


def _run(
    report: SimulateReport,
    *,
    frames: int,
    shm_bytes: int | None = 8 << 20,
    target: str = "",
    image: ImageOptions | None = None,
    on_full: str = "wait",
) -> RunResult:
    stream = StreamOptions(
        connect=ConnectOptions(target=target),
        shm_bytes=shm_bytes,
        on_full=on_full,
        image=image or ImageOptions(),
    )
    return simulate(
        RunOptions(
            stream=stream,
            video=str(sample_path()),
            max_frames=frames,
            truth=load_truth(truth_path(sample_path())) if not target else None,
            serve_locally=not target,
            observers=(report,),
        )
    )


def test_the_report_of_a_shared_memory_run_renders_every_chart(tmp_path: Path) -> None:
    path = tmp_path / "run.html"
    report = SimulateReport(path, settings={"video": "daynight.mp4"})
    result = _run(report, frames=150)
    assert result.summary.outcome == "ok"
    document = path.read_text(encoding="utf-8")
    assert path.stat().st_size < MAX_REPORT_BYTES
    assert document.count("window.PlotlyConfig") == 1  # plotly.js inlined once, not per chart
    assert len(re.findall(r"/\*\*\s*\n?\s*\* plotly\.js v", document)) <= 1

    dom = read_dom(rendered_dom(path, tmp_path))
    assert_charts_rendered(dom, list(CHARTS))
    assert_self_contained(path, dom)
    # Stream 0's frames, evenly spread: 150 frames keep every 16th (0, 16, … 144).
    assert dom.images == 10
    assert DEFAULT_THUMBNAILS // 2 <= dom.images <= DEFAULT_THUMBNAILS
    for figure in ("frame 0,", "frame 16,", "frame 144,"):
        assert figure in document
    for setting in ("daynight.mp4", "shared memory, 8 MiB", "JPG 640×360", "150 of 150 matched"):
        assert setting in document
    screenshot(path, tmp_path, "simulate-report.png")


def _hostile_label(frame: Frame) -> list[object]:
    dark = frame.mean_luma() < 127
    return [classification(SCRIPT_LABEL if dark else MARKUP_LABEL)]


SCRIPT_LABEL = "<script>document.body.setAttribute('data-pwned','script')</script>"
MARKUP_LABEL = "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\"><b>bold</b>"


def test_labels_from_the_extension_are_shown_as_text_and_never_run(tmp_path: Path) -> None:
    processor = FunctionProcessor(_hostile_label)  # type: ignore[arg-type]
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0), processor=processor) as server:
        path = tmp_path / "hostile.html"
        result = _run(SimulateReport(path), frames=60, shm_bytes=None, target=server.address)
    assert result.summary.outcome == "ok"
    assert set(result.summary.stats.labels) == {SCRIPT_LABEL, MARKUP_LABEL}

    dom_text = rendered_dom(path, tmp_path)
    dom = read_dom(dom_text)
    assert "data-pwned" not in dom.body_attributes  # neither label ran
    assert not any(s.strip().startswith("document.body") for s in dom.scripts_text)
    assert dom.images == len(range(0, 60, 4))  # the thumbnails only: no label became an <img>
    assert_charts_rendered(dom, list(CHARTS))
    # Shown as themselves: in the thumbnails' captions and as the label chart's ticks.
    assert "&lt;script&gt;document.body.setAttribute" in dom_text
    assert "&lt;b&gt;bold&lt;/b&gt;" in dom_text
    screenshot(path, tmp_path, "simulate-report-hostile-labels.png", height=2400)


def test_frames_dropped_for_want_of_room_are_marked_on_the_time_axis(tmp_path: Path) -> None:
    """A buffer that holds one RAW frame, --on-full drop: the drops are counted and marked."""
    path = tmp_path / "drops.html"
    image = ImageOptions(encoding=Encoding.RAW, pixel_format=PixelFormat.BGR24)
    one_frame = 640 * 360 * 3 + 1024
    result = _run(
        SimulateReport(path), frames=120, shm_bytes=one_frame, image=image, on_full="drop"
    )
    dropped = result.summary.stats.frames_dropped
    assert result.summary.outcome == "ok" and dropped > 0
    document = path.read_text(encoding="utf-8")
    assert f"{dropped} dropped and 0 timed out, marked on the time axis" in document
    assert '"name":"dropped"' in document  # the markers' trace in the throughput chart


def test_a_report_that_cannot_be_written_fails_the_run_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "run.html"
    result = _run(SimulateReport(path), frames=10)
    assert result.summary.outcome == "error"
    assert result.summary.error is not None
    assert result.summary.error.startswith(f"cannot write --report {path}: ")
    assert not path.parent.exists()
