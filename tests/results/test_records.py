"""Records ↔ JSONL lines and CSV rows, the reader's sentences, and the results schema's teeth."""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lvatool.results.header import ClipIdentity, RunHeader, clip_identity, header_from_json
from lvatool.results.reader import read_results
from lvatool.results.records import (
    CSV_COLUMNS,
    ResultsFormatError,
    from_json,
    inference_summary,
    to_csv_row,
    to_json,
)
from lvatool.sim.samples import sample_path
from tests.results.builders import classified, detected, frame
from tests.schemas import assert_valid, schema_errors

Line = dict[str, Any]


def header() -> RunHeader:
    return RunHeader(
        video="clip.mp4",
        clip=clip_identity(str(sample_path())),
        format={"encoding": "RAW", "pixel_format": "BGR24", "width": 416, "height": 234},
        transfer="shm",
        streams=2,
        fps=30.0,
        started_at="2025-01-01T00:00:00.000Z",
        truth=False,
        settings={"max_frames": 10},
    )


def test_frame_lines_round_trip_and_are_valid() -> None:
    for result in (
        frame(4, classified("dark", 0.98), detected("car", (0.1, 0.2, 0.3, 0.4))),
        frame(5, status="dropped"),
        frame(6, status="timed_out"),
    ):
        line = to_json(result)
        assert_valid(line, "simulate-results")
        back = from_json(line)
        assert to_json(back) == line  # what is written reads back as itself
        assert back.inferences == result.inferences and back.status == result.status


def test_header_round_trips_and_is_valid() -> None:
    line = header().to_json()
    assert_valid(line, "simulate-results")
    back = header_from_json(line)
    assert back.clip == header().clip and back.format == header().format
    assert back.clip.fingerprint is not None and back.clip.fingerprint.startswith("sha256:")


def test_clip_identity_is_by_content_not_path(tmp_path: Path) -> None:
    copied = tmp_path / "renamed.mp4"
    copied.write_bytes(sample_path().read_bytes())
    assert clip_identity(str(copied)).same_clip(clip_identity(str(sample_path())))
    other = clip_identity(str(sample_path("bars1080.mp4")))
    assert not other.same_clip(clip_identity(str(sample_path())))
    live = clip_identity("rtsp://camera/stream")
    assert live == ClipIdentity("rtsp://camera/stream")
    assert live.same_clip(ClipIdentity("rtsp://camera/stream"))


def test_inference_summaries() -> None:
    assert inference_summary(classified("dark", 0.981)) == "dark:0.98"
    box = inference_summary(detected("car", (0.0, 0.25, 0.5, 0.125), 0.91))
    assert box == "car:0.91@[0.000,0.250,0.500,0.125]"
    assert inference_summary({"type": "motion", "motion": {"box": {"w": 0.5, "h": 0.5}}}) == (
        "motion@[0.000,0.000,0.500,0.500]"
    )


def test_csv_cells_are_quoted_escaped_and_never_formulas() -> None:
    """A tag of the extension's may hold commas, quotes, line breaks or a formula."""
    nasty = 'a,"b"\nc'
    row = to_csv_row(frame(1, classified(nasty), classified("=HYPERLINK(1)")))
    out = io.StringIO()
    csv.writer(out).writerow(row)
    text = out.getvalue()
    assert text.count("\n") == 1  # one record, one line: the line break is escaped
    back = next(csv.reader(io.StringIO(text)))
    assert len(back) == len(CSV_COLUMNS)
    assert back[CSV_COLUMNS.index("inferences")] == 'a,"b"\\nc:1.00; =HYPERLINK(1):1.00'
    formula = to_csv_row(frame(1, classified("=HYPERLINK(1)")))
    assert formula[CSV_COLUMNS.index("inferences")] == "'=HYPERLINK(1):1.00"


def _set(key: str, value: object) -> Callable[[Line], None]:
    return lambda line: line.__setitem__(key, value)


FRAME_MISTAKES: dict[str, Callable[[Line], None]] = {
    "an unknown status": _set("status", "lost"),
    "acked without an ack time": _set("acked_s", None),
    "dropped with a sequence number": lambda line: line.update(
        status="dropped", acked_s=None, latency_ms=None, service_ms=None, inferences=[]
    ),
    "a negative index": _set("index", -1),
    "a key not in the schema": _set("frame", 3),
    "truth without matched": _set("truth", "dark"),
    "an inference of no type": _set("inferences", [{"classification": {}}]),
    "a missing key": lambda line: line.pop("timestamp"),
}


@pytest.mark.parametrize("mistake", FRAME_MISTAKES)
def test_results_schema_rejects(mistake: str) -> None:
    line = to_json(frame(3, classified("dark")))
    FRAME_MISTAKES[mistake](line)
    assert schema_errors(line, "simulate-results"), mistake


def test_results_schema_rejects_a_bad_header_or_end() -> None:
    line = copy.deepcopy(header().to_json())
    line["format"]["encoding"] = "JPEG"
    assert schema_errors(line, "simulate-results")
    end = {"kind": "end", "outcome": "ok", "error": None, "frames": 3, "unresolved": 0}
    assert_valid(end, "simulate-results")
    assert schema_errors(dict(end, outcome="fine"), "simulate-results")


def test_reader_sentences(tmp_path: Path) -> None:
    def problem(text: str) -> str:
        path = tmp_path / "r.jsonl"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ResultsFormatError) as caught:
            read_results(path)
        return str(caught.value)

    first = '{"kind": "run", "version": 1, "clip": {"name": "a.mp4"}, "format": {}, "streams": 1}\n'
    assert problem("") == "is empty"
    assert problem("[1]\n") == "line 1 is not a JSON object"
    assert problem('{"kind": "run", "version": 7}\n').startswith(
        "is not a results file: it is version 7 of the results format"
    )
    assert problem(first + '{"kind": "frame", "status": "acked"}\n') == (
        "line 2 is not a results record: its field 'inferences' is missing or not a list"
    )
    assert problem(first + '{"kind": "note"}\n') == (
        "line 2 is not a results record: its kind 'note' is not run, frame or end"
    )
    path = tmp_path / "ok.jsonl"
    path.write_text(first + '{"kind": "end", "outcome": "ok"}\n', encoding="utf-8")
    assert read_results(path).outcome == "ok" and read_results(path).frames == []
