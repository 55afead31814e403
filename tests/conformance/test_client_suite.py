"""Every client-suite check can fail: a mutant client breaks one rule, its check says so.

Each mutant (tests/peers/mutant_client.py) is correct except for one deliberate fault;
the run selects only the check meant to catch it and expects a failure naming the rule.
The correct behaviours pass every check that applies to them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from lvatool.conformance import (
    CheckingExtension,
    CheckingPolicy,
    ConnectError,
    Outcome,
    Selection,
    SuiteReport,
    run_client_suite,
)
from lvatool.shm import SHM_ROOT

MUTANT = Path(__file__).resolve().parents[1] / "peers" / "mutant_client.py"
PREFIX_VARIABLE = "LVATOOL_MUTANT_SHM_PREFIX"


@pytest.fixture(autouse=True)
def own_shm_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """A /dev/shm name prefix of this test's own, so parallel runs cannot confuse the count."""
    monkeypatch.setenv(PREFIX_VARIABLE, f"lvatool-mutant-{uuid.uuid4().hex[:8]}")


def mutant_files() -> set[str]:
    """The /dev/shm files of this test's mutants."""
    return {path.name for path in SHM_ROOT.glob(f"{os.environ[PREFIX_VARIABLE]}-*")}


def run_mutant(behaviour: str, selection: Selection | None = None, **kwargs: object) -> SuiteReport:
    """The client suite (or its ``selection``) judging one mutant behaviour."""
    before = mutant_files()
    report = run_client_suite(
        [sys.executable, str(MUTANT), behaviour, "{target}"],
        selection=selection or Selection(),
        timeout_s=30,
        **kwargs,  # type: ignore[arg-type]
    )
    assert mutant_files() <= before, f"{behaviour} left its /dev/shm file behind"
    return report


@pytest.mark.parametrize(
    ("check_id", "behaviour", "rule"),
    [
        ("C01", "sample-first", "H2"),
        ("C02", "bad-descriptor", "H3"),
        ("C02", "bad-timescale", "H3"),
        ("C03", "early", "H5"),
        ("C04", "numbering", "Q1"),
        ("C05", "short-samples", "F1"),
        ("C06", "shm-short", "M1"),
        ("C07", "overwrite", "M3"),
        ("C08", "timestamps", "F3"),
        ("C09", "bad-auth", "A1"),
    ],
)
def test_each_check_catches_its_mutant(check_id: str, behaviour: str, rule: str) -> None:
    report = run_mutant(behaviour, Selection(select=(check_id,)))
    (result,) = report.results
    assert result.id == check_id
    assert result.outcome is Outcome.FAIL, result.message
    assert rule in result.message
    assert report.failed


def test_cancelling_instead_of_half_closing_warns_and_fails_when_strict() -> None:
    (result,) = run_mutant("cancel", Selection(select=("C10",))).results
    assert result.outcome is Outcome.WARN, result.message
    assert "Q6" in result.message and "cancelled" in result.message
    (strict,) = run_mutant("cancel", Selection(select=("C10",), strict=True)).results
    assert strict.outcome is Outcome.FAIL, strict.message
    assert "Q6" in strict.message


@pytest.mark.parametrize("behaviour", ["ok", "ok-shm"])
def test_correct_clients_pass_every_check_that_applies(behaviour: str) -> None:
    report = run_mutant(behaviour)
    outcomes = {r.id: r.outcome for r in report.results}
    assert len(outcomes) == 10
    bad = {r.id: r.message for r in report.results if r.outcome not in (Outcome.PASS, Outcome.SKIP)}
    assert not bad
    applies = {"C01", "C02", "C03", "C04", "C05", "C08", "C10"}
    if behaviour == "ok-shm":
        applies |= {"C06", "C07"}
    assert {i for i, o in outcomes.items() if o is Outcome.PASS} == applies
    assert not report.failed


def test_configured_credentials_that_the_client_does_not_send_fail() -> None:
    report = run_mutant("ok", Selection(select=("C09",)), username="lvatool", password="secret")
    (result,) = report.results
    assert result.outcome is Outcome.FAIL, result.message
    assert "A1" in result.message and "no x-ms-authentication" in result.message


def test_a_client_that_never_connects_is_a_connect_error() -> None:
    with pytest.raises(ConnectError, match="never opened a session"):
        run_client_suite([sys.executable, "-c", "pass"], timeout_s=30)


def test_a_client_that_cannot_start_is_a_connect_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match="cannot start"):
        run_client_suite([str(tmp_path / "no-such-client")], timeout_s=30)


def test_a_terminated_shared_memory_mutant_removes_its_file() -> None:
    # The checker holds its reply, so the mutant is still waiting when it is terminated.
    policy = CheckingPolicy(reply_delay_s=10.0)
    before = mutant_files()
    with CheckingExtension(policy=policy) as checker:
        process = subprocess.Popen(
            [sys.executable, str(MUTANT), "ok-shm", checker.address], stdin=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 15.0
            while not checker.sessions and time.monotonic() < deadline:
                time.sleep(0.02)
            assert checker.sessions, "the mutant never opened its session"
            assert mutant_files() - before, "the mutant made no /dev/shm file"
            process.send_signal(signal.SIGTERM)
            assert process.wait(10.0) == 128 + signal.SIGTERM
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10.0)
    assert mutant_files() <= before
