"""The three report forms, rendered from the same records and read back."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from lvatool.conformance.report import render_report, write_json, write_junit
from lvatool.conformance.results import CheckResult, Outcome, SuiteReport


def sample_report() -> SuiteReport:
    def result(id: str, outcome: Outcome, level: str = "MUST") -> CheckResult:
        return CheckResult(id, f"title {id}", ("Q2",), level, outcome, f"message {id}", 0.25)

    report = SuiteReport("server", "127.0.0.1:5001")
    report.results = [
        result("S01", Outcome.PASS),
        result("S02", Outcome.FAIL),
        result("S03", Outcome.WARN, "SHOULD"),
        result("S04", Outcome.SKIP),
        result("S05", Outcome.ERROR),
    ]
    report.properties = {"target": "127.0.0.1:5001", "lvatool": "0.1.0"}
    return report


def test_json_has_the_documented_keys(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json([sample_report()], path)
    data = json.loads(path.read_text())
    assert set(data) >= {"suite", "target", "checks", "summary"}
    assert data["suite"] == "server" and data["target"] == "127.0.0.1:5001"
    assert data["summary"] == {"passed": 1, "failed": 2, "warned": 1, "skipped": 1}
    first = data["checks"][0]
    assert set(first) == {"id", "title", "rules", "level", "outcome", "message", "duration_s"}
    assert [c["outcome"] for c in data["checks"]] == ["pass", "fail", "warn", "skip", "error"]


def test_junit_parses_back_with_failures_errors_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "results.xml"
    write_junit([sample_report(), sample_report()], path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 2
    suite = suites[0]
    assert suite.get("tests") == "5"
    assert (
        suite.get("failures") == "1" and suite.get("errors") == "1" and suite.get("skipped") == "1"
    )
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["target"] == "127.0.0.1:5001"
    cases = suite.findall("testcase")
    assert {c.get("classname") for c in cases} == {"lvatool.conformance.server"}
    by_id = {str(c.get("name")).split()[0]: c for c in cases}
    assert by_id["S02"].find("failure") is not None
    assert by_id["S05"].find("error") is not None
    assert by_id["S04"].find("skipped") is not None
    assert by_id["S01"].find("failure") is None and by_id["S03"].find("failure") is None


def test_console_table_shows_each_verdict() -> None:
    out = io.StringIO()
    render_report(sample_report(), Console(file=out, color_system=None, width=140))
    text = out.getvalue()
    for id in ("S01", "S02", "S03", "S04", "S05"):
        assert id in text
    assert "1 passed, 2 failed, 1 warned, 1 skipped" in text
