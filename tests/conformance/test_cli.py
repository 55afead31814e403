"""``lvatool conformance`` from the command line: the self-test, exit codes, reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.conformance import checks_of
from tests.schemas import assert_valid


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["conformance", *args])
    return result.exit_code, result.output


def test_self_test_passes_on_lvatools_own_parts(tmp_path: Path) -> None:
    """lvatool's server and simulator pass every check; JSON and JUnit in one run."""
    json_path, junit_path = tmp_path / "r.json", tmp_path / "r.xml"
    code, output = invoke("--json", str(json_path), "--junit", str(junit_path), "--strict")
    assert code == 0, output
    documents = json.loads(json_path.read_text())
    assert_valid(documents, "conformance-report")
    assert [d["suite"] for d in documents] == ["server", "client"]
    for document in documents:
        assert document["summary"]["failed"] == 0
        assert document["summary"]["warned"] == 0
        outcomes = {c["id"]: c["outcome"] for c in document["checks"]}
        assert set(outcomes.values()) == {"pass"}, outcomes
    ids = {c.id for c in checks_of()}
    assert {c["id"] for d in documents for c in d["checks"]} == ids
    root = ET.parse(junit_path).getroot()
    assert len(root.findall("testsuite/testcase")) == len(ids)


def test_list_prints_the_catalogue() -> None:
    code, output = invoke("--list")
    assert code == 0
    for check in checks_of():
        assert check.id in output


def test_unknown_check_id_is_a_usage_error() -> None:
    code, output = invoke("server", "--select", "S99")
    assert code == 2
    assert "S99" in output


def test_unreachable_server_is_exit_3() -> None:
    code, output = invoke("server", "--target", "127.0.0.1:1", "--connect-timeout", "1")
    assert code == 3
    assert "cannot connect" in output


def test_client_mode_needs_a_command_or_a_fixed_port() -> None:
    code, output = invoke("client")
    assert code == 2
    assert "--listen" in output


def test_select_and_skip_choose_checks(tmp_path: Path) -> None:
    from lvatool.server import ExtensionServer, ServerOptions

    path = tmp_path / "r.json"
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as server:
        code, output = invoke(
            "server", "--target", server.address, "--select", "S01,S02", "--select", "S03",
            "--skip", "S02", "--json", str(path), "--quiet",
        )  # fmt: skip
    assert code == 0, output
    assert [c["id"] for c in json.loads(path.read_text())["checks"]] == ["S01", "S03"]


def test_client_suite_waits_on_listen_for_a_client() -> None:
    """--listen: the checker waits for a client that is pointed at it, then judges it."""
    import socket
    import subprocess
    import sys
    import threading
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome: dict[str, tuple[int, str]] = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault(
            "run", invoke("client", "--listen", f"127.0.0.1:{port}", "--timeout", "60")
        )
    )
    thread.start()
    deadline = time.monotonic() + 30.0  # until the checker listens, not a fixed pause
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            break
        except OSError:
            time.sleep(0.02)
    client = subprocess.run(
        [sys.executable, "-m", "lvatool", "simulate", "--target", f"127.0.0.1:{port}",
         "--max-frames", "20", "--shm", "4", "--format", "raw", "-q"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    thread.join(60)
    assert client.returncode == 0, client.stderr
    code, output = outcome["run"]
    assert code == 0, output
    assert "C07" in output
    assert "0 failed" in output
