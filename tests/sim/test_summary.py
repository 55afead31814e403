"""The console summary renders the transfer for people from the summary's values."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from lvatool.sim.report import render_summary
from lvatool.sim.stats import RunSummary, StreamStats


@pytest.mark.parametrize(
    ("summary", "sentence"),
    [
        (RunSummary(StreamStats(), 1.0, "embedded", "127.0.0.1:5001", 1), "embedded"),
        (
            RunSummary(StreamStats(), 1.0, "shm", "127.0.0.1:5001", 2, shm_mib=2.5, on_full="drop"),
            "shared memory (2.5 MiB, on full: drop)",
        ),
    ],
    ids=["embedded", "shm"],
)
def test_console_shows_the_transfer_as_a_sentence(summary: RunSummary, sentence: str) -> None:
    out = io.StringIO()
    render_summary(summary, Console(file=out, color_system=None, width=200))
    assert f"127.0.0.1:5001 ({summary.streams} stream(s), {sentence})" in out.getvalue()
