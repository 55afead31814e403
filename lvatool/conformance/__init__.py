"""``lvatool conformance``: check either side of the protocol, rule by rule, for CI."""

from lvatool.conformance.catalogue import CATALOGUE, Check, Level, checks_of
from lvatool.conformance.checking_extension import CheckingExtension, CheckingPolicy
from lvatool.conformance.results import CheckResult, Outcome, RunOutcome, SuiteReport
from lvatool.conformance.suites import (
    ConnectError,
    ListenError,
    Selection,
    ServerSuiteOptions,
    run_client_suite,
    run_server_suite,
    self_test,
)

__all__ = [
    "CATALOGUE",
    "Check",
    "CheckResult",
    "CheckingExtension",
    "CheckingPolicy",
    "ConnectError",
    "Level",
    "ListenError",
    "Outcome",
    "RunOutcome",
    "Selection",
    "ServerSuiteOptions",
    "SuiteReport",
    "checks_of",
    "run_client_suite",
    "run_server_suite",
    "self_test",
]
