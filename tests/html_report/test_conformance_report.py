"""``lvatool conformance --html``: real suites from the command line, the page in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.conformance.results import CheckResult, Outcome, RunOutcome, SuiteReport
from lvatool.html_report.conformance_report import chart_ids, write_conformance_html
from tests.html_report.browser import (
    BROWSER_TEST_TIMEOUT_S,
    assert_charts_rendered,
    assert_self_contained,
    read_dom,
    rendered_dom,
    screenshot,
)

pytestmark = pytest.mark.timeout(BROWSER_TEST_TIMEOUT_S)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["conformance", *args])
    return result.exit_code, result.output


def test_the_self_tests_page_has_every_check_and_a_chart_per_suite(tmp_path: Path) -> None:
    path = tmp_path / "conformance.html"
    code, output = invoke("--html", str(path), "--select", "S01,S02,S04,C01,C02")
    assert code == 0, output
    document = path.read_text(encoding="utf-8")
    for check in ("S01", "S02", "S04", "C01", "C02"):
        assert f"<td>{check}</td>" in document
    assert "server: 3 passed, 0 failed, 0 warned, 0 skipped" in document
    assert "client: 2 passed, 0 failed, 0 warned, 0 skipped" in document
    assert document.count('class="outcome-pass"') == 5

    dom = read_dom(rendered_dom(path, tmp_path))
    assert_charts_rendered(dom, ["durations-server", "durations-client"])
    assert_self_contained(path, dom)
    screenshot(path, tmp_path, "conformance-report.png", height=1800)


def test_a_server_not_reached_still_gets_its_page_saying_why(tmp_path: Path) -> None:
    """Given before the subcommand, as --json and --junit may be; written however it ends."""
    path = tmp_path / "unreached.html"
    code, output = invoke(
        "--html", str(path), "server", "--target", "127.0.0.1:1", "--connect-timeout", "1"
    )
    assert code == 3, output
    document = path.read_text(encoding="utf-8")
    assert "cannot connect" in document
    assert "not run" in document  # every check skipped with the reason


def test_an_html_path_in_a_missing_directory_is_refused_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "r.html"
    code, output = invoke("server", "--target", "127.0.0.1:1", "--html", str(path))
    assert code == 2
    sentence = " ".join(output.split())  # the console wraps long paths
    assert f"--html {path}: the directory {path.parent} does not exist" in sentence


def test_messages_from_the_peer_are_shown_as_text_and_never_run(tmp_path: Path) -> None:
    """A status message quoting what a hostile server sent, with markup in it."""
    hostile = "<script>document.body.setAttribute('data-pwned','1')</script><b>x</b>"
    report = SuiteReport(
        suite="server",
        target=f"127.0.0.1:1 {hostile}",
        results=[
            CheckResult(
                "S01",
                "handshake",
                ("H2", "H4"),
                "MUST",
                Outcome.FAIL,
                f"the server sent status INTERNAL: {hostile}",
                0.25,
            ),
            CheckResult("S02", "numbering", ("Q1",), "MUST", Outcome.PASS, "", 0.5),
        ],
        properties={"extension": hostile},
        outcome=RunOutcome.COMPLETED,
    )
    path = tmp_path / "hostile.html"
    write_conformance_html([report], path)
    assert chart_ids([report]) == ["durations-server"]
    dom_text = rendered_dom(path, tmp_path)
    dom = read_dom(dom_text)
    assert "data-pwned" not in dom.body_attributes
    assert not any(s.strip().startswith("document.body") for s in dom.scripts_text)
    assert "&lt;script&gt;document.body.setAttribute" in dom_text
    assert_charts_rendered(dom, ["durations-server"])
