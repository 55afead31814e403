"""``lvatool conformance --json`` as written by real runs validates against its schema."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lvatool.cli import app
from tests.schemas import assert_valid


def conformance_json(tmp_path: Path, *args: str) -> object:
    """Run ``lvatool conformance ARGS --json FILE`` in-process; the document it wrote."""
    path = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["conformance", *args, "--json", str(path)])
    assert result.exit_code == 0, result.output
    document: object = json.loads(path.read_text())
    assert_valid(document, "conformance-report")
    return document


def test_one_server_check_writes_one_valid_report(tmp_path: Path) -> None:
    """The self-test with one server check: a single suite, so a single object."""
    document = conformance_json(tmp_path, "--select", "S01")
    assert isinstance(document, dict)
    assert document["suite"] == "server"
    assert [check["id"] for check in document["checks"]] == ["S01"]


def test_both_suites_write_a_valid_list(tmp_path: Path) -> None:
    """A server and a client check: a list of two reports, the client run by simulate."""
    documents = conformance_json(tmp_path, "--select", "S01,C01")
    assert isinstance(documents, list)
    assert [document["suite"] for document in documents] == ["server", "client"]
    assert "lvatool simulate" in " ".join(documents[1]["properties"]["client"].split())
