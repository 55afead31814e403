"""Reports rendered from the same records: a console table, JSON and JUnit XML."""

from __future__ import annotations

import inspect
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lvatool.conformance.catalogue import Check
from lvatool.conformance.results import CheckResult, Outcome, RunOutcome, SuiteReport
from lvatool.text import as_text

_STYLE = {Outcome.PASS: "green", Outcome.FAIL: "red", Outcome.ERROR: "red bold",
          Outcome.WARN: "yellow", Outcome.SKIP: "dim"}  # fmt: skip


def render_catalogue(checks: list[Check], console: Console) -> None:
    table = Table(title="lvatool conformance checks", title_justify="left")
    for column in ("id", "suite", "level", "rules", "deadline", "title"):
        table.add_column(column)
    for c in checks:
        table.add_row(
            c.id, c.suite, c.level.value, ", ".join(c.rules), f"{c.deadline_s:g} s", c.title
        )
    console.print(table)


def check_description(check: Check) -> str | None:
    """What a check sends and expects: its function's docstring, tidied (None if absent).

    Docstrings are wrapped for the source file; paragraphs are joined back into single
    lines so the terminal (or a JSON consumer) can wrap them to its own width.
    """
    doc = inspect.getdoc(check.run)
    if not doc or not doc.strip():
        return None
    paragraphs = [" ".join(p.split()) for p in doc.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def catalogue_json(checks: list[Check]) -> list[dict[str, object]]:
    """The catalogue as plain values, for ``--list --json``.

    A CI script picks checks for ``--select`` or maps a failure's rule IDs from this,
    without scraping the console table; ``description`` is None for an undocumented check.
    """
    return [
        {
            "id": c.id,
            "title": c.title,
            "suite": c.suite,
            "level": c.level.value,
            "deadline_s": c.deadline_s,
            "rules": list(c.rules),
            "description": check_description(c),
        }
        for c in checks
    ]


def render_report(report: SuiteReport, console: Console) -> None:
    table = Table(title=f"{report.suite} suite — {as_text(report.target)}", title_justify="left")
    for column in ("id", "level", "rules", "outcome", "title / reason"):
        table.add_column(column, overflow="fold")
    for r in report.results:
        style = _STYLE[r.outcome]
        table.add_row(
            r.id, r.level, ", ".join(r.rules), f"[{style}]{r.outcome.value}[/{style}]",
            f"{r.title}\n[dim]{as_text(r.message)}[/dim]",
        )  # fmt: skip
    console.print(table)
    s = report.summary()
    console.print(
        f"{report.suite}: {s['passed']} passed, {s['failed']} failed, "
        f"{s['warned']} warned, {s['skipped']} skipped"
    )
    if report.outcome is not RunOutcome.COMPLETED:
        console.print(f"{report.suite}: {report.outcome.value}: {as_text(report.reason)}")


def _result_json(r: CheckResult) -> dict[str, object]:
    return {
        "id": r.id,
        "title": r.title,
        "rules": list(r.rules),
        "level": r.level,
        "outcome": r.outcome.value,
        "message": r.message,
        "duration_s": round(r.duration_s, 3),
    }


def to_json(reports: list[SuiteReport]) -> object:
    """One object per suite (a list when several ran, as in the self-test)."""
    documents = [
        {
            "suite": report.suite,
            "target": report.target,
            "outcome": report.outcome.value,
            "reason": report.reason,
            "properties": report.properties,
            "checks": [_result_json(r) for r in report.results],
            "summary": report.summary(),
        }
        for report in reports
    ]
    return documents[0] if len(documents) == 1 else documents


def write_json(reports: list[SuiteReport], path: Path) -> None:
    path.write_text(json.dumps(to_json(reports), indent=2) + "\n", encoding="utf-8")


def to_junit(reports: list[SuiteReport]) -> ET.ElementTree[ET.Element]:
    """JUnit XML: one testsuite per suite, one testcase per check.

    A broken rule is a ``<failure>``; a crash of the checker an ``<error>``; a skipped
    check ``<skipped>``; a warning passes with the warning in ``<system-out>``. A run
    that did not complete (interrupted, peer not reached) has the testsuite properties
    ``outcome`` and ``reason`` and an ``<error>`` testcase named ``run`` whose type is
    the outcome.
    """
    root = ET.Element("testsuites", name="lvatool conformance")
    for report in reports:
        s = report.summary()
        unfinished = report.outcome is not RunOutcome.COMPLETED
        suite = ET.SubElement(
            root, "testsuite",
            name=f"lvatool.conformance.{report.suite}",
            tests=str(len(report.results) + unfinished),
            failures=str(report.count(Outcome.FAIL)),
            errors=str(report.count(Outcome.ERROR) + unfinished),
            skipped=str(s["skipped"]),
            time=f"{sum(r.duration_s for r in report.results):.3f}",
        )  # fmt: skip
        properties = ET.SubElement(suite, "properties")
        run_facts = {"outcome": report.outcome.value}
        if unfinished:
            run_facts["reason"] = report.reason
        for name, value in {**report.properties, **run_facts}.items():
            ET.SubElement(properties, "property", name=name, value=value)
        if unfinished:
            # A run that did not complete must not look green in CI: one error testcase
            # says why, before the checks that did not run (each skipped with the reason).
            classname = f"lvatool.conformance.{report.suite}"
            case = ET.SubElement(suite, "testcase", name="run", classname=classname, time="0.000")
            ET.SubElement(
                case, "error", message=report.reason, type=report.outcome.value
            ).text = f"{report.outcome.value}: {report.reason}"
        for r in report.results:
            case = ET.SubElement(
                suite, "testcase",
                classname=f"lvatool.conformance.{report.suite}",
                name=f"{r.id} {r.title}",
                time=f"{r.duration_s:.3f}",
            )  # fmt: skip
            detail = f"[{r.level}; rules {', '.join(r.rules)}] {r.message}"
            if r.outcome is Outcome.FAIL:
                ET.SubElement(case, "failure", message=r.message, type=r.level).text = detail
            elif r.outcome is Outcome.ERROR:
                ET.SubElement(case, "error", message=r.message).text = "\n".join(r.log) or detail
            elif r.outcome is Outcome.SKIP:
                ET.SubElement(case, "skipped", message=r.message)
            else:
                ET.SubElement(case, "system-out").text = detail
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(reports: list[SuiteReport], path: Path) -> None:
    to_junit(reports).write(path, encoding="utf-8", xml_declaration=True)


class ReportPathError(ValueError):
    """A report file that could not be written; ``str(error)`` names the option and why."""


def check_report_path(path: Path, option: str) -> None:
    """Refuse a report path that cannot be written, before the run rather than after it.

    A suite can take a minute; finding out at the end that ``--junit out/r.xml`` names a
    directory that does not exist would lose every verdict. Checked here: the directory
    exists and is one, the path is not a directory, and both are writable.
    """
    directory = path.parent
    if not directory.exists():
        raise ReportPathError(f"{option} {path}: the directory {directory} does not exist")
    if not directory.is_dir():
        raise ReportPathError(f"{option} {path}: {directory} is not a directory")
    if path.is_dir():
        raise ReportPathError(f"{option} {path} is a directory; name a file in it")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(directory, os.W_OK)
    if not writable:
        raise ReportPathError(f"{option} {path}: permission denied")
