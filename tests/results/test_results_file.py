"""``lvatool simulate --results``: one record per frame sent, in send order, on real runs."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from lvatool.results.records import CSV_COLUMNS
from tests.results.resultsfile import csv_rows, frames, jsonl_lines
from tests.sim.fanout_servers import Behaviour, FanoutServer
from tests.sim.simrun import run


def _in_send_order(records: list[dict[str, object]], streams: int, frames_each: int) -> None:
    for stream in range(streams):
        mine = [r for r in records if r["stream"] == stream]
        assert [r["index"] for r in mine] == list(range(frames_each))
        sequences = [r["sequence"] for r in mine]
        assert sequences == sorted(sequences)  # type: ignore[type-var]
    sent = [r["sent_s"] for r in records]
    assert sent == sorted(sent), "across streams, by send time"  # type: ignore[type-var]


@pytest.mark.parametrize("transfer", [[], ["--shm", "8"]], ids=["embedded", "shm"])
def test_jsonl_has_one_record_per_frame_in_send_order(tmp_path: Path, transfer: list[str]) -> None:
    path = tmp_path / "run.jsonl"
    code, summary, output = run(
        "--streams", "2", "--max-frames", "40", "--results", str(path), *transfer
    )  # fmt: skip
    assert code == 0, output
    lines = jsonl_lines(path)
    header, records, end = lines[0], lines[1:-1], lines[-1]
    assert len(records) == summary["frames_sent"] == 80
    _in_send_order(records, streams=2, frames_each=40)
    assert Counter(r["label"] for r in records) == summary["labels"]
    assert all(r["status"] == "acked" and r["matched"] is True for r in records)
    assert records[0]["inferences"][0]["type"] == "classification"  # R3 form, camelCase
    assert header["clip"]["name"] == "daynight.mp4" and header["streams"] == 2
    assert header["format"] == {
        "encoding": "JPG",
        "pixel_format": None,
        "width": 640,
        "height": 360,
    }
    assert header["transfer"] == ("shm" if transfer else "embedded") and header["truth"] is True
    assert end == {"kind": "end", "outcome": "ok", "error": None, "frames": 80, "unresolved": 0}


def test_csv_has_one_row_per_frame_with_a_label_summary(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    code, summary, output = run("--max-frames", "30", "--results", str(path))
    assert code == 0, output
    rows = csv_rows(path)
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == summary["frames_sent"] == 30
    assert [int(row["index"]) for row in rows] == list(range(30))
    assert Counter(row["label"] for row in rows) == summary["labels"]
    assert {row["inferences"] for row in rows} <= {"dark:1.00", "light:1.00"}
    assert {row["matched"] for row in rows} == {"true"}


def test_dropped_frames_are_recorded_with_status_dropped(tmp_path: Path) -> None:
    """A buffer that holds two frames, an extension that takes 50 ms a frame: drops."""
    path = tmp_path / "drops.jsonl"
    with FanoutServer(Behaviour.SLOW) as server:
        code, summary, output = run(
            "--target", server.address, "--max-frames", "30", "--shm", "0.03",
            "--on-full", "drop", "--results", str(path),
        )  # fmt: skip
    assert code == 0, output
    records = frames(path)
    statuses = Counter(r["status"] for r in records)
    assert summary["frames_dropped"] > 0
    assert statuses == {"acked": summary["frames_acked"], "dropped": summary["frames_dropped"]}
    assert [r["index"] for r in records] == list(range(30))  # sent and dropped, in order
    for record in records:
        if record["status"] == "dropped":
            assert record["sequence"] is None and record["inferences"] == []


def test_a_full_disk_fails_the_run_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "full.jsonl"
    os.symlink("/dev/full", path)  # every write: ENOSPC
    code, summary, output = run("--max-frames", "20", "--results", str(path))
    assert code == 1, output
    assert summary["outcome"] == "error"
    assert summary["error"] == f"cannot write the --results file {path}: No space left on device"
