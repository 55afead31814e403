"""The rules reference: every rule of the protocol explained, shipped, and kept in step.

The rule IDs and markers below are those of the project's protocol reference
(``shared/protocol.md``), listed here on purpose: tests never read the shared folder,
so a rule added there fails this file until it is explained in ``rules.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

from lvatool.conformance import CATALOGUE, checks_of
from lvatool.conformance.explain import checks_enforcing
from lvatool.conformance.rules import RULES, Source
from lvatool.conformance.rules_doc import rules_markdown

ROOT = Path(__file__).resolve().parents[2]

SPEC, SAMPLE, DECISION = Source.SPEC, Source.SAMPLE, Source.DECISION

#: Every rule of protocol.md with its markers: the rule's own first, then any part's.
PROTOCOL_RULES: dict[str, tuple[Source, ...]] = {
    "H1": (SPEC, DECISION), "H2": (SPEC,), "H3": (SPEC,), "H4": (SPEC, DECISION),
    "H5": (SPEC,), "H6": (DECISION,),
    "Q1": (SPEC,), "Q2": (SPEC, DECISION), "Q3": (SPEC,), "Q4": (SPEC, DECISION),
    "Q5": (SAMPLE,), "Q6": (DECISION,),
    "E1": (SPEC,), "E2": (DECISION,),
    "M1": (SPEC,), "M2": (SPEC,), "M3": (SPEC,), "M4": (DECISION,), "M5": (SAMPLE, DECISION),
    "M6": (SPEC,),
    "F1": (SPEC,), "F2": (SPEC,), "F3": (SPEC,), "F4": (SPEC,),
    "R1": (SPEC, DECISION), "R2": (SPEC,), "R3": (SPEC,), "R4": (SPEC, DECISION),
    "A1": (SPEC,), "A2": (SPEC,), "A3": (DECISION,),
}  # fmt: skip


def test_every_protocol_rule_is_explained_in_order() -> None:
    assert list(RULES) == list(PROTOCOL_RULES)
    for rule_id, rule in RULES.items():
        assert rule.id == rule_id
        for text in (rule.title, rule.rule, rule.why, rule.fix):
            assert text.strip() == text and len(text) > 10, (rule_id, text)


def test_sources_follow_the_protocols_markers() -> None:
    """[spec], [sample] and [decision] as protocol.md marks them, parts included."""
    assert {rule_id: rule.source for rule_id, rule in RULES.items()} == PROTOCOL_RULES


def test_every_rule_a_check_names_is_explained() -> None:
    named = {(check.id, rule_id) for check in CATALOGUE.values() for rule_id in check.rules}
    assert named, "the catalogue is empty"
    assert {(c, r) for c, r in named if r not in RULES} == set()


def test_rule_texts_are_safe_markdown() -> None:
    """Code spans are closed, and ``<``/``>`` appear only inside them (else GitHub eats them)."""
    for rule in RULES.values():
        for text in (rule.title, rule.rule, rule.why, rule.fix):
            assert text.count("`") % 2 == 0, (rule.id, text)
            prose = re.sub(r"`[^`]*`", "", text)
            assert "<" not in prose and ">" not in prose, (rule.id, prose)


def test_rules_doc_is_fresh() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == rules_markdown(), (
        "docs/rules.md is stale: run python scripts/generate_rules_doc.py"
    )


def test_rules_doc_names_the_checks_enforcing_each_rule() -> None:
    document = rules_markdown()
    for rule_id in RULES:
        section = document.split(f'<a id="{rule_id}"></a>', 1)[1].split("<a id=", 1)[0]
        checked_by = section.split("**Checked by:**", 1)[1].split("\n", 1)[0]
        enforcing = checks_enforcing(rule_id)
        assert [c.id for c in enforcing] == re.findall(r"\[([A-Z]\d+)\]", checked_by), rule_id
    for check in checks_of():
        assert f'<a id="{check.id}"></a>{check.id}' in document
