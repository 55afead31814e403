"""``lvatool conformance --html FILE``: the verdicts as one page, for a CI artifact.

The same records as the console table, JSON and JUnit (:mod:`lvatool.conformance.report`):
per suite, the run's outcome and properties, the counts, every check with its id, title,
rules, level, outcome, duration and message, and a chart of the checks' durations (which
check spent the suite's time waiting). Messages quote what the peer sent: escaped.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go  # type: ignore[import-untyped]

from lvatool.conformance.results import Outcome, RunOutcome, SuiteReport
from lvatool.html_report import page

_COLOURS = {Outcome.PASS: "#17803d", Outcome.FAIL: "#c0262d", Outcome.ERROR: "#7a0d12",
            Outcome.WARN: "#d08a00", Outcome.SKIP: "#9a9a9a"}  # fmt: skip


def chart_ids(reports: list[SuiteReport]) -> list[str]:
    """The ids of the charts the page holds: one per suite that has checks."""
    return [f"durations-{report.suite}" for report in reports if report.results]


def conformance_html(reports: list[SuiteReport]) -> str:
    """The whole page for one run (the self-test has two suites)."""
    sections = [_suite_section(report) for report in reports]
    verdict = ", ".join(_verdict(report) for report in reports)
    return page.page("lvatool conformance report", verdict, sections)


def write_conformance_html(reports: list[SuiteReport], path: Path) -> None:
    """Write the page (whole or not at all); OSError is the caller's to report."""
    page.write_page(path, conformance_html(reports))


def _verdict(report: SuiteReport) -> str:
    s = report.summary()
    line = (
        f"{report.suite}: {s['passed']} passed, {s['failed']} failed, "
        f"{s['warned']} warned, {s['skipped']} skipped"
    )
    if report.outcome is not RunOutcome.COMPLETED:
        line += f" ({report.outcome.value})"
    return line


def _suite_section(report: SuiteReport) -> str:
    facts: list[tuple[str, object]] = [
        ("target", report.target),
        ("outcome", report.outcome.value + (f": {report.reason}" if report.reason else "")),
        ("verdict", _verdict(report)),
        ("duration", f"{sum(r.duration_s for r in report.results):.2f} s"),
    ]
    shown = {name for name, _ in facts}
    facts += sorted((k, v) for k, v in report.properties.items() if k not in shown)
    parts = [page.key_values(facts), _check_table(report)]
    if report.results:
        chart = page.chart(
            _durations_figure(report),
            f"durations-{report.suite}",
            height=_durations_height(len(report.results)),
        )
        parts.append(chart)
    return page.section(f"{report.suite} suite", *parts)


def _check_table(report: SuiteReport) -> str:
    head = "".join(
        f"<th>{name}</th>"
        for name in ("id", "title", "rules", "level", "outcome", "duration", "message")
    )
    rows = []
    for r in report.results:
        outcome = r.outcome.value
        rows.append(
            "<tr>"
            f"<td>{page.text(r.id)}</td><td>{page.text(r.title)}</td>"
            f"<td>{page.text(', '.join(r.rules))}</td><td>{page.text(r.level)}</td>"
            f'<td class="outcome-{page.text(outcome)}">{page.text(outcome)}</td>'
            f'<td class="num">{r.duration_s:.3f} s</td>'
            f'<td class="message">{page.text(r.message)}</td>'
            "</tr>"
        )
    if not rows:
        return page.note("No check ran.")
    return (
        f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _durations_figure(report: SuiteReport) -> go.Figure:
    results = list(reversed(report.results))  # the first check on top
    figure = go.Figure(
        go.Bar(
            y=[page.chart_text(r.id) for r in results],
            x=[r.duration_s for r in results],
            orientation="h",
            marker={"color": [_COLOURS[r.outcome] for r in results]},
            text=[r.outcome.value for r in results],
            hovertemplate="%{y}: %{x:.3f} s (%{text})<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Time per check, {report.suite} suite (colour: outcome)",
        xaxis_title="seconds",
        yaxis={"type": "category"},
    )
    return figure


def _durations_height(checks: int) -> int:
    """Bars of a readable thickness, however many checks ran."""
    return 140 + 26 * checks
