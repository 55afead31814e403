"""Every server check can fail: each runs against a mutant that breaks exactly its rule.

A mutant (``tests/peers/mutant_servers.py``) is a correct dark/light extension with one
fault switched on. Each case selects one check, runs it against its mutant and expects
a failure (a warning for SHOULD checks, INFO checks and the tolerated Q5) whose message
names the broken rule in parentheses. The correct base servicer and lvatool's own
server pass every check, so each failure is the fault's doing and nothing else's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from lvatool.conformance import checks_of
from lvatool.conformance.results import CheckResult, Outcome, SuiteReport
from lvatool.conformance.suites import Selection, run_server_suite
from lvatool.server import ExtensionServer, ServerOptions, SessionPolicy
from lvatool.sim.call import ConnectOptions
from tests.peers.mutant_servers import Fault, MutantServer

USERNAME, PASSWORD = "u", "p"
PROFILE = "darklight"


@dataclass(frozen=True)
class Case:
    """Check ``check`` against the mutant with ``fault``: ``outcome``, naming ``rule``."""

    check: str
    fault: Fault
    rule: str
    outcome: Outcome = Outcome.FAIL
    strict: bool = False

    @property
    def id(self) -> str:
        return f"{self.check}-{self.fault}" + ("-strict" if self.strict else "")


F, W = Outcome.FAIL, Outcome.WARN

CASES = [
    Case("S01", Fault.DESCRIPTOR_ACKS_ZERO, "H4"),
    Case("S01", Fault.DESCRIPTOR_VIDEO_FORMAT, "H4"),
    Case("S02", Fault.SKIPS_A_NUMBER, "Q1"),
    Case("S02", Fault.NUMBERS_ZERO, "Q5", W),
    Case("S02", Fault.DESCRIPTOR_NUMBERED_ZERO, "Q5", W),
    Case("S03", Fault.ACKS_TWICE, "Q2"),
    Case("S04", Fault.NO_TIMESTAMP_ECHO, "Q2", W),  # a SHOULD check …
    Case("S04", Fault.NO_TIMESTAMP_ECHO, "Q2", F, strict=True),  # … fails only when strict
    Case("S05", Fault.RESULTS_OF_PREVIOUS_FRAME, "Q3"),
    Case("S06", Fault.READS_AFTER_ACK, "M3"),
    Case("S09", Fault.DEFAULT_RECEIVE_LIMIT, "E2"),
    Case("S10", Fault.ACKS_OUTSIDE_REFERENCE, "M4"),
    Case("S11", Fault.ACCEPTS_BAD_HANDLE, "M4"),
    Case("S12", Fault.SHARED_STATE, "H1"),
    Case("S13", Fault.DROPS_PENDING_ON_HALF_CLOSE, "Q6"),
    Case("S14", Fault.WEDGED_AFTER_CANCEL, "A3"),
    Case("S15", Fault.IGNORES_CREDENTIALS, "A1"),
    Case("S16", Fault.CONFIDENCE_OUT_OF_RANGE, "R2"),
    Case("S16", Fault.TYPE_MISMATCH, "R1"),
    Case("S18", Fault.INVERTED_LABELS, "R4"),
]

# Silence costs a check its deadline (S17's is 20 s), so these run concurrently.
SILENT_CASES = [
    Case("S07", Fault.SILENT_ON_JPEG, "H6"),
    Case("S08", Fault.SILENT_ON_PIXEL_FORMAT, "H6"),
    Case("S13", Fault.IGNORES_HALF_CLOSE, "Q6"),
    Case("S17", Fault.NEVER_ACKS, "Q2", W),  # an INFO check only ever warns
]


def connect(target: str) -> ConnectOptions:
    return ConnectOptions(target=target, connect_timeout_s=5, username=USERNAME, password=PASSWORD)


def run_suite_against(target: str, selection: Selection) -> SuiteReport:
    return run_server_suite(
        connect(target), selection, username=USERNAME, password=PASSWORD, profile=PROFILE
    )


def run_case(case: Case) -> CheckResult:
    with MutantServer(case.fault, credentials=(USERNAME, PASSWORD)) as mutant:
        report = run_suite_against(mutant.address, Selection((case.check,), strict=case.strict))
    (result,) = report.results
    return result


def assert_caught(case: Case, result: CheckResult) -> None:
    assert result.id == case.check
    assert result.outcome is case.outcome, f"{result.outcome.value}: {result.message}"
    named = re.search(rf"\([^()]*\b{case.rule}\b[^()]*\)", result.message)
    assert named, f"the message does not name {case.rule}: {result.message}"


def assert_all_pass(report: SuiteReport) -> None:
    assert {r.id for r in report.results} == {c.id for c in checks_of("server")}
    problems = {r.id: f"{r.outcome.value}: {r.message}" for r in report.results
                if r.outcome is not Outcome.PASS}  # fmt: skip
    assert not problems


@dataclass
class LongRuns:
    silent: dict[Case, CheckResult]
    control: SuiteReport


@pytest.fixture(scope="module")
def long_runs() -> Iterator[LongRuns]:
    """The silent mutants and the whole suite against the fault-free mutant, all at once,
    each against a server of its own (they mostly wait, so they barely compete)."""

    def control() -> SuiteReport:
        with MutantServer(Fault.NONE, credentials=(USERNAME, PASSWORD)) as mutant:
            return run_suite_against(mutant.address, Selection())

    with ThreadPoolExecutor(max_workers=len(SILENT_CASES) + 1) as pool:
        silent = {case: pool.submit(run_case, case) for case in SILENT_CASES}
        correct = pool.submit(control)
        yield LongRuns(
            {case: future.result(timeout=90) for case, future in silent.items()},
            correct.result(timeout=90),
        )


def test_every_server_check_has_a_mutant() -> None:
    assert {c.check for c in CASES + SILENT_CASES} == {c.id for c in checks_of("server")}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_fails_against_its_mutant(case: Case) -> None:
    assert_caught(case, run_case(case))


@pytest.mark.parametrize("case", SILENT_CASES, ids=lambda c: c.id)
def test_check_fails_against_its_silent_mutant(case: Case, long_runs: LongRuns) -> None:
    assert_caught(case, long_runs.silent[case])


def test_fault_free_mutant_passes_every_check(long_runs: LongRuns) -> None:
    """The mutants' common base is correct: each failure above is its fault's alone."""
    assert_all_pass(long_runs.control)


def test_reference_server_passes_every_check() -> None:
    policy = SessionPolicy(credentials=(USERNAME, PASSWORD))
    options = ServerOptions(host="127.0.0.1", port=0, policy=policy)
    with ExtensionServer(options) as server:
        report = run_suite_against(server.address, Selection())
    assert_all_pass(report)
