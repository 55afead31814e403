"""The check catalogue: every conformance check, with a stable ID and the rules it enforces.

Following h2spec and the gRPC interop cases, each check says what it requires (the
rule IDs of protocol.md), how much it matters (MUST checks fail the run, SHOULD checks
only warn unless ``--strict``) and how long it may take (its deadline). IDs never change
when checks are added.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Level(enum.Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"  # reported, never failed


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    rules: tuple[str, ...]
    level: Level
    deadline_s: float
    suite: str
    run: Callable[[Any], str | None]  # returns a pass message, raises CheckFailed/…


class CheckFailed(AssertionError):
    """The peer broke the check's rule; the message says what was expected and seen."""


class CheckWarning(Exception):
    """The peer passed, but did something the protocol tolerates and users should know."""


class CheckSkipped(Exception):
    """The check does not apply (no credentials configured, a profile not selected …)."""


CATALOGUE: dict[str, Check] = {}


def check(
    id: str,
    title: str,
    rules: str,
    *,
    suite: str,
    level: Level = Level.MUST,
    deadline_s: float = 10.0,
) -> Callable[[Callable[[Any], str | None]], Callable[[Any], str | None]]:
    """Register the decorated function as check ``id``."""

    def register(function: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
        if id in CATALOGUE:
            raise ValueError(f"duplicate check id {id}")
        CATALOGUE[id] = Check(
            id,
            title,
            tuple(r.strip() for r in rules.split(",")),
            level,
            deadline_s,
            suite,
            function,
        )
        return function

    return register


def checks_of(suite: str | None = None) -> list[Check]:
    """The checks of one suite (all when None), server suite first, by ID."""
    chosen = [c for c in CATALOGUE.values() if suite is None or c.suite == suite]
    return sorted(chosen, key=lambda c: (c.suite != "server", c.id))
