"""A report opened in a real browser: headless Chromium renders it, we read its DOM.

Whether a chart rendered can only be told after plotly.js has run, so the tests read the
DOM Chromium dumps after running the page's scripts (``--dump-dom`` with a virtual time
budget, which lets the page's timers run to completion without waiting in real time),
and keep a screenshot where CI uploads it (``$LVATOOL_ARTIFACTS``, else the test's
``tmp_path``).

Without a ``chromium`` binary the tests skip with the reason, except in CI (``CI`` set),
where a missing browser is a failure: the browser check must not silently vanish there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

BROWSER_TIMEOUT_S = 180  # a cold start on a loaded 2-core machine takes tens of seconds
#: A test's own limit: a run plus two cold Chromium starts (each bounded by
#: BROWSER_TIMEOUT_S) can pass the suite's 120 s default on a loaded 2-core machine.
BROWSER_TEST_TIMEOUT_S = 2 * BROWSER_TIMEOUT_S + 60
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
     "track", "wbr"}
)  # fmt: skip


def chromium() -> str:
    """The browser's path; skips the test without it (fails it in CI)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed, and CI must run the browser tests (.ci/run)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI runs these tests")


def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$LVATOOL_ARTIFACTS`` (kept by CI), else the test's tmp_path."""
    chosen = os.environ.get("LVATOOL_ARTIFACTS")
    directory = Path(chosen) if chosen else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _run_browser(report: Path, profile: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",  # a profile of its own: runs in parallel never share
        "--virtual-time-budget=10000",
        *arguments,
        report.resolve().as_uri(),
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False
    )
    assert completed.returncode == 0, f"chromium exited {completed.returncode}: {completed.stderr}"
    return completed


def rendered_dom(report: Path, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran."""
    dom = _run_browser(report, tmp_path / "chromium-dom", "--dump-dom").stdout
    assert "<body" in dom, "chromium printed no DOM"
    return dom


def screenshot(report: Path, tmp_path: Path, name: str, height: int = 3200) -> Path:
    """A PNG of the page, 1280 pixels wide, in the artifacts directory."""
    out = artifacts_dir(tmp_path) / name
    _run_browser(
        report, tmp_path / "chromium-shot", f"--screenshot={out}", f"--window-size=1280,{height}"
    )
    assert out.is_file() and out.stat().st_size > 0, f"no screenshot at {out}"
    return out


@dataclass
class Chart:
    """What one ``data-chart`` div holds once plotly has drawn it."""

    main_svgs: int = 0
    trace_shapes: int = 0  # path elements with a drawing (``d``) inside a trace group


@dataclass
class Dom:
    """The facts the tests check, gathered in one pass over the rendered DOM."""

    charts: dict[str, Chart] = field(default_factory=lambda: defaultdict(Chart))
    external: list[str] = field(default_factory=list)  # src/href values that leave the file
    body_attributes: dict[str, str | None] = field(default_factory=dict)
    scripts_text: list[str] = field(default_factory=list)
    images: int = 0


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.dom = Dom()
        self._stack: list[tuple[str, str | None, bool]] = []  # (tag, chart id, in a trace)
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        chart, in_trace = self._stack[-1][1:] if self._stack else (None, False)
        chart = values.get("data-chart") or chart
        classes = (values.get("class") or "").split()
        in_trace = in_trace or "trace" in classes  # a plotted trace ("traces": the legend's)
        for name in ("src", "href", "xlink:href"):
            value = values.get(name) or ""
            if value.lower().startswith(("http://", "https://", "//")):
                self.dom.external.append(value)
        if tag == "body":
            self.dom.body_attributes = values
        if tag == "img":
            self.dom.images += 1
        if chart is not None:
            found = self.dom.charts[chart]
            if tag == "svg" and "main-svg" in classes:
                found.main_svgs += 1
            if tag == "path" and in_trace and (values.get("d") or "").strip() not in ("", "M0,0Z"):
                found.trace_shapes += 1
        if tag == "script":
            self._script = []
        if tag not in _VOID:
            self._stack.append((tag, chart, in_trace))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self._stack:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.dom.scripts_text.append("".join(self._script))
            self._script = None
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth][0] == tag:
                del self._stack[depth:]
                break

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)


def read_dom(dom: str) -> Dom:
    reader = _Reader()
    reader.feed(dom)
    reader.close()
    return reader.dom


def assert_charts_rendered(dom: Dom, expected: list[str]) -> None:
    """Every expected chart has plotly's SVG with drawn trace shapes; no other chart."""
    drawn = {name: chart for name, chart in dom.charts.items() if chart.main_svgs}
    assert sorted(drawn) == sorted(expected), f"charts drawn: {sorted(drawn)}"
    for name in expected:
        chart = dom.charts[name]
        assert chart.trace_shapes > 0, f"chart {name} has its SVG but no trace drawn"


def assert_self_contained(report: Path, dom: Dom) -> None:
    """Nothing the page loads or links to is outside the file."""
    assert dom.external == [], f"external references: {dom.external[:5]}"
    raw = read_dom(report.read_text(encoding="utf-8"))
    assert raw.external == [], f"external references in the file: {raw.external[:5]}"
