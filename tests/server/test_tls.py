"""TLS (A2): the server serves a certificate; simulate verifies it against a CA file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.server import ExtensionServer, ServerOptions
from tests.tlsfiles import HAVE_OPENSSL, make_certificate

pytestmark = pytest.mark.skipif(not HAVE_OPENSSL, reason="needs the openssl tool")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"), "cert")


def test_simulate_over_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    options = ServerOptions(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)
    with ExtensionServer(options) as server:
        target = f"localhost:{server.port}"
        ok = CliRunner().invoke(
            app, ["simulate", "--target", target, "--tls-ca", str(cert), "--max-frames", "20", "-q"]
        )
        assert ok.exit_code == 0, ok.output
        plain = CliRunner().invoke(
            app,
            ["simulate", "--target", target, "--max-frames", "5", "--connect-timeout", "2", "-q"],
        )
        assert plain.exit_code == 3, plain.output  # a plaintext client cannot talk to it


def serve_with(cert: Path, key: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["serve", "--host", "127.0.0.1", "--port", "0", "--tls-cert", str(cert),
         "--tls-key", str(key)],
    )  # fmt: skip
    return result.exit_code, result.output


def test_serve_refuses_unreadable_certificate(tmp_path: Path) -> None:
    code, output = serve_with(tmp_path / "missing.pem", tmp_path / "missing.key")
    assert code == 3
    assert "cannot read --tls-cert" in output and "missing.pem" in output


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("tls-other") / "other.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", str(key)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return key


def test_serve_refuses_a_key_of_another_certificate(
    certificate: tuple[Path, Path], other_key: Path
) -> None:
    """A2: gRPC would start and fail every handshake; we refuse to start, naming both."""
    cert, _ = certificate
    code, output = serve_with(cert, other_key)
    assert code == 3
    assert "does not belong to the certificate" in output and "Traceback" not in output


@pytest.mark.parametrize("which", ["cert", "key"])
def test_serve_refuses_a_file_that_is_not_pem(
    which: str, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"\x30\x82\x01\x0a binary DER, not PEM")
    code, output = serve_with(junk, key) if which == "cert" else serve_with(cert, junk)
    assert code == 3
    assert f"--tls-{which}" in output and "not a PEM" in output


def test_serve_refuses_a_directory_and_an_encrypted_key(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = certificate
    code, output = serve_with(tmp_path, key)
    assert code == 3 and "--tls-cert" in output and "directory" in output
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:secret",
         "-out", str(encrypted)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    code, output = serve_with(cert, encrypted)
    assert code == 3 and "--tls-key" in output and "encrypted" in output
