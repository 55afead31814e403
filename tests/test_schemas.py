"""The published JSON Schemas: well-formed, shipped, and strict enough to catch mistakes.

The outputs themselves are validated where real runs write them (tests/sim/simrun.py,
tests/conformance/test_json_schema.py); here real documents are rendered from the real
records, then broken one way at a time, to prove each schema can fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from lvatool.conformance.report import to_json
from lvatool.conformance.results import CheckResult, Outcome, SuiteReport
from lvatool.schemas import SCHEMA_NAMES, load_schema
from lvatool.sim.stats import RunSummary, StreamStats
from tests.schemas import assert_valid, schema_errors

Document = dict[str, Any]


def test_every_shipped_schema_is_listed_and_draft_2020_12() -> None:
    files = {
        entry.name.removesuffix(".schema.json")
        for entry in resources.files("lvatool.schemas").iterdir()
        if entry.name.endswith(".schema.json")
    }
    assert files == set(SCHEMA_NAMES)
    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema_errors({}, name), f"{name} accepts an empty object"


def test_unknown_schema_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="simulate-summary"):
        load_schema("simulate")


# -- simulate --json -----------------------------------------------------------------------


def summary(transfer: str = "shm") -> Document:
    """A real summary, rendered by RunSummary.as_dict from real stats."""
    stats = StreamStats(frames_decoded=10, frames_sent=10, frames_acked=9, frames_timed_out=1)
    stats.labels.update({"dark": 4, "light": 5})
    for milliseconds in (1.5, 2.0, 30.0):
        stats.latency.add(milliseconds)
    stats.truth_compared, stats.truth_matched = 9, 9
    stats.first_sent_at, stats.last_acked_at = 100.0, 101.0
    if transfer == "shm":
        run = RunSummary(stats, 1.5, "shm", "127.0.0.1:5001", 2, shm_mib=8.0, on_full="wait")
    else:
        run = RunSummary(stats, 1.5, "embedded", "127.0.0.1:5001", 1)
    return run.as_dict()


@pytest.mark.parametrize("transfer", ["embedded", "shm"])
def test_real_summaries_are_valid(transfer: str) -> None:
    document = summary(transfer)
    assert_valid(document, "simulate-summary")
    failed = dict(document, outcome="violation", error="the extension broke the protocol")
    assert_valid(failed, "simulate-summary")
    del document["truth"]  # only present with a ground truth
    assert_valid(document, "simulate-summary")


def _set(key: str, value: object) -> Callable[[Document], None]:
    return lambda document: document.__setitem__(key, value)


SUMMARY_MISTAKES: dict[str, Callable[[Document], None]] = {
    "transfer as a sentence": _set("transfer", "shared memory (8 MiB)"),
    "shm without its size": _set("shm_mib", None),
    "shm size as text": _set("shm_mib", "8"),
    "unknown on_full": _set("on_full", "block"),
    "a key not in the schema": _set("frames_lost", 0),
    "a negative count": _set("frames_sent", -1),
    "a fractional count": _set("frames_acked", 9.5),
    "ok with an error": _set("error", "boom"),
    "a failure without its error": _set("outcome", "violation"),
    "an unknown outcome": _set("outcome", "failed"),
    "a missing key": lambda document: document.pop("late_acks"),
    "latency without p99": lambda document: document["latency_ms"].pop("p99"),
    "accuracy above 1": lambda document: document["truth"].__setitem__("accuracy", 1.5),
    "a label count as text": lambda document: document["labels"].__setitem__("dark", "4"),
}


@pytest.mark.parametrize("mistake", SUMMARY_MISTAKES)
def test_summary_schema_rejects(mistake: str) -> None:
    document = summary("shm")
    SUMMARY_MISTAKES[mistake](document)
    assert schema_errors(document, "simulate-summary"), mistake


def test_embedded_summary_with_shm_values_is_rejected() -> None:
    document = dict(summary("embedded"), on_full="wait")
    assert schema_errors(document, "simulate-summary")


# -- conformance --json --------------------------------------------------------------------


def suite_report(suite: str = "server") -> SuiteReport:
    """A report with every outcome and level, as the runner records them."""
    prefix = "S" if suite == "server" else "C"
    levels = ["MUST", "MUST", "SHOULD", "INFO", "MUST"]
    outcomes = [Outcome.PASS, Outcome.FAIL, Outcome.WARN, Outcome.SKIP, Outcome.ERROR]
    report = SuiteReport(suite, "127.0.0.1:5001")
    report.results = [
        CheckResult(f"{prefix}0{i}", f"title {i}", ("Q2", "M3"), level, outcome, "why", 0.25)
        for i, (level, outcome) in enumerate(zip(levels, outcomes, strict=True), start=1)
    ]
    report.properties = {"target": "127.0.0.1:5001", "lvatool": "0.1.0", "python": "3.11.7"}
    return report


def report_json(*suites: str) -> Any:
    return copy.deepcopy(to_json([suite_report(suite) for suite in suites]))


def test_real_reports_are_valid_alone_and_as_a_list() -> None:
    assert_valid(report_json("server"), "conformance-report")
    assert_valid(report_json("client"), "conformance-report")
    assert_valid(report_json("server", "client"), "conformance-report")


def test_properties_may_grow_with_any_string_value() -> None:
    document = report_json("server")
    document["properties"].update(extension_configuration='{"a": 1}', probe_format="RAW BGR24")
    assert_valid(document, "conformance-report")


def _check(key: str, value: object) -> Callable[[Document], None]:
    return lambda document: document["checks"][0].__setitem__(key, value)


REPORT_MISTAKES: dict[str, Callable[[Document], None]] = {
    "an unknown outcome": _check("outcome", "passed"),
    "an unknown level": _check("level", "MAY"),
    "an unknown rule": _check("rules", ["Z9"]),
    "no rules": _check("rules", []),
    "a check id of the other suite": _check("id", "C01"),
    "a negative duration": _check("duration_s", -1),
    "a key not in a check": _check("log", []),
    "a property that is not a string": lambda d: d["properties"].__setitem__("port", 5001),
    "properties without the version": lambda d: d["properties"].pop("lvatool"),
    "a summary without a count": lambda d: d["summary"].pop("warned"),
    "a key not in the report": _set("verdict", "fail"),
    "an unknown suite": _set("suite", "both"),
}


@pytest.mark.parametrize("mistake", REPORT_MISTAKES)
def test_report_schema_rejects(mistake: str) -> None:
    document = report_json("server")
    REPORT_MISTAKES[mistake](document)
    assert schema_errors(document, "conformance-report"), mistake


def test_report_schema_rejects_a_mistake_inside_a_list() -> None:
    documents = report_json("server", "client")
    documents[1]["checks"][2]["outcome"] = "warning"
    assert schema_errors(documents, "conformance-report")
