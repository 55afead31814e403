"""Reading and checking the server's TLS identity before the server starts (A2).

gRPC accepts any bytes as a certificate and key and only fails later, at each client's
handshake, with errors in its own log: a server that looks healthy serves nobody. Each
mistake an operator makes (a file that cannot be read, a file that is not PEM, a key that
belongs to another certificate, an encrypted key) is caught here and named in one
sentence, so ``lvatool serve`` can refuse to start.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path


class TlsSetupError(ValueError):
    """The TLS files cannot be used; ``str(error)`` names the option and the reason."""


@dataclass(frozen=True)
class TlsIdentity:
    """A PEM certificate chain and its private key, checked to belong together."""

    certificate_chain: bytes
    private_key: bytes


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise TlsSetupError(f"{option} {path} is a directory, not a PEM file") from None
    except OSError as error:
        raise TlsSetupError(f"cannot read {option} {path}: {error.strerror}") from None


def _no_password() -> bytes:
    raise TlsSetupError("encrypted")


def load_tls_identity(cert: Path, key: Path) -> TlsIdentity:
    """The certificate chain and key, or :class:`TlsSetupError` naming what is wrong."""
    chain = _read(cert, "--tls-cert")
    private_key = _read(key, "--tls-key")
    if b"-----BEGIN CERTIFICATE-----" not in chain:
        raise TlsSetupError(f"--tls-cert {cert} is not a PEM certificate (no BEGIN CERTIFICATE)")
    if b"-----BEGIN" not in private_key or b"PRIVATE KEY-----" not in private_key:
        raise TlsSetupError(f"--tls-key {key} is not a PEM private key (no BEGIN … PRIVATE KEY)")
    if b"ENCRYPTED" in private_key:
        raise TlsSetupError(
            f"--tls-key {key} is encrypted; the server needs an unencrypted PEM private key"
        )
    _check_pair(chain, private_key, cert, key)
    return TlsIdentity(chain, private_key)


def _check_pair(chain: bytes, private_key: bytes, cert: Path, key: Path) -> None:
    """Let OpenSSL (through :mod:`ssl`) load the pair, as gRPC would at a handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain reads files only; use private copies so the check sees exactly the
    # bytes gRPC will get, even if the files change in between.
    with tempfile.TemporaryDirectory(prefix="lvatool-tls-") as folder:
        cert_copy, key_copy = Path(folder, "cert.pem"), Path(folder, "key.pem")
        for path, data in ((cert_copy, chain), (key_copy, private_key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
        try:
            context.load_cert_chain(cert_copy, key_copy, password=_no_password)
        except TlsSetupError:
            raise TlsSetupError(
                f"--tls-key {key} is encrypted; the server needs an unencrypted PEM private key"
            ) from None
        except ssl.SSLError as error:
            reason = (error.reason or str(error)).upper()
            if "MISMATCH" in reason:
                raise TlsSetupError(
                    f"--tls-key {key} does not belong to the certificate in --tls-cert {cert}"
                ) from None
            if "KEY" in reason and "CERT" not in reason:
                raise TlsSetupError(
                    f"--tls-key {key} is not a usable PEM private key ({error.reason})"
                ) from None
            raise TlsSetupError(
                f"--tls-cert {cert} is not a usable PEM certificate ({error.reason})"
            ) from None
