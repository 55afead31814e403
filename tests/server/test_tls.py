"""TLS (A2): the server serves a certificate; simulate verifies it against a CA file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvatool.cli import app
from lvatool.server import ExtensionServer, ServerOptions

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


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


def test_serve_refuses_unreadable_certificate(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--port", "0", "--tls-cert", str(tmp_path / "missing.pem"),
         "--tls-key", str(tmp_path / "missing.key")],
    )  # fmt: skip
    assert result.exit_code == 3
    assert "cannot read" in result.output
