"""Everyday mistakes before and while connecting: one sentence, exit 2 or 3, at once.

Issue 8's everyday errors for simulate (and, through ``lvatool.sim.call``, for
``lvatool conformance server``): output files in missing directories, targets as LVA
writes them or without a usable port, and each TLS mistake named.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvatool.server import ExtensionServer, ServerOptions
from lvatool.sim.call import CallError, ConnectOptions, open_channel, wait_for_channel
from tests.sim.simrun import run
from tests.tlsfiles import HAVE_OPENSSL, make_certificate

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = str(ROOT / "samples" / "topologies" / "shared-memory-raw.json")
#: A connect timeout no test should ever wait out: failing "at once" means well within it.
LONG_CONNECT_S = 120


def flat(output: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(output.split())


@pytest.fixture(scope="module")
def reference() -> Iterator[ExtensionServer]:
    with ExtensionServer(ServerOptions(host="127.0.0.1", port=0)) as server:
        yield server


# -- output files ------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--json", "--output"])
def test_output_to_a_missing_directory_is_refused_before_the_run(
    option: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "out.json"
    code, _, output = run(option, str(missing), "--target", "127.0.0.1:1")
    assert code == 2, output
    assert f"{option} {missing}: the directory {missing.parent} does not exist" in flat(output)


def test_output_to_a_directory_is_refused(tmp_path: Path) -> None:
    code, _, output = run("--output", str(tmp_path), "--target", "127.0.0.1:1")
    assert code == 2, output
    assert "is a directory" in output


# -- targets -----------------------------------------------------------------------------


def test_a_target_in_lvas_tcp_form_is_accepted(reference: ExtensionServer) -> None:
    code, summary, output = run("--target", f"tcp://{reference.address}", "--max-frames", "10")
    assert code == 0, output
    assert summary["target"] == reference.address
    assert summary["frames_acked"] == 10


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("localhost", "has no port"),
        ("tcp://localhost", "has no port"),
        ("localhost:0", "outside 1-65535"),
        ("localhost:70000", "outside 1-65535"),
        ("localhost:grpc", "is not a number"),
        ("http://localhost:5001", "scheme http:// is not supported"),
    ],
)
def test_a_target_without_a_usable_port_is_refused_at_once(target: str, says: str) -> None:
    started = time.monotonic()
    code, _, output = run("--target", target, "--connect-timeout", str(LONG_CONNECT_S))
    assert code == 2, output
    assert time.monotonic() - started < LONG_CONNECT_S / 2
    assert f"--target {target!r}" in flat(output)
    assert says in flat(output)


def test_a_topology_target_without_a_port_is_refused_naming_the_parameter() -> None:
    code, _, output = run("--topology", TOPOLOGY, "--param", "grpcUrl=tcp://localhost")
    assert code == 2, output
    assert "endpoint.url (from parameter grpcUrl) 'tcp://localhost' has no port" in flat(output)


def test_a_refused_connection_says_so() -> None:
    code, summary, output = run("--target", "127.0.0.1:1", "--connect-timeout", "1")
    assert code == 3, output
    assert summary["outcome"] == "connect"
    assert "cannot connect to 127.0.0.1:1 within 1 s: connection refused" in flat(output)


# -- TLS -----------------------------------------------------------------------------------

needs_openssl = pytest.mark.skipif(not HAVE_OPENSSL, reason="needs openssl")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExtensionServer, Path, Path]]:
    """A TLS reference server, its certificate, and another CA's certificate."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = make_certificate(folder, "server")
    other, _ = make_certificate(folder, "other")
    options = ServerOptions(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)
    with ExtensionServer(options) as server:
        yield server, cert, other


def tls_case(
    tls: tuple[ExtensionServer, Path, Path], reference: ExtensionServer, case: str
) -> list[str]:
    server, cert, other = tls
    return {
        "plaintext-to-tls": ["--target", f"localhost:{server.port}"],
        "tls-to-plaintext": ["--target", f"localhost:{reference.port}", "--tls-ca", str(cert)],
        "wrong-ca": ["--target", f"localhost:{server.port}", "--tls-ca", str(other)],
        "wrong-host-name": ["--target", f"127.0.0.1:{server.port}", "--tls-ca", str(cert)],
    }[case]


@needs_openssl
@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("plaintext-to-tls", "closed the connection during the handshake; if it serves TLS, "
         "connect with --tls-ca"),
        ("tls-to-plaintext", "the server does not speak TLS; connect without --tls-ca"),
        ("wrong-ca", "its TLS certificate is not trusted by the CA given with --tls-ca"),
        ("wrong-host-name", "its TLS certificate does not name the host '127.0.0.1' (rule A2)"),
    ],
)  # fmt: skip
def test_each_tls_mistake_is_named_at_once(
    tls: tuple[ExtensionServer, Path, Path], reference: ExtensionServer, case: str, says: str
) -> None:
    args = tls_case(tls, reference, case)
    started = time.monotonic()
    code, summary, output = run(*args, "--connect-timeout", str(LONG_CONNECT_S))
    assert code == 3, output
    assert time.monotonic() - started < LONG_CONNECT_S / 2  # not after the connect timeout
    assert summary["outcome"] == "connect"
    assert says in flat(output)
    assert "Traceback" not in output


@needs_openssl
def test_the_right_ca_and_name_still_connect(tls: tuple[ExtensionServer, Path, Path]) -> None:
    server, cert, _ = tls
    code, summary, output = run(
        "--target", f"localhost:{server.port}", "--tls-ca", str(cert), "--max-frames", "5"
    )
    assert code == 0, output
    assert summary["frames_acked"] == 5


def test_an_unreadable_or_non_pem_ca_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    code, _, output = run("--target", "localhost:5001", "--tls-ca", str(missing))
    assert code == 2, output
    assert f"cannot read --tls-ca {missing}: No such file or directory" in flat(output)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    code, _, output = run("--target", "localhost:5001", "--tls-ca", str(garbage))
    assert code == 2, output
    assert f"--tls-ca {garbage} holds no PEM certificate" in flat(output)


@needs_openssl
def test_conformance_gets_the_same_sentences(tls: tuple[ExtensionServer, Path, Path]) -> None:
    """``lvatool conformance server`` connects through the same functions."""
    server, _, other = tls
    options = ConnectOptions(
        target=f"tcp://localhost:{server.port}",
        connect_timeout_s=LONG_CONNECT_S,
        tls_ca=other.read_bytes(),
    )
    channel = open_channel(options)
    try:
        with pytest.raises(CallError, match="not trusted by the CA given with --tls-ca"):
            wait_for_channel(channel, options)
    finally:
        channel.close()
    with pytest.raises(CallError, match="has no port") as raised:
        open_channel(ConnectOptions(target="localhost"))
    assert raised.value.code == "INVALID_ARGUMENT"
