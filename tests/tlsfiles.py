"""Self-signed TLS certificates for tests, made with the ``openssl`` tool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

#: Tests that make certificates skip, saying why, where the ``openssl`` tool is missing.
HAVE_OPENSSL = shutil.which("openssl") is not None


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (its own CA) and its key."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key
