"""Issue 11: passwords and TLS keys reach serve, simulate and conformance off the command line.

The server runs in a process of its own, so its command line can be read from /proc as
``ps`` would; the clients (simulate, conformance) and the usage errors run in-process
through the registered commands, over real gRPC on loopback. They are skipped until
``--password-file`` (and ``LVATOOL_TLS_KEY``) appear in the commands' ``--help``, i.e. until
the edits to lvatool/commands/{serve,simulate,conformance}.py are applied.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lvatool.cli import app
from lvatool.credentials import PASSWORD_ENV, TLS_CERT_ENV, TLS_KEY_ENV
from tests.serveproc import free_port, wait_healthy
from tests.shm.buffer_holder import ROOT
from tests.tlsfiles import HAVE_OPENSSL, make_certificate

SECRET = "s3cret-not-for-ps"
#: The environment without any credentials of the caller's, for the server's process.
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if k not in (PASSWORD_ENV, TLS_KEY_ENV, TLS_CERT_ENV)
}


def lvatool(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run an lvatool command in-process (the commands under test are the registered ones)."""
    environment: dict[str, str | None] = {name: None for name in (PASSWORD_ENV, TLS_KEY_ENV,
                                                                  TLS_CERT_ENV)}  # fmt: skip
    environment.update(env or {})
    return CliRunner().invoke(app, list(args), env={**environment, "COLUMNS": "250"})


def assert_no_traceback(ran: Result) -> None:
    """The command ended with its exit code, not with an exception a user would see."""
    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.exception


def one_line(text: str) -> str:
    """Rich wraps long error lines and may frame them: the words, one space apart."""
    return " ".join(text.replace("│", " ").split())


@pytest.fixture(scope="module")
def password_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "password"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return path


def start_serve(
    *args: str, env: dict[str, str] | None = None, wait: bool = True
) -> tuple[subprocess.Popen[str], str]:
    """``lvatool serve`` in its own process on a free port, waited for until healthy.

    ``wait=False`` for a TLS server, which a plaintext health probe cannot ask; its client
    retries a refused connection until its --connect-timeout instead.
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lvatool", "serve", "--host", "127.0.0.1", "--port", str(port),
         *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**CLEAN_ENV, **(env or {})},
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    if not wait:
        return process, address
    try:
        wait_healthy(address, process, timeout_s=60)
    except AssertionError:
        process.kill()
        _, stderr = process.communicate(timeout=30)
        raise AssertionError(f"serve did not start: {stderr}") from None
    return process, address


@pytest.fixture(scope="module")
def guarded_server(password_file: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """serve requiring user ``u`` with the password read from a file."""
    process, address = start_serve("--username", "u", "--password-file", str(password_file))
    try:
        yield process, address
    finally:
        process.terminate()
        process.communicate(timeout=60)


def test_a_password_file_for_serve_and_the_environment_for_simulate(
    guarded_server: tuple[subprocess.Popen[str], str],
) -> None:
    process, address = guarded_server
    argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
    assert SECRET.encode() not in b" ".join(argv), "the password shows in ps"
    ran = lvatool(
        "simulate", "--target", address, "--username", "u", "--max-frames", "5", "--quiet",
        env={PASSWORD_ENV: SECRET},
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert SECRET not in ran.output


def test_a_wrong_password_from_the_environment_is_refused(
    guarded_server: tuple[subprocess.Popen[str], str],
) -> None:
    _, address = guarded_server
    ran = lvatool(
        "simulate", "--target", address, "--username", "u", "--max-frames", "5", "--quiet",
        env={PASSWORD_ENV: "wrong"},
    )  # fmt: skip
    assert ran.exit_code == 3, ran.output
    assert "UNAUTHENTICATED" in one_line(ran.output)
    assert_no_traceback(ran)


def test_simulate_and_conformance_read_a_password_file(
    guarded_server: tuple[subprocess.Popen[str], str], password_file: Path
) -> None:
    _, address = guarded_server
    ran = lvatool(
        "simulate", "--target", address, "--username", "u", "--password-file",
        str(password_file), "--max-frames", "5", "--quiet",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    checked = lvatool(
        "conformance", "server", "--target", address, "--select", "S01", "--quiet",
        "--username", "u", "--password-file", str(password_file),
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output


def test_the_command_line_password_wins_over_the_environment(
    guarded_server: tuple[subprocess.Popen[str], str],
) -> None:
    _, address = guarded_server
    ran = lvatool(
        "simulate", "--target", address, "--username", "u", "--password", SECRET,
        "--max-frames", "3", "--quiet", env={PASSWORD_ENV: "wrong"},
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output


def test_the_environment_alone_asks_nothing_of_a_run_without_username() -> None:
    """Set for a server in this shell, LVATOOL_PASSWORD must not break a plain simulate."""
    ran = lvatool("simulate", "--max-frames", "3", "--quiet", env={PASSWORD_ENV: SECRET})
    assert ran.exit_code == 0, ran.output


@pytest.mark.parametrize(
    "command",
    [["serve"], ["simulate"], ["conformance", "server"], ["conformance", "client"]],
    ids=["serve", "simulate", "conformance-server", "conformance-client"],
)
def test_both_password_options_are_a_usage_error_naming_them(
    command: list[str], password_file: Path
) -> None:
    ran = lvatool(
        *command, "--username", "u", "--password", "p", "--password-file", str(password_file)
    )
    assert ran.exit_code == 2, ran.output
    assert "give --password or --password-file, not both" in one_line(ran.output)
    assert_no_traceback(ran)


@pytest.mark.parametrize(
    "command",
    [["serve"], ["simulate"], ["conformance", "server"], ["conformance", "client"]],
    ids=["serve", "simulate", "conformance-server", "conformance-client"],
)
def test_an_empty_or_missing_password_file_is_a_usage_error_naming_it(
    command: list[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    ran = lvatool(*command, "--username", "u", "--password-file", str(empty))
    assert ran.exit_code == 2, ran.output
    assert f"--password-file {empty} is empty" in one_line(ran.output)
    missing = tmp_path / "missing"
    ran = lvatool(*command, "--username", "u", "--password-file", str(missing))
    assert ran.exit_code == 2, ran.output
    assert f"cannot read --password-file {missing}: No such file or directory" in one_line(
        ran.output
    )


def test_a_username_without_any_password_names_every_source() -> None:
    ran = lvatool("conformance", "server", "--username", "u")
    assert ran.exit_code == 2, ran.output
    assert (
        "--username needs a password: --password, --password-file or LVATOOL_PASSWORD"
        in one_line(ran.output)
    )


@pytest.mark.skipif(not HAVE_OPENSSL, reason="openssl is not installed")
def test_the_tls_key_path_comes_from_the_environment(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, "server")
    process, address = start_serve("--tls-cert", str(cert), env={TLS_KEY_ENV: str(key)}, wait=False)
    try:
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert str(key).encode() not in argv
        port = address.rsplit(":", 1)[1]
        ran = lvatool(
            "simulate", "--target", f"localhost:{port}", "--tls-ca", str(cert),
            "--connect-timeout", "60", "--max-frames", "3", "--quiet",
        )  # fmt: skip
    finally:
        process.terminate()
        _, served = process.communicate(timeout=60)
    assert ran.exit_code == 0, ran.output + served


def test_a_tls_key_from_the_environment_without_a_certificate_is_named(tmp_path: Path) -> None:
    ran = lvatool("serve", "--port", "0", env={TLS_KEY_ENV: str(tmp_path / "server.key")})
    assert ran.exit_code == 2, ran.output
    assert "give both --tls-cert and --tls-key (or LVATOOL_TLS_CERT and LVATOOL_TLS_KEY)" in (
        one_line(ran.output)
    )
