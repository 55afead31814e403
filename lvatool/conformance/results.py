"""Check results as records: every report (console, JSON, JUnit) renders these."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"  # the checker itself crashed: a bug of ours, reported as such


class RunOutcome(enum.Enum):
    """How a suite's run ended, as a whole (each check has its own :class:`Outcome`).

    A report is written however the run ends, so a CI job that was interrupted, or whose
    peer was never reached, still has a file saying so; checks that did not run are in it,
    skipped with the reason.
    """

    COMPLETED = "completed"  # every selected check ran to a verdict
    INTERRUPTED = "interrupted"  # Ctrl-C (SIGINT) or SIGTERM: exit code 130
    CANNOT_CONNECT = "cannot connect"  # the peer was not reached or not started: exit 3
    CANNOT_LISTEN = "cannot listen"  # the checking extension could not listen: exit 3


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    rules: tuple[str, ...]
    level: str
    outcome: Outcome
    message: str
    duration_s: float
    log: tuple[str, ...] = ()


@dataclass
class SuiteReport:
    suite: str
    target: str
    results: list[CheckResult] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    outcome: RunOutcome = RunOutcome.COMPLETED
    reason: str = ""  # why the run did not complete, as one sentence ("" when it did)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def failed(self) -> bool:
        """True when a MUST check (or, with --strict, any check) failed or crashed."""
        return any(r.outcome in (Outcome.FAIL, Outcome.ERROR) for r in self.results)

    def summary(self) -> dict[str, int]:
        return {
            "passed": self.count(Outcome.PASS),
            "failed": self.count(Outcome.FAIL) + self.count(Outcome.ERROR),
            "warned": self.count(Outcome.WARN),
            "skipped": self.count(Outcome.SKIP),
        }
