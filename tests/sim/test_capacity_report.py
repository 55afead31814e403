"""How a capacity search is told: step lines, the closing sentence, exit codes, and the
``--json`` document, validated against the published schema ``simulate-capacity`` and
broken one way at a time to prove the schema can fail.

The reports are real :class:`CapacityReport` values, their steps judged by the real
:func:`judge` from figures, so each outcome the search can reach is rendered here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lvatool.commands.simulate_capacity import exit_code
from lvatool.schemas import SCHEMA_NAMES, load_schema
from lvatool.sim import ConnectOptions, RunOptions, StreamOptions
from lvatool.sim.capacity import Criteria, StepFigures, StepResult, conclude, judge
from lvatool.sim.capacity_report import exit_sentence, step_line, to_document, write_document
from lvatool.sim.capacity_run import CapacityOptions, CapacityReport
from tests.schemas import assert_valid, schema_errors

Document = dict[str, Any]
OPTIONS = CapacityOptions(
    run=RunOptions(StreamOptions(ConnectOptions(target="127.0.0.1:5001")), video="clip.mp4"),
    camera_fps=15.0,
    source_fps=30.0,
    slo_p99_ms=200.0,
    max_streams=32,
)


def step(streams: int, *, p99_ms: float = 150.0, acked_share: float = 1.0, cpu_s: float = 1.0,
         error: str | None = None) -> StepResult:  # fmt: skip
    offered = int(streams * 15 * 10)
    figures = StepFigures(
        streams=streams, camera_fps=15.0, window_s=10.0, frames_sent=offered,
        frames_acked=int(offered * acked_share), p50_ms=40.0, p99_ms=p99_ms,
        mean_in_flight=streams * 6.0, cpu_s=cpu_s, usable_cores=2, error=error,
    )  # fmt: skip
    return judge(figures, Criteria(200.0))


def report(steps: list[StepResult], *, aborted: str | None = None) -> CapacityReport:
    result = CapacityReport(OPTIONS, usable_cores=2, steps=steps)
    if aborted:
        result.aborted, result.error = aborted, f"the search stopped: {aborted}"
    else:
        result.answer = conclude(steps)
    return result


CAPACITY = [step(1), step(2), step(4), step(8), step(16), step(32, p99_ms=900, acked_share=0.5),
            step(24, p99_ms=231), step(20), step(22), step(23, p99_ms=182)]  # fmt: skip
REPORTS: dict[str, CapacityReport] = {
    "capacity": report(CAPACITY),
    "at-least": report([step(n) for n in (1, 2, 4, 8, 16, 32)]),
    "none": report([step(1, error="the extension ended the call: RESOURCE_EXHAUSTED")]),
    "simulator-limited": report([step(1), step(2), step(4, p99_ms=300, cpu_s=19.0), step(3)]),
    "aborted": report([step(1)], aborted="violation"),
    "interrupted": report([], aborted="interrupted"),
}


def test_the_closing_sentence_names_cameras_rate_p99_and_the_first_failure() -> None:
    assert exit_sentence(REPORTS["capacity"]) == (
        "sustains 23 cameras at 15 frames/s, p99 182 ms (24 failed: p99 231 ms over the 200 ms SLO)"
    )
    assert "up to --max-streams 32" in exit_sentence(REPORTS["at-least"])
    assert exit_sentence(REPORTS["none"]).startswith("sustains no camera at 15 frames/s")


def test_a_simulator_limited_search_claims_no_capacity_and_names_the_simulator() -> None:
    sentence = exit_sentence(REPORTS["simulator-limited"])
    assert sentence.startswith("no capacity reported: the simulator, not the extension")
    assert "simulate used 1.90 of the 2 cores" in sentence
    assert "the extension sustains 3 cameras" in sentence  # still a lower bound


@pytest.mark.parametrize(
    ("name", "code"),
    [("capacity", 0), ("at-least", 0), ("none", 1), ("simulator-limited", 1),
     ("aborted", 4), ("interrupted", 130)],
)  # fmt: skip
def test_exit_codes(name: str, code: int) -> None:
    assert exit_code(REPORTS[name]) == code


def test_a_step_line_shows_what_was_offered_acked_and_why_it_failed() -> None:
    assert step_line(step(4)) == (
        "4 cameras: offered 60.0 frames/s, acked 60.0, p50 40 ms, p99 150 ms, "
        "0 dropped, 0 timed out: pass"
    )
    line = step_line(step(4, p99_ms=300, cpu_s=19.0))
    assert line.endswith(
        "FAIL (p99 300 ms over the 200 ms SLO) "
        "[simulator-limited: simulate used 1.90 of the 2 cores it may use]"
    )


def test_text_from_the_extension_is_escaped_in_lines() -> None:
    line = step_line(step(1, error="the extension ended the call: \x1b[2J[/]"))
    assert "\x1b" not in line


@pytest.mark.parametrize("name", list(REPORTS))
def test_every_outcome_is_a_valid_document(name: str, tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    write_document(REPORTS[name], path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert_valid(document, "simulate-capacity")
    assert document == to_document(REPORTS[name])
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_the_schema_is_published_and_strict() -> None:
    assert "simulate-capacity" in SCHEMA_NAMES
    schema = load_schema("simulate-capacity")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema_errors({}, "simulate-capacity")


def _set(key: str, value: object) -> Callable[[Document], None]:
    return lambda document: document.__setitem__(key, value)


def _set_step(key: str, value: object) -> Callable[[Document], None]:
    return lambda document: document["steps"][0].__setitem__(key, value)


MISTAKES: dict[str, Callable[[Document], None]] = {
    "unknown outcome": _set("outcome", "maybe"),
    "cameras as text": _set("cameras", "23"),
    "capacity without cameras": _set("cameras", None),
    "capacity with an error": _set("error", "boom"),
    "capacity without its failure": _set("first_failed", None),
    "unknown key": _set("capacity", 23),
    "step without latency": lambda d: d["steps"][0].pop("latency_ms"),
    "passing step with reasons": _set_step("reasons", ["p99 too high"]),
    "failing step without reasons": lambda d: d["steps"][5].__setitem__("reasons", []),
    "negative rate": _set_step("acked_fps", -1.0),
    "zero cameras in a step": _set_step("streams", 0),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_schema_catches_each_mistake(mistake: str) -> None:
    document = copy.deepcopy(to_document(REPORTS["capacity"]))
    MISTAKES[mistake](document)
    assert schema_errors(document, "simulate-capacity"), f"{mistake} was accepted"


def test_an_aborted_search_has_an_error_and_no_cameras() -> None:
    document = to_document(REPORTS["aborted"])
    assert (document["outcome"], document["cameras"]) == ("violation", None)
    broken = dict(document, error=None)
    assert schema_errors(broken, "simulate-capacity")
