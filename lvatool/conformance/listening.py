"""Why a listening address could not be used, in the operating system's words.

gRPC's ``add_insecure_port`` fails with "Failed to bind to address …; set
GRPC_VERBOSITY=debug", which does not say whether the port is taken, the host is not
this machine's, or the port needs privileges. Binding a plain socket to the same address
the same way (``SO_REUSEADDR``, as gRPC does) reproduces the error with its reason.
"""

from __future__ import annotations

import socket

from lvatool.addresses import Address


def bind_failure(address: Address) -> str:
    """The reason ``address`` cannot be listened on, e.g. "address already in use".

    When a plain socket can bind after all (the port was freed in between), the answer
    says gRPC could not listen there, without guessing further.
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
                return (error.strerror or str(error)).lower()
    return "gRPC could not listen there"
