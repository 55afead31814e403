"""Why a connection failed, in one sentence, from what gRPC says about it.

gRPC's channel state only says *that* a channel cannot connect; the reason is in the
details of a call that fails with ``UNAVAILABLE`` ("Connection refused", "Tls handshake
failed … WRONG_VERSION_NUMBER", "CERTIFICATE_VERIFY_FAILED", "Hostname Verification Check
failed", "Socket closed"). :func:`explain` turns those details into a sentence that
names the mistake and the option that fixes it, and says whether waiting longer could
help: a server still starting refuses connections for a while, a TLS mismatch never
goes away, so the caller fails at once on the latter instead of after its timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectProblem:
    """What went wrong connecting; ``lasting`` when waiting longer cannot fix it."""

    sentence: str
    lasting: bool


def _after(details: str, marker: str) -> str:
    """The words after ``marker`` in ``details`` (up to the next colon), if any."""
    tail = details.split(marker, 1)[1] if marker in details else ""
    return tail.lstrip(": ").split(":", 1)[0].strip()


def explain(target: str, details: str, *, tls: bool) -> ConnectProblem | None:
    """The problem behind an ``UNAVAILABLE`` call's ``details``; None if not recognised.

    ``tls`` says whether the channel was made with TLS credentials (``--tls-ca``).
    """
    text = details.casefold()
    host = target.rsplit(":", 1)[0].strip("[]")
    if "wrong_version_number" in text:
        return ConnectProblem(
            f"cannot connect to {target}: the TLS handshake failed because the server does "
            "not speak TLS; connect without --tls-ca",
            lasting=True,
        )
    if "certificate_verify_failed" in text:
        reason = _after(details, "CERTIFICATE_VERIFY_FAILED")
        return ConnectProblem(
            f"cannot connect to {target}: its TLS certificate is not trusted by the CA "
            f"given with --tls-ca ({reason or 'verification failed'}; rule A2)",
            lasting=True,
        )
    if "hostname verification" in text or "peer name" in text or "no match found" in text:
        return ConnectProblem(
            f"cannot connect to {target}: its TLS certificate does not name the host "
            f"{host!r} (rule A2); connect by a name the certificate lists, or give that name "
            "with --tls-server-name",
            lasting=True,
        )
    if "security handshaker" in text or "root certificate" in text:
        return ConnectProblem(
            f"cannot connect to {target}: the --tls-ca file holds no certificate gRPC can "
            "use (expected PEM: -----BEGIN CERTIFICATE-----)",
            lasting=True,
        )
    if "handshake failed" in text or "ssl_error" in text or "tsi_" in text:
        reason = re.sub(r"\s+", " ", details.rsplit("failed", 1)[-1]).strip(" :()")
        return ConnectProblem(
            f"cannot connect to {target}: the TLS handshake failed ({reason or details})",
            lasting=True,
        )
    if not tls and ("socket closed" in text or "connection reset" in text):
        return ConnectProblem(
            f"cannot connect to {target}: the server closed the connection during the "
            "handshake; if it serves TLS, connect with --tls-ca",
            lasting=True,
        )
    if "connection refused" in text:
        return ConnectProblem(
            f"cannot connect to {target}: connection refused (is the extension running "
            "and listening on that port?)",
            lasting=False,
        )
    if "resolving" in text or "domain name not found" in text or "dns" in text:
        return ConnectProblem(
            f"cannot connect to {target}: the host name {host!r} does not resolve",
            lasting=False,
        )
    return None
