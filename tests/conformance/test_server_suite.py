"""Every server check can fail, and only when it should: the check-by-mutant matrix.

A mutant (``tests/peers/mutant_servers.py``) is a correct dark/light extension with one
fault switched on; a quirky server is a correct one with a legal but unusual behaviour
(answering late, out of order, in batches, serving JPEG only). The whole server suite
runs once against each, concurrently, and the tests below read that one matrix:

- every (check, rule) pair of the catalogue fails on at least one mutant, with that rule
  named in parentheses in the message;
- each mutant fails exactly the checks it targets plus the cascades listed here, no
  fewer and no more (a cascade is a later check that cannot help seeing the same fault);
- the negative controls, and lvatool's own server, pass every check.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from lvatool.conformance import checks_of
from lvatool.conformance.catalogue import Check, Level
from lvatool.conformance.results import CheckResult, Outcome, SuiteReport
from lvatool.conformance.runner import CheckContext, run_suite
from lvatool.conformance.server_checks import probe_candidates
from lvatool.conformance.server_checks.probe_frames import describe_frame
from lvatool.conformance.suites import Selection, ServerSuiteOptions, run_server_suite
from lvatool.media import Encoding, FrameFormat, PixelFormat
from lvatool.server import ExtensionServer, ServerOptions, SessionPolicy
from lvatool.sim.call import ConnectOptions
from tests.peers.mutant_servers import CONFIGURATION, Fault, MutantServer, Quirk

USERNAME, PASSWORD = "u", "p"
OPTIONS = ServerSuiteOptions(username=USERNAME, password=PASSWORD, profile="darklight")

#: What each mutant must fail: {check: the rule its message names}.
TARGETS: dict[Fault, dict[str, str]] = {
    Fault.DESCRIPTOR_ACKS_ZERO: {"S01": "H4"},
    Fault.DESCRIPTOR_VIDEO_FORMAT: {"S01": "H4"},
    Fault.SAMPLE_FIRST: {"S01": "H2"},
    Fault.SKIPS_A_NUMBER: {"S02": "Q1"},
    Fault.NUMBERS_ZERO: {"S02": "Q5"},
    Fault.DESCRIPTOR_NUMBERED_ZERO: {"S02": "Q5"},
    Fault.ACKS_TWICE: {"S03": "Q2"},
    Fault.SECOND_DESCRIPTOR: {"S03": "H2"},
    Fault.NEVER_ACKS: {"S03": "Q2", "S13": "Q6"},
    Fault.NO_TIMESTAMP_ECHO: {"S04": "Q2"},
    Fault.RESULTS_OF_PREVIOUS_FRAME: {"S05": "Q3"},
    Fault.RESULTS_LAG_BY_ONE: {"S05": "Q3"},
    Fault.READS_AFTER_ACK: {"S06": "M3"},
    Fault.SHARED_MEMORY_CRASHES: {"S06": "M1", "S10": "M1"},
    Fault.SILENT_ON_JPEG: {"S07": "H6"},
    Fault.SILENT_ON_PIXEL_FORMAT: {"S08": "H6"},
    Fault.CRASHES_ON_FRAMES: {"S07": "H6", "S08": "H6"},
    Fault.DECODES_JPEG_ONLY: {"S07": "H6", "S08": "H6"},
    Fault.NEEDS_CONFIGURATION: {"S07": "H6", "S08": "H6"},
    Fault.DEFAULT_RECEIVE_LIMIT: {"S09": "E2"},
    Fault.ACKS_OUTSIDE_REFERENCE: {"S10": "M4"},
    Fault.OPENS_ANY_HANDLE: {"S11": "M4"},
    Fault.WEDGED_AFTER_BAD_INPUT: {"S10": "A3", "S11": "A3"},
    Fault.SHARED_STATE: {"S12": "H1"},
    Fault.THREE_WORKERS: {"S12": "H1"},
    Fault.IGNORES_HALF_CLOSE: {"S13": "Q6"},
    Fault.DROPS_PENDING_ON_HALF_CLOSE: {"S13": "Q6"},
    Fault.WEDGED_AFTER_CANCEL: {"S14": "A3"},
    Fault.IGNORES_CREDENTIALS: {"S15": "A1"},
    Fault.CONFIDENCE_OUT_OF_RANGE: {"S16": "R2"},
    Fault.BOX_OUT_OF_RANGE: {"S16": "R2"},
    Fault.TYPE_MISMATCH: {"S16": "R1"},
    Fault.NO_VALUE: {"S16": "R3"},
    Fault.DIES_MID_STREAM: {"S17": "Q2"},
    Fault.INVERTED_LABELS: {"S18": "R4"},
    Fault.SILENT: {"S01": "H4", "S07": "H6", "S08": "H6"},
    Fault.SILENT_AFTER_REPLY: {"S03": "Q2", "S13": "Q6", "S07": "H6", "S08": "H6"},
    # A server that serves its first session and then refuses (or crashes on) every
    # later one breaks H4 (or Q2) in every check that opens a session: this pair shows
    # those generic branches of each check failing.
    Fault.SERVES_FIRST_SESSION_ONLY: {
        **dict.fromkeys(["S01", "S02", "S03", "S04", "S05", "S06", "S12", "S13"], "H4"),
        **dict.fromkeys(["S14", "S15", "S17", "S18"], "H4"),
    },
    Fault.ANSWERS_FIRST_SESSION_ONLY: {
        **dict.fromkeys(["S02", "S03", "S04", "S05", "S06", "S12", "S15", "S17"], "Q2"),
        "S18": "Q2",
        "S13": "Q6",
    },
}

#: Later checks that see the same fault again, listed so the matrix stays honest.
CASCADES: dict[Fault, set[str]] = {
    # Each frame's results on another frame: shared memory and concurrency see it too.
    Fault.RESULTS_OF_PREVIOUS_FRAME: {"S06", "S12"},
    # … and a frame alone gets nothing, which the darklight profile calls wrong.
    Fault.RESULTS_LAG_BY_ONE: {"S06", "S12", "S18"},
    # Ending OK with samples unanswered is unanswered (Q2) and no format is processed.
    Fault.DROPS_PENDING_ON_HALF_CLOSE: {"S03", "S07", "S08"},
    Fault.NEVER_ACKS: {"S07", "S08"},
    # No format is served at all when the first message is a sample.
    Fault.SAMPLE_FIRST: {"S07", "S08"},
    # Wedged after S14's cancel: every later session is refused.
    Fault.WEDGED_AFTER_CANCEL: {"S15", "S17"},
    # Wedged after S10's bad reference: every later session is refused.
    Fault.WEDGED_AFTER_BAD_INPUT: {"S12", "S13", "S14", "S15", "S17"},
    # Later sessions refused with UNAVAILABLE: a format refusal H6 does not allow (a
    # warning), the large frame and the shared buffer are refused too.
    Fault.SERVES_FIRST_SESSION_ONLY: {"S07", "S08", "S09", "S10", "S11"},
    Fault.ANSWERS_FIRST_SESSION_ONLY: {"S07", "S08", "S09", "S10", "S11", "S14"},
}

#: Legal but unusual servers: each must pass every check.
CONTROLS = [Quirk.NONE, Quirk.LAGGING, Quirk.OUT_OF_ORDER, Quirk.JPEG_ONLY, Quirk.BATCHES_OF_4]

FAILED = (Outcome.FAIL, Outcome.WARN, Outcome.ERROR)


def connect(target: str) -> ConnectOptions:
    return ConnectOptions(target=target, connect_timeout_s=5, username=USERNAME, password=PASSWORD)


def run_against(
    fault: Fault = Fault.NONE,
    quirk: Quirk = Quirk.NONE,
    selection: Selection | None = None,
    options: ServerSuiteOptions = OPTIONS,
) -> SuiteReport:
    with MutantServer(fault, credentials=(USERNAME, PASSWORD), quirk=quirk) as server:
        return run_server_suite(connect(server.address), selection or Selection(), options)


def names_rule(result: CheckResult, rule: str) -> bool:
    """The message names ``rule`` in parentheses, as every failure must."""
    return re.search(rf"\([^()]*\b{rule}\b[^()]*\)", result.message) is not None


@pytest.fixture(scope="module")
def matrix() -> Iterator[dict[Fault | Quirk, SuiteReport]]:
    """The whole suite against every mutant and control, four at a time."""
    peers: list[Fault | Quirk] = [*TARGETS, *CONTROLS]

    def run(peer: Fault | Quirk) -> SuiteReport:
        if isinstance(peer, Quirk):
            return run_against(quirk=peer)
        return run_against(peer)

    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = dict(zip(peers, pool.map(run, peers), strict=True))
    yield reports


def test_every_fault_is_in_the_matrix() -> None:
    assert set(TARGETS) == set(Fault) - {Fault.NONE}
    assert set(CASCADES) <= set(TARGETS)


def test_every_check_and_rule_is_shown_failing(
    matrix: dict[Fault | Quirk, SuiteReport],
) -> None:
    """Every (check, rule) of the catalogue fails on a mutant, naming that rule."""
    missing = []
    for check in checks_of("server"):
        for rule in check.rules:
            shown = [
                fault
                for fault, targets in TARGETS.items()
                if targets.get(check.id) == rule
                and any(
                    r.id == check.id and r.outcome in FAILED and names_rule(r, rule)
                    for r in matrix[fault].results
                )
            ]
            if not shown:
                missing.append(f"{check.id}/{rule}")
    assert not missing, f"never shown failing: {missing}"


@pytest.mark.parametrize("fault", list(TARGETS), ids=str)
def test_each_mutant_fails_its_targets_and_nothing_else(
    fault: Fault, matrix: dict[Fault | Quirk, SuiteReport]
) -> None:
    report = matrix[fault]
    results = {r.id: r for r in report.results}
    for check_id, rule in TARGETS[fault].items():
        result = results[check_id]
        assert result.outcome in FAILED, f"{check_id}: {result.outcome.value}: {result.message}"
        assert names_rule(result, rule), f"{check_id} does not name {rule}: {result.message}"
    failing = {r.id for r in report.results if r.outcome in FAILED}
    expected = set(TARGETS[fault]) | CASCADES.get(fault, set())
    assert failing == expected, {i: results[i].message for i in failing ^ expected}
    assert not [r for r in report.results if r.outcome is Outcome.ERROR]


def test_failures_name_a_rule_of_their_check(matrix: dict[Fault | Quirk, SuiteReport]) -> None:
    """A check's rules are the rules it can fail, and each failure names one of them."""
    rules = {c.id: c.rules for c in checks_of("server")}
    wrong = [
        f"{fault}/{r.id}: {r.message}"
        for fault, report in matrix.items()
        for r in report.results
        if r.outcome in FAILED and not any(names_rule(r, rule) for rule in rules[r.id])
    ]
    assert not wrong


@pytest.mark.parametrize("quirk", CONTROLS, ids=str)
def test_legal_but_unusual_servers_pass_every_check(
    quirk: Quirk, matrix: dict[Fault | Quirk, SuiteReport]
) -> None:
    report = matrix[quirk]
    problems = {r.id: f"{r.outcome.value}: {r.message}" for r in report.results
                if r.outcome is not Outcome.PASS}  # fmt: skip
    assert not problems
    expected_probe = "JPG 160x120" if quirk is Quirk.JPEG_ONLY else "RAW BGR24 160x120"
    assert report.properties["probe_format"] == expected_probe


def test_a_crash_is_not_a_refusal(matrix: dict[Fault | Quirk, SuiteReport]) -> None:
    """UNKNOWN after the handshake fails S07/S08 and quotes the server's own words (H6)."""
    results = {r.id: r for r in matrix[Fault.CRASHES_ON_FRAMES].results}
    for check_id in ("S07", "S08"):
        assert "UNKNOWN" in results[check_id].message
        assert "cannot reshape array" in results[check_id].message
    skipped = [r for r in results.values() if r.outcome is Outcome.SKIP]
    assert skipped and all("processed none of the probe formats" in r.message for r in skipped)


def test_a_server_that_serves_only_jpeg_is_probed_with_jpeg(
    matrix: dict[Fault | Quirk, SuiteReport],
) -> None:
    report = matrix[Fault.DECODES_JPEG_ONLY]
    assert report.properties["probe_format"] == "JPG 160x120"
    assert "RAW BGR24 160x120:" in report.properties["probe_trials"]


def test_the_extension_configuration_makes_a_needy_server_pass() -> None:
    options = replace(OPTIONS, extension_configuration=CONFIGURATION)
    report = run_against(Fault.NEEDS_CONFIGURATION, options=options)
    assert [r.id for r in report.results if r.outcome is not Outcome.PASS] == []
    assert report.properties["extension_configuration"] == CONFIGURATION


def test_a_server_at_its_limit_that_refuses_with_resource_exhausted_passes() -> None:
    policy = SessionPolicy(credentials=(USERNAME, PASSWORD), max_sessions=3)
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0, policy=policy)) as server:
        report = run_server_suite(connect(server.address), Selection(("S12",)), OPTIONS)
    (result,) = report.results
    assert result.outcome is Outcome.PASS, result.message
    assert "its limit is 3" in result.message


@pytest.mark.parametrize("fault", [Fault.SILENT, Fault.SILENT_AFTER_REPLY,
                                   Fault.IGNORES_HALF_CLOSE], ids=str)  # fmt: skip
def test_a_silent_peer_costs_the_suite_its_budget_at_most(fault: Fault) -> None:
    budget = 30.0
    started = time.monotonic()
    report = run_against(fault, options=replace(OPTIONS, timeout_s=budget))
    elapsed = time.monotonic() - started
    assert elapsed < budget + 5, f"{elapsed:.1f} s"
    assert any(r.outcome is Outcome.FAIL for r in report.results)


def test_a_spent_budget_skips_the_remaining_checks_with_the_reason() -> None:
    """The runner gives each check at most what is left, then skips the rest."""

    def waits_until_cancelled(context: CheckContext) -> str:
        context.cancelled.wait(60)
        return "cancelled"

    checks = [Check(f"X{i}", "waits", ("Q2",), Level.MUST, 60.0, "test", waits_until_cancelled)
              for i in range(3)]  # fmt: skip
    started = time.monotonic()
    report = run_suite("test", "nowhere", checks, None, budget_s=3.0)
    assert time.monotonic() - started < 3.0 + 2.5  # the runner's grace for a stuck thread
    first, *rest = report.results
    assert first.outcome is Outcome.FAIL and "deadline" in first.message
    assert rest and all(r.outcome is Outcome.SKIP and "budget" in r.message for r in rest)


def test_strict_turns_a_should_warning_into_a_failure() -> None:
    report = run_against(Fault.NO_TIMESTAMP_ECHO, selection=Selection(("S04",), strict=True))
    (result,) = report.results
    assert result.outcome is Outcome.FAIL and names_rule(result, "Q2")


def test_probe_candidates_try_the_defaults_then_the_users_formats_and_sizes() -> None:
    raw_rgb = FrameFormat(Encoding.RAW, PixelFormat.RGB24)
    names = [describe_frame(f) for f in probe_candidates([raw_rgb], [(416, 416)])]
    assert names == [
        "RAW BGR24 160x120", "JPG 160x120", "PNG 160x120", "BMP 160x120", "RAW RGB24 416x416",
    ]  # fmt: skip


def test_reference_server_passes_every_check() -> None:
    policy = SessionPolicy(credentials=(USERNAME, PASSWORD))
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0, policy=policy)) as server:
        report = run_server_suite(connect(server.address), Selection(), OPTIONS)
    assert {r.id for r in report.results} == {c.id for c in checks_of("server")}
    problems = {r.id: f"{r.outcome.value}: {r.message}" for r in report.results
                if r.outcome is not Outcome.PASS}  # fmt: skip
    assert not problems
