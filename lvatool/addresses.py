"""Network addresses as users type them, judged once before anything connects or binds.

LVA names an extension as ``tcp://HOST:PORT`` (a topology's ``grpcBinding`` /
``endpoint.url``); people type ``HOST:PORT``, ``[::1]:5001`` or forget the port. Every
command reads addresses through this module, so a bad one is refused at once with a
sentence naming the option, instead of after a connect timeout or in gRPC's own words.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

_SCHEMES = ("tcp://", "grpc://", "dns:///")


class AddressError(ValueError):
    """An address that cannot be used; ``str(error)`` says why, naming what was typed."""


@dataclass(frozen=True)
class Address:
    """A host and a port; ``host`` has no brackets, even for IPv6."""

    host: str
    port: int

    def __str__(self) -> str:
        """The ``HOST:PORT`` form gRPC takes (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(
    text: str, *, default_host: str | None = None, allow_port_zero: bool = False
) -> Address:
    """``tcp://HOST:PORT``, ``HOST:PORT`` or ``[V6]:PORT`` to an :class:`Address`.

    ``default_host`` fills an empty host (``:5001``) where the caller has one to offer, as
    a listening address does; a client target must name its host.
    """
    address = text.strip()
    for scheme in _SCHEMES:
        if address.lower().startswith(scheme):
            address = address[len(scheme) :]
            break
    else:
        if "://" in address:
            scheme = address.split("://", 1)[0]
            raise AddressError(
                f"{text!r}: scheme {scheme}:// is not supported; use tcp://HOST:PORT"
            )
    address = address.rstrip("/")
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise AddressError(f"{text!r}: an IPv6 address is written [ADDRESS]:PORT")
        port_text = rest[1:] if rest else ""
        has_port = bool(rest)
    else:
        host, sep, port_text = address.rpartition(":")
        has_port = bool(sep)
        if not has_port:
            host = address
        elif ":" in host:
            raise AddressError(
                f"{text!r}: write an IPv6 address in brackets, as [{host}]:{port_text}"
            )
    if not has_port or not port_text:
        raise AddressError(f"{text!r} has no port: expected HOST:PORT, such as localhost:5001")
    if not (port_text.isascii() and port_text.isdigit()):  # "²".isdigit(), but int() fails
        raise AddressError(f"{text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    lowest = 0 if allow_port_zero else 1
    if not lowest <= port <= 65535:
        raise AddressError(f"{text!r}: port {port} is outside {lowest}-65535")
    if not host:
        if default_host is None:
            raise AddressError(f"{text!r} has no host: expected HOST:PORT, such as localhost:5001")
        host = default_host
    if any(character.isspace() or character in "/?#@" for character in host):
        raise AddressError(f"{text!r}: {host!r} is not a host name or address")
    return Address(host, port)


def parse_target(text: str) -> str:
    """A client's target (``--target``) in the ``HOST:PORT`` form gRPC dials."""
    return str(parse_address(text))


def parse_listen(text: str, default_host: str = "0.0.0.0") -> Address:
    """A listening address (``--bind``, ``--listen``); port 0 picks a free port."""
    return parse_address(text, default_host=default_host, allow_port_zero=True)


def why_bind_fails(address: Address) -> str:
    """Why ``address`` cannot be listened on, in words, e.g. "address already in use".

    gRPC only says that binding failed ("Failed to bind to address …"). Binding a plain
    socket to the same address the way gRPC does (``SO_REUSEADDR``) reproduces the
    operating system's reason: the port taken, a host that is not this machine's, a port
    that needs privileges.
    """
    try:
        candidates = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as error:
        return f"cannot resolve {address.host!r} ({error.strerror})"
    for family, kind, protocol, _, socket_address in candidates:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(socket_address)
            except OSError as error:
                return _BIND_ERRORS.get(error.errno or 0, (error.strerror or str(error)).lower())
    return "gRPC could not listen there (the address may have been freed since)"


_BIND_ERRORS = {
    errno.EADDRINUSE: "address already in use (another process listens on that port)",
    errno.EADDRNOTAVAIL: "the address does not belong to this machine",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
}
