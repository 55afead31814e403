"""``lvatool conformance`` as a reference: --explain, --list --json, and IDs of the wrong suite.

Every ID used here is read from the catalogue at run time, so renaming or renumbering a
check never breaks these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from lvatool.cli import app
from lvatool.conformance import CATALOGUE, Check, Level, checks_of
from lvatool.conformance.explain import check_renderable, checks_enforcing
from lvatool.conformance.rules import RULES

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["conformance", *args])


def one_line(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def assert_usage_error(result: Result, *named: str) -> str:
    """Exit 2 with one sentence on stderr that names ``named``, and no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    message = one_line(result.stderr)
    assert message.startswith("lvatool conformance: ")
    for name in named:
        assert name in message, message
    return message


def test_explain_a_rule_case_insensitively() -> None:
    rule = RULES["Q2"]
    result = run("--explain", "q2")
    assert result.exit_code == 0, result.output
    text = one_line(result.stdout)
    for part in (rule.id, rule.title, "The rule", "Why it matters", "How to fix a failure"):
        assert part in text
    assert "ack_sequence_number" in text  # from the fix: one response per sample
    assert "source: spec + decision" in text
    for check in checks_enforcing("Q2"):
        assert f"{check.id} {check.suite}, {check.level.value}" in text


def test_explain_a_rule_that_no_check_enforces() -> None:
    unchecked = [r for r in RULES if not checks_enforcing(r)]
    if not unchecked:
        pytest.skip("every rule is checked")
    result = run("--explain", unchecked[0])
    assert result.exit_code == 0, result.output
    assert "Not checked by lvatool conformance" in one_line(result.stdout)


@pytest.mark.parametrize("suite", ["server", "client"])
def test_explain_a_check_with_each_of_its_rules(suite: str) -> None:
    check = max(checks_of(suite), key=lambda c: len(c.rules))
    result = run("--explain", check.id.lower())
    assert result.exit_code == 0, result.output
    text = one_line(result.stdout)
    assert text.startswith(f"{check.id} {one_line(check.title)}")
    assert f"{check.suite} suite · {check.level.value}" in text
    assert f"deadline {check.deadline_s:g} s" in text
    assert "What it does" in text
    doc = check.run.__doc__
    if doc:
        assert one_line(doc).split(". ")[0] in text
    for rule_id in check.rules:
        assert f"{rule_id} {RULES[rule_id].title}" in text


def test_explain_a_check_without_a_docstring() -> None:
    """The docstring is optional: an undocumented check still explains its rules."""

    def undocumented(context: object) -> str | None:
        return None

    check = Check("X01", "An undocumented check", ("Q1",), Level.SHOULD, 5.0, "server",
                  undocumented)  # fmt: skip
    console = Console(record=True, width=100)
    console.print(check_renderable(check))
    text = one_line(console.export_text())
    assert "No description yet" in text
    assert RULES["Q1"].title in text


def test_explain_wins_over_a_subcommand() -> None:
    """Looking a rule up never starts a suite, even with a subcommand after it."""
    result = run("--explain", "M3", "server", "--target", "127.0.0.1:1")
    assert result.exit_code == 0, result.output
    assert RULES["M3"].title in one_line(result.stdout)


@pytest.mark.parametrize("identifier", ["Q9", "S99", "nonsense", "", "[/b]"])
def test_explain_an_unknown_id_is_a_usage_error(identifier: str) -> None:
    message = assert_usage_error(run("--explain", identifier), identifier or "an empty ID")
    assert "neither a rule" in message
    assert message.count(". ") == 0, "one sentence"


@pytest.mark.parametrize("suite", [None, "server", "client"])
def test_list_json_is_the_catalogue(suite: str | None) -> None:
    result = run(*([suite] if suite else []), "--list", "--json", "-")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)  # nothing but JSON on stdout
    checks = checks_of(suite)
    assert [c["id"] for c in listed] == [c.id for c in checks]
    for entry, check in zip(listed, checks, strict=True):
        assert entry == {
            "id": check.id,
            "title": check.title,
            "suite": check.suite,
            "level": check.level.value,
            "deadline_s": check.deadline_s,
            "rules": list(check.rules),
            "description": entry["description"],
        }
        doc = (check.run.__doc__ or "").strip()
        if doc:
            assert entry["description"] == " ".join(doc.split()) or "\n\n" in doc
        else:
            assert entry["description"] is None


def test_list_json_to_a_file_keeps_the_table(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    result = run("server", "--list", "--json", str(path))
    assert result.exit_code == 0, result.output
    assert [c["id"] for c in json.loads(path.read_text())] == [c.id for c in checks_of("server")]
    assert "lvatool conformance checks" in result.stdout


def test_list_before_a_subcommand_lists_instead_of_running() -> None:
    result = run("--list", "server", "--target", "127.0.0.1:1")
    assert result.exit_code == 0, result.output
    for check in checks_of():
        assert check.id in result.stdout


def test_json_dash_without_list_is_a_usage_error() -> None:
    """Results go to a file; ``-`` would silently create a file named ``-``."""
    assert_usage_error(run("server", "--json", "-", "--target", "127.0.0.1:1"), "--list")


def _first(suite: str) -> str:
    return checks_of(suite)[0].id


@pytest.mark.parametrize("option", ["--select", "--skip"])
def test_server_refuses_client_check_ids(option: str) -> None:
    client_id = _first("client")
    message = assert_usage_error(run("server", option, client_id.lower()), option, client_id)
    own = checks_of("server")
    assert "client-suite check" in message
    assert f"runs {own[0].id}–{own[-1].id}" in message


@pytest.mark.parametrize("option", ["--select", "--skip"])
def test_client_refuses_server_check_ids(option: str) -> None:
    server_ids = [c.id for c in checks_of("server")[:2]]
    message = assert_usage_error(
        run("client", option, ",".join(server_ids), "--listen", "127.0.0.1:1"), option, *server_ids
    )
    assert "server-suite checks" in message


def test_the_self_test_takes_ids_of_both_suites(tmp_path: Path) -> None:
    """Without a subcommand both suites run, so --select and --skip take IDs of either."""
    server, client = checks_of("server"), checks_of("client")
    path = tmp_path / "r.json"
    result = run(
        "--select", f"{server[0].id},{client[0].id},{client[1].id}",
        "--skip", client[1].id, "--json", str(path), "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ran = [c["id"] for document in json.loads(path.read_text()) for c in document["checks"]]
    assert ran == [server[0].id, client[0].id]


def test_the_self_test_refuses_to_skip_everything() -> None:
    assert_usage_error(run("--skip", ",".join(CATALOGUE)), "--skip")


def test_markup_in_an_unknown_id_is_printed_not_parsed() -> None:
    assert_usage_error(run("server", "--select", "[/b]"), "[/B]")


def test_readme_points_failures_to_the_reference_and_explain() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/rules.md)" in readme
    assert "lvatool conformance --explain M3" in readme
    assert "--list --json -" in readme
