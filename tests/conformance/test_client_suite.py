"""Every client-suite check can fail, and only when it should: the check-by-mutant matrix.

Each mutant client (tests/peers/mutant_client.py) is correct except for one deliberate
fault. The whole client suite runs against every mutant, concurrently; the matrix then
shows that every rule of every client check fails on some mutant with that rule named,
that each mutant fails only the checks it targets, and that the correct clients fail
nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lvatool.conformance import (
    CheckingExtension,
    CheckingPolicy,
    CheckResult,
    ConnectError,
    Outcome,
    Selection,
    SuiteReport,
    checks_of,
    run_client_suite,
)
from lvatool.shm import SHM_ROOT
from tests.peers.mutant_client import BEHAVIOURS, PASSWORD, USERNAME

MUTANT = Path(__file__).resolve().parents[1] / "peers" / "mutant_client.py"
PREFIX_VARIABLE = "LVATOOL_MUTANT_SHM_PREFIX"
RULE_NAMED = re.compile(r"\(([A-Z]\d+)\)")

#: The check each mutant targets, and the rule its failure must name.
TARGETS: dict[str, dict[str, str]] = {
    "ok": {},
    "ok-shm": {},
    "sample-first": {"C01": "H2"},
    "bad-descriptor": {"C02": "H6"},
    "bad-timescale": {"C02": "H3"},
    "early": {"C03": "H5"},
    "numbering": {"C04": "Q1"},
    "first-number": {"C04": "Q1"},
    "first-ack": {"C04": "Q1"},
    "short-samples": {"C05": "F1"},
    "bytes-on-shm": {"C05": "M2"},
    "reference-on-embedded": {"C05": "E1"},
    "shm-short": {"C06": "M1"},
    "outside": {"C06": "M4"},
    "overwrite": {"C07": "M3"},
    "overlap": {"C07": "M3"},
    "timestamps": {"C08": "F3"},
    "epoch": {"C08": "F3"},
    "bad-auth": {"C09": "A1"},
    "wrong-auth": {"C09": "A1"},
    "no-auth": {"C09": "A1"},
    "cancel": {"C10": "Q6"},
    "garbage": {"C01": "H2"},
}
#: Findings that are warnings unless ``--strict``: a SHOULD check, and a tolerated oddity.
WARNINGS = {("cancel", "C10"), ("epoch", "C08")}
#: Other checks a mutant may fail besides its target, because of it. None today: the
#: checks of the stream skip when the handshake failed, and the protocol core records
#: each violation under its own rule. A new cascade must be listed here, on purpose.
CASCADES: dict[str, set[str]] = {}
#: Client checks that judge shared memory, so pass only for a shared-memory client.
SHARED_MEMORY_CHECKS = {"C06", "C07"}


def mutant_files(prefix: str) -> set[str]:
    """The /dev/shm files of mutants started with ``prefix``."""
    return {path.name for path in SHM_ROOT.glob(f"{prefix}-*")}


def run_mutant(behaviour: str, selection: Selection | None = None, **kwargs: object) -> SuiteReport:
    """The client suite (or its ``selection``) judging one mutant behaviour."""
    return run_client_suite(
        [sys.executable, str(MUTANT), behaviour, "{target}"],
        selection=selection or Selection(),
        timeout_s=30,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def matrix() -> Iterator[dict[str, SuiteReport]]:
    """The whole client suite against every mutant, with credentials configured (C09)."""
    prefix = f"lvatool-mutant-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PREFIX_VARIABLE, prefix)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="mutant") as pool:
            reports = pool.map(
                lambda b: run_mutant(b, username=USERNAME, password=PASSWORD), BEHAVIOURS
            )
            results = dict(zip(BEHAVIOURS, reports, strict=True))
        elapsed = time.monotonic() - started
    print(f"\nclient check-by-mutant matrix: {len(BEHAVIOURS)} mutants in {elapsed:.1f} s")
    assert not mutant_files(prefix), "a mutant left its /dev/shm file behind"
    yield results


def failures(report: SuiteReport) -> dict[str, CheckResult]:
    """The checks that did not pass or skip, by ID."""
    return {r.id: r for r in report.results if r.outcome not in (Outcome.PASS, Outcome.SKIP)}


def test_every_behaviour_of_the_mutant_is_in_the_matrix() -> None:
    assert set(TARGETS) == set(BEHAVIOURS)


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_each_mutant_fails_only_the_checks_it_targets(
    matrix: dict[str, SuiteReport], behaviour: str
) -> None:
    report = matrix[behaviour]
    assert len(report.results) == len(checks_of("client"))
    failed = failures(report)
    assert set(failed) - CASCADES.get(behaviour, set()) == set(TARGETS[behaviour]), {
        i: r.message for i, r in failed.items()
    }
    for check_id, rule in TARGETS[behaviour].items():
        result = failed[check_id]
        expected = Outcome.WARN if (behaviour, check_id) in WARNINGS else Outcome.FAIL
        assert result.outcome is expected, result.message
        assert f"({rule})" in result.message, result.message
    assert report.failed is any(r.outcome is Outcome.FAIL for r in failed.values())


def test_every_rule_of_every_client_check_is_shown_failing(
    matrix: dict[str, SuiteReport],
) -> None:
    """Each (check, rule) pair fails on at least one mutant, naming that rule."""
    shown = {
        (result.id, rule)
        for report in matrix.values()
        for result in failures(report).values()
        for rule in RULE_NAMED.findall(result.message)
    }
    pairs = {(check.id, rule) for check in checks_of("client") for rule in check.rules}
    assert pairs - shown == set()


def test_a_failure_names_only_rules_of_its_check(matrix: dict[str, SuiteReport]) -> None:
    """A check's rules are the rules it can fail; its message names the one broken."""
    rules = {check.id: set(check.rules) for check in checks_of("client")}
    for behaviour, report in matrix.items():
        for result in failures(report).values():
            named = set(RULE_NAMED.findall(result.message))
            assert named, f"{behaviour} {result.id}: no rule named in {result.message!r}"
            assert named <= rules[result.id], f"{behaviour} {result.id}: {result.message}"
            assert set(result.rules) == rules[result.id]


def test_a_mistake_repeated_in_every_message_is_one_line_with_its_count(
    matrix: dict[str, SuiteReport],
) -> None:
    """Issue 8 (unbounded warnings): 'early' sends every sample before the reply (H5);
    the verdict names the mistake once with how often, not once per message."""
    message = failures(matrix["early"])["C03"].message
    assert message.count("before the server's descriptor") == 1, message
    assert re.search(r"messages \d+, \d+ … \(\d+ times\): ", message), message


@pytest.mark.parametrize("behaviour", ["ok", "ok-shm"])
def test_correct_clients_pass_every_check_that_applies(
    matrix: dict[str, SuiteReport], behaviour: str
) -> None:
    report = matrix[behaviour]
    passed = {r.id for r in report.results if r.outcome is Outcome.PASS}
    applies = {c.id for c in checks_of("client")} - SHARED_MEMORY_CHECKS
    if behaviour == "ok-shm":
        applies |= SHARED_MEMORY_CHECKS
    assert passed == applies, {r.id: r.message for r in report.results}
    assert not report.failed


def test_overlapping_an_unacknowledged_region_fails_whatever_the_timing(
    matrix: dict[str, SuiteReport],
) -> None:
    """M3 from the references alone: each frame spoils the previous region before the
    checker can hash it, so only the overlap itself shows the fault."""
    result = failures(matrix["overlap"])["C07"]
    assert result.outcome is Outcome.FAIL
    assert "(M3)" in result.message and "overlaps" in result.message


@pytest.mark.parametrize(("behaviour", "check_id", "rule"), [("epoch", "C08", "F3"),
                                                             ("cancel", "C10", "Q6")])  # fmt: skip
def test_warnings_fail_when_strict(behaviour: str, check_id: str, rule: str) -> None:
    """The matrix shows them as warnings; ``--strict`` makes them failures."""
    (result,) = run_mutant(behaviour, Selection(select=(check_id,), strict=True)).results
    assert result.outcome is Outcome.FAIL, result.message
    assert f"({rule})" in result.message


def test_a_client_that_never_connects_is_a_connect_error() -> None:
    with pytest.raises(ConnectError, match="never opened a session"):
        run_client_suite([sys.executable, "-c", "pass"], timeout_s=30)


def test_a_client_that_cannot_start_is_a_connect_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match="cannot start"):
        run_client_suite([str(tmp_path / "no-such-client")], timeout_s=30)


def test_a_terminated_shared_memory_mutant_removes_its_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The checker holds its reply, so the mutant is still waiting when it is terminated.
    prefix = f"lvatool-mutant-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(PREFIX_VARIABLE, prefix)
    policy = CheckingPolicy(reply_delay_s=10.0)
    with CheckingExtension(policy=policy) as checker:
        process = subprocess.Popen(
            [sys.executable, str(MUTANT), "ok-shm", checker.address],
            stdin=subprocess.DEVNULL,
            env=os.environ.copy(),
        )
        try:
            assert checker.servicer.session_started.wait(15.0), "the mutant opened no session"
            assert mutant_files(prefix), "the mutant made no /dev/shm file"
            process.send_signal(signal.SIGTERM)
            assert process.wait(10.0) == 128 + signal.SIGTERM
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10.0)
    assert not mutant_files(prefix)
