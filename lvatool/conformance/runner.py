"""Running checks, each within its deadline, so one silent peer costs one check.

A check runs on its own thread with a :class:`CheckContext`. When its deadline passes
the runner cancels every call the check opened (so its thread unblocks) and records a
failure: silence is the finding. A crash of the check itself is an ``error``, not a
``fail``, so a bug of the checker is never mistaken for a bug of the peer.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from lvatool.conformance.catalogue import Check, CheckFailed, CheckSkipped, CheckWarning, Level
from lvatool.conformance.interrupt import interruption_reason
from lvatool.conformance.results import CheckResult, Outcome, RunOutcome, SuiteReport


class Deadline:
    """Work against a peer under a deadline: how long is left, and what to cancel at the end.

    Checks get a :class:`CheckContext`; work a suite does before its checks (choosing the
    server suite's probe format) uses a bare ``Deadline`` the same way.
    """

    def __init__(self, environment: Any, deadline_s: float) -> None:
        self.env = environment
        self.deadline_s = deadline_s
        self.deadline = time.monotonic() + deadline_s
        self._cancel: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    def remaining(self, cap: float | None = None) -> float:
        """Seconds left before the deadline (at most ``cap``)."""
        left = max(self.deadline - time.monotonic(), 0.0)
        return min(left, cap) if cap is not None else left

    def on_cancel(self, cancel: Callable[[], object]) -> None:
        """Call ``cancel`` if the check overruns its deadline or when it ends."""
        with self._lock:
            self._cancel.append(cancel)

    def cancel_all(self) -> None:
        self.cancelled.set()
        with self._lock:
            actions, self._cancel = self._cancel, []
        for action in actions:
            with contextlib.suppress(Exception):
                action()


class CheckContext(Deadline):
    """What a check gets: its deadline, a log, and a place to register things to cancel."""

    def __init__(self, check: Check, environment: Any, deadline_s: float | None = None) -> None:
        super().__init__(environment, check.deadline_s if deadline_s is None else deadline_s)
        self.check = check
        self.log: list[str] = []

    def note(self, line: str) -> None:
        self.log.append(line)


def _outcome_for(check: Check, failed: bool, strict: bool) -> Outcome:
    if not failed:
        return Outcome.PASS
    if check.level is Level.MUST or strict:
        return Outcome.FAIL
    return Outcome.WARN


def run_check(
    check: Check, environment: Any, strict: bool = False, deadline_s: float | None = None
) -> CheckResult:
    """Run one check to a result, whatever it does, within ``deadline_s`` (by default
    the check's own deadline)."""
    context = CheckContext(check, environment, deadline_s)
    box: dict[str, BaseException | str | None] = {}

    def body() -> None:
        try:
            box["message"] = check.run(context)
        except BaseException as error:
            box["error"] = error
            box["trace"] = traceback.format_exc()

    started = time.monotonic()
    thread = threading.Thread(target=body, name=f"check-{check.id}", daemon=True)
    try:
        thread.start()
        thread.join(context.deadline_s)
    except BaseException:  # Ctrl-C: unblock the check's calls before the run unwinds
        context.cancel_all()
        raise
    timed_out = thread.is_alive()
    context.cancel_all()
    if timed_out:
        thread.join(2.0)
    duration = time.monotonic() - started
    level = check.level.value

    def result(outcome: Outcome, message: str) -> CheckResult:
        return CheckResult(
            check.id,
            check.title,
            check.rules,
            level,
            outcome,
            message,
            duration,
            tuple(context.log),
        )

    if timed_out:
        return result(
            _outcome_for(check, True, strict),
            f"no verdict within the {context.deadline_s:g} s deadline: the peer went silent",
        )
    error = box.get("error")
    if error is None:
        return result(Outcome.PASS, str(box.get("message") or "ok"))
    if isinstance(error, CheckFailed):
        return result(_outcome_for(check, True, strict), str(error))
    if isinstance(error, CheckWarning):
        return result(Outcome.FAIL if strict else Outcome.WARN, str(error))
    if isinstance(error, CheckSkipped):
        return result(Outcome.SKIP, str(error))
    trace = str(box.get("trace") or "")
    context.note(trace)
    return result(Outcome.ERROR, f"the checker crashed: {type(error).__name__}: {error}")


def select_checks(
    checks: Iterable[Check], select: Iterable[str] = (), skip: Iterable[str] = ()
) -> list[Check]:
    """Checks whose ID is selected (all when none is) and not skipped; IDs are validated."""
    checks = list(checks)
    known = {c.id for c in checks}
    wanted, unwanted = set(select), set(skip)
    unknown = (wanted | unwanted) - known
    if unknown:
        raise ValueError(f"unknown check id(s): {', '.join(sorted(unknown))}")
    return [c for c in checks if (not wanted or c.id in wanted) and c.id not in unwanted]


#: How the message of a check that did not run begins (see :func:`not_run`).
NOT_RUN = "not run: "


def not_run(check: Check, reason: str) -> CheckResult:
    """A check that did not run, skipped with ``reason`` (a budget spent, an interruption)."""
    return CheckResult(
        check.id, check.title, check.rules, check.level.value, Outcome.SKIP,
        NOT_RUN + reason, 0.0,
    )  # fmt: skip


def ran_any(report: SuiteReport) -> bool:
    """Whether any check of ``report`` ran (rather than being skipped as not run)."""
    return any(not result.message.startswith(NOT_RUN) for result in report.results)


def unfinished_report(
    suite: str, target: str, checks: Iterable[Check], outcome: RunOutcome, reason: str
) -> SuiteReport:
    """The report of a run that ended before its checks: each one skipped with the reason.

    Written in place of nothing, so a CI job whose peer was never reached, or that was
    interrupted, still has a report naming every check it selected and why none ran.
    """
    report = SuiteReport(suite, target, outcome=outcome, reason=reason)
    report.results = [not_run(check, reason) for check in checks]
    return report


def run_suite(
    suite: str,
    target: str,
    checks: Iterable[Check],
    environment: Any,
    *,
    strict: bool = False,
    on_result: Callable[[CheckResult], None] | None = None,
    budget_s: float | None = None,
) -> SuiteReport:
    """Run ``checks`` in order. With ``budget_s``, the whole suite keeps within it: each
    check gets at most what is left, and checks that find too little left are skipped
    (with the reason), so a slow or silent peer cannot stretch a CI job without bound.

    Ctrl-C (``KeyboardInterrupt``) ends the run early but not the report: the check in
    progress has its calls cancelled, it and every later check are skipped with the
    reason, and the report's ``outcome`` is ``interrupted``.
    """
    report = SuiteReport(suite, target)
    end = None if budget_s is None else time.monotonic() + budget_s
    checks = list(checks)
    try:
        for check in checks:
            left = None if end is None else end - time.monotonic()
            if left is not None and left < MIN_CHECK_S:
                outcome = not_run(check, f"the suite's {budget_s:g} s budget (--timeout) was spent")
            else:
                deadline = None if left is None else min(check.deadline_s, left)
                outcome = run_check(check, environment, strict, deadline)
            report.results.append(outcome)
            if on_result is not None:
                on_result(outcome)
    except KeyboardInterrupt as interrupt:
        report.outcome = RunOutcome.INTERRUPTED
        report.reason = interruption_reason(interrupt)
        ran = {result.id for result in report.results}
        report.results.extend(not_run(c, report.reason) for c in checks if c.id not in ran)
    return report


#: A check given less than this is skipped rather than run to a certain timeout.
MIN_CHECK_S = 2.0
