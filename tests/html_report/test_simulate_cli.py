"""``lvatool simulate --report``: the option writes the page the library tests render."""

from __future__ import annotations

from pathlib import Path

from tests.html_report.browser import read_dom
from tests.sim.simrun import run


def test_report_option_writes_one_self_contained_page(tmp_path: Path) -> None:
    page = tmp_path / "run.html"
    code, summary, output = run("--max-frames", "30", "--report", str(page))
    assert code == 0, output
    assert summary["frames_acked"] == 30
    html = page.read_text(encoding="utf-8")
    assert "plotly" in html
    assert read_dom(html).external == []  # the browser tests render it; here: the CLI wrote it


def test_report_in_a_missing_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    code, summary, output = run("--report", str(tmp_path / "no" / "run.html"))
    assert code == 2 and summary == {}
    assert "--report" in output


def test_report_does_not_apply_to_a_capacity_search(tmp_path: Path) -> None:
    code, _, output = run(
        "--find-capacity", "--slo-p99-ms", "100", "--max-fps", "5", "--target", "127.0.0.1:1",
        "--report", str(tmp_path / "run.html"),
    )  # fmt: skip
    assert code == 2
    assert "--report does not apply to --find-capacity" in output
