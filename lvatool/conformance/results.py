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
