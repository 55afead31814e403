"""Network addresses as users type them, judged once before anything connects or binds.

LVA names an extension as ``tcp://HOST:PORT`` (a topology's ``grpcBinding`` /
``endpoint.url``); people type ``HOST:PORT``, ``[::1]:5001`` or forget the port. Every
command reads addresses through this module, so a bad one is refused at once with a
sentence naming the option, instead of after a connect timeout or in gRPC's own words.
"""

from __future__ import annotations

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
