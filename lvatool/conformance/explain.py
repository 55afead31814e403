"""``--explain``: a rule or a check, explained in the terminal.

A failure line names a check and its rules; this is where the reader goes next. For a
rule it prints what the rule asks, why it matters with a real LVA module, how to fix a
failure and which checks enforce it; for a check, what the check sends and expects and
then each of its rules. The same functions work from Python::

    from rich.console import Console
    from lvatool.conformance.explain import explain
    explain("Q2", Console())
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from lvatool.conformance import client_checks, server_checks
from lvatool.conformance.catalogue import CATALOGUE, Check, Level, checks_of
from lvatool.conformance.report import check_description
from lvatool.conformance.rules import RULES, Rule, group_of

_ = (client_checks, server_checks)  # importing them registers their checks

_INDENT = "  "
_LEVEL_MEANINGS = {
    Level.MUST: "a failure fails the run",
    Level.SHOULD: "a failure warns; fails the run with --strict",
    Level.INFO: "reported, never failed",
}


class UnknownIdError(LookupError):
    """The ID names neither a rule nor a check; the message says what would."""

    def __init__(self, identifier: str) -> None:
        self.identifier = identifier
        shown = identifier.strip() or "an empty ID"
        super().__init__(
            f"{shown} is neither a rule ({_ranges(list(RULES))}) nor a check "
            f"({_ranges([c.id for c in checks_of()])}); "
            "`lvatool conformance --list` lists the checks"
        )


def _ranges(ids: list[str]) -> str:
    """``H1–H6, Q1–Q6, …``: IDs grouped by their letter, each group as first–last."""
    groups: dict[str, list[str]] = {}
    for identifier in ids:
        groups.setdefault(identifier[:1], []).append(identifier)
    return ", ".join(
        members[0] if len(members) == 1 else f"{members[0]}–{members[-1]}"
        for members in groups.values()
    )


def resolve(identifier: str) -> Rule | Check:
    """The rule or check an ID names, case-insensitively; :class:`UnknownIdError` if none."""
    key = identifier.strip().upper()
    if key in RULES:
        return RULES[key]
    if key in CATALOGUE:
        return CATALOGUE[key]
    raise UnknownIdError(identifier)


def checks_enforcing(rule_id: str) -> list[Check]:
    """The checks that name ``rule_id`` among their rules, server suite first."""
    return [c for c in checks_of() if rule_id in c.rules]


def _prose(text: str) -> Text:
    """Rule text for the terminal: `code` spans styled, the backticks dropped.

    The texts are light Markdown for docs/rules.md; rich's own Markdown renderer pads
    every line to the console width, which litters piped output with trailing spaces.
    """
    prose = Text()
    for index, piece in enumerate(text.split("`")):
        prose.append(piece, style="cyan" if index % 2 else "")
    return prose


class _Indented:
    """Paragraphs wrapped to the console, indented, with no trailing padding.

    rich's ``Padding`` and tables pad every line to the full width, which litters piped
    or captured output with trailing spaces; this wraps each paragraph itself.
    """

    def __init__(self, *paragraphs: Text) -> None:
        self.paragraphs = paragraphs

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width - len(_INDENT), 20)
        for paragraph in self.paragraphs:
            for line in paragraph.wrap(console, width):
                line.rstrip()
                yield Text(_INDENT).append_text(line)


def _section(label: str, *paragraphs: Text) -> Group:
    return Group(Text(label, style="bold"), _Indented(*paragraphs))


def _enforcers(rule_id: str) -> list[Text]:
    checks = checks_enforcing(rule_id)
    if not checks:
        return [Text("Not checked by lvatool conformance.", style="italic")]
    facts = {c.id: f"{c.suite}, {c.level.value}" for c in checks}
    width = max(len(f) for f in facts.values())
    return [
        Text.assemble((c.id, "bold"), "  ", facts[c.id].ljust(width), "  ", c.title) for c in checks
    ]


def rule_renderable(rule: Rule) -> RenderableType:
    """A rule as rich renderables: heading, the rule, why, how to fix, enforcing checks."""
    heading = Text.assemble((rule.id, "bold cyan"), "  ", (rule.title, "bold"))
    subtitle = Text(
        f"{group_of(rule.id)} · source: {rule.source_label} ({rule.source_note})", style="dim"
    )
    return Group(
        heading,
        subtitle,
        Text(),
        _section("The rule", _prose(rule.rule)),
        _section("Why it matters", _prose(rule.why)),
        _section("How to fix a failure", _prose(rule.fix)),
        _section("Checked by", *_enforcers(rule.id)),
    )


def check_renderable(check: Check) -> RenderableType:
    """A check as rich renderables: what it is, what it does, and each of its rules."""
    heading = Text.assemble((check.id, "bold cyan"), "  ", (check.title, "bold"))
    facts = Text(
        f"{check.suite} suite · {check.level.value} ({_LEVEL_MEANINGS[check.level]}) · "
        f"deadline {check.deadline_s:g} s · rules {', '.join(check.rules)}",
        style="dim",
    )
    description = check_description(check)
    what = (
        [Text(paragraph) for paragraph in description.split("\n\n")]
        if description
        else [Text("No description yet; the title says what it checks.", style="italic")]
    )
    parts: list[RenderableType] = [heading, facts, Text(), _section("What it does", *what)]
    for rule_id in check.rules:
        parts.append(Text())
        rule = RULES.get(rule_id)
        parts.append(
            rule_renderable(rule)
            if rule is not None
            else Text(f"{rule_id}: not in lvatool's rules reference.", style="yellow")
        )
    return Group(*parts)


def explain(identifier: str, console: Console) -> Rule | Check:
    """Print the explanation of a rule or check ID; return what it named.

    Raises :class:`UnknownIdError` (a ``LookupError``) for an ID that names neither.
    """
    found = resolve(identifier)
    console.print(
        rule_renderable(found) if isinstance(found, Rule) else check_renderable(found),
        highlight=False,
    )
    return found
