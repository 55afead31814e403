"""``lvatool conformance`` everyday mistakes, as a new user makes them (issue 8).

Each is one sentence naming the option, with the documented exit code (2 usage, 3 cannot
connect or listen), never a traceback; and results are never lost: a report path that
cannot be written is refused before the run, and a run that cannot connect or listen
still writes its reports, saying why.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lvatool.cli import app
from lvatool.conformance import checks_of
from lvatool.server import ExtensionServer, ServerOptions
from tests.peers.mutant_servers import Fault, MutantServer
from tests.schemas import assert_valid


def run(*args: str) -> Result:
    """Run the command in-process on a console wide enough not to wrap a long path."""
    return CliRunner().invoke(app, ["conformance", *args], env={"COLUMNS": "1000"})


def sentence(result: Result) -> str:
    """The output as one line, checked for tracebacks."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return " ".join(result.output.split())


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port some other program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


# -- report files: refused before the run ---------------------------------------------------

RUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # (before the report option, after it): each run would take seconds if it started
    "server": (("server", "--target", "127.0.0.1:1", "--connect-timeout", "30"), ()),
    "client": (("client", "--listen", "127.0.0.1:0"), ("--", "no-such-client")),
    "self-test": ((), ()),
}


@pytest.mark.parametrize("option", ["--json", "--junit"])
@pytest.mark.parametrize("command", RUNS)
def test_a_report_in_a_missing_directory_is_refused_before_the_run(
    tmp_path: Path, option: str, command: str
) -> None:
    path = tmp_path / "no-such-dir" / "report"
    before, after = RUNS[command]
    result = run(*before, option, str(path), *after)
    assert result.exit_code == 2, result.output
    said = sentence(result)
    assert f"{option} {path}: the directory {path.parent} does not exist" in said
    assert "cannot" not in said  # refused before anything was tried


def test_a_report_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    result = run("server", "--target", "127.0.0.1:1", "--junit", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert f"--junit {tmp_path} is a directory" in sentence(result)


def test_a_report_path_given_before_the_subcommand_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "r.json"
    result = run("--json", str(path), "server", "--target", "127.0.0.1:1")
    assert result.exit_code == 2, result.output
    assert "does not exist" in sentence(result)


# -- cannot connect: exit 3, and the reports say why ----------------------------------------


def test_cannot_connect_is_exit_3_and_still_writes_both_reports(tmp_path: Path) -> None:
    json_path, junit_path = tmp_path / "r.json", tmp_path / "r.xml"
    result = run("server", "--target", "127.0.0.1:1", "--connect-timeout", "1",
                 "--json", str(json_path), "--junit", str(junit_path))  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "cannot connect to 127.0.0.1:1" in sentence(result)
    document = json.loads(json_path.read_text())
    assert_valid(document, "conformance-report")
    assert document["outcome"] == "cannot connect"
    assert "cannot connect to 127.0.0.1:1" in document["reason"]
    assert [c["id"] for c in document["checks"]] == [c.id for c in checks_of("server")]
    assert {c["outcome"] for c in document["checks"]} == {"skip"}
    assert all(c["message"].startswith("not run: cannot connect") for c in document["checks"])
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["outcome"] == "cannot connect"
    (error,) = suite.iter("error")  # the run's error testcase: a CI dashboard shows red
    assert error.get("type") == "cannot connect"
    assert "127.0.0.1:1" in (error.get("message") or "")
    assert suite.get("errors") == "1"


# -- --target: malformed refused at once, tcp:// accepted ------------------------------------


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("localhost", "'localhost' has no port"),
        ("localhost:", "has no port"),
        ("localhost:http", "port 'http' is not a number"),
        ("localhost:70000", "port 70000 is outside 1-65535"),
        ("tcp://localhost:0", "port 0 is outside 1-65535"),
        ("http://localhost:5001", "scheme http:// is not supported"),
    ],
)
def test_a_malformed_target_is_a_usage_error(target: str, says: str) -> None:
    # --connect-timeout 30: the old code dialled these and gave up only after it
    result = run("server", "--target", target, "--connect-timeout", "30")
    assert result.exit_code == 2, result.output
    said = sentence(result)
    assert said.startswith("lvatool conformance: --target")
    assert says in said


def test_lvas_own_tcp_form_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as server:
        result = run("server", "--target", f"tcp://{server.address}", "--select", "S01",
                     "--json", str(path), "--quiet")  # fmt: skip
        assert result.exit_code == 0, result.output
    document = json.loads(path.read_text())
    assert document["target"] == server.address
    assert document["outcome"] == "completed" and document["reason"] == ""


# -- --listen: malformed is exit 2, busy is exit 3 ------------------------------------------


@pytest.mark.parametrize(
    ("listen", "says"),
    [
        ("nonsense", "'nonsense' has no port"),
        ("127.0.0.1:99999", "port 99999 is outside 0-65535"),
        ("127.0.0.1:port", "port 'port' is not a number"),
        ("::1:6001", "write an IPv6 address in brackets"),
    ],
)
def test_a_malformed_listen_address_is_a_usage_error(listen: str, says: str) -> None:
    result = run("client", "--listen", listen, "--timeout", "30")
    assert result.exit_code == 2, result.output
    said = sentence(result)
    assert said.startswith("lvatool conformance: --listen")
    assert says in said


def test_listening_on_a_busy_port_is_exit_3_and_says_so(tmp_path: Path, busy_port: int) -> None:
    path = tmp_path / "r.json"
    result = run("client", "--listen", f"tcp://127.0.0.1:{busy_port}", "--timeout", "30",
                 "--json", str(path))  # fmt: skip
    assert result.exit_code == 3, result.output
    said = sentence(result)
    assert f"cannot listen on 127.0.0.1:{busy_port}: address already in use" in said
    document = json.loads(path.read_text())
    assert_valid(document, "conformance-report")
    assert document["outcome"] == "cannot listen"
    assert "address already in use" in document["reason"]


def test_a_client_that_cannot_start_is_exit_3_with_the_report(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result = run("client", "--json", str(path), "--", str(tmp_path / "no-such-client"))
    assert result.exit_code == 3, result.output
    assert "cannot start the client" in sentence(result)
    document = json.loads(path.read_text())
    assert_valid(document, "conformance-report")
    assert document["outcome"] == "cannot connect"
    assert "no-such-client" in document["reason"]


# -- options before the subcommand: honoured, never dropped ----------------------------------


def test_report_options_before_the_subcommand_are_honoured(tmp_path: Path) -> None:
    json_path, junit_path = tmp_path / "r.json", tmp_path / "r.xml"
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as server:
        result = run("--json", str(json_path), "--junit", str(junit_path), "--select", "S01",
                     "--quiet", "server", "--target", server.address)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [c["id"] for c in json.loads(json_path.read_text())["checks"]] == ["S01"]
    assert [c.get("name", "")[:3] for c in ET.parse(junit_path).getroot().iter("testcase")] == [
        "S01"
    ]
    assert "server: 1 passed" in result.output and "┏" not in result.output  # --quiet


def test_the_subcommands_own_options_win_over_the_groups(tmp_path: Path) -> None:
    group_path, own_path = tmp_path / "group.json", tmp_path / "own.json"
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as server:
        result = run(
            "--json", str(group_path), "--select", "S01,S02", "--quiet",
            "server", "--target", server.address, "--select", "S03", "--json", str(own_path),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [c["id"] for c in json.loads(own_path.read_text())["checks"]] == ["S03"]
    assert not group_path.exists()


def test_strict_before_the_subcommand_is_honoured() -> None:
    """S04 only warns about timestamps not echoed (Q2 [decision]); --strict fails it."""
    with MutantServer(Fault.NO_TIMESTAMP_ECHO) as server:
        lenient = run("--select", "S04", "server", "--target", server.address)
        strict = run("--strict", "--select", "S04", "server", "--target", server.address)
    assert lenient.exit_code == 0, lenient.output
    assert strict.exit_code == 1, strict.output
    assert "FAIL S04" in strict.output


def test_the_group_skip_applies_to_the_client_suite_and_its_ids_are_checked() -> None:
    """A --skip before ``client`` is validated against the client suite, as after it."""
    result = run("--skip", "S01", "client", "--listen", "127.0.0.1:1")
    assert result.exit_code == 2, result.output
    assert "--skip S01 names a server-suite check" in sentence(result)
