"""A real extension server inside the test's own process, on a free loopback port.

:func:`serve` is the quickest way to put a processor behind real gRPC: the same
:class:`~lvatool.server.ExtensionServer` as ``lvatool serve``, its threads in this
process, so a test can hand it an object (a processor holding a fake model, say) and
step through it in a debugger. To load the processor exactly as production does, in a
process of its own, use the pytest fixture ``lvatool_server`` or
:class:`lvatool.testing.ServeProcess` instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lvatool.server.runner import ExtensionServer, ServerOptions
from lvatool.server.servicer import SessionPolicy
from lvatool.testing.processors import ProcessorLike, resolve_processor

_OPTION_NAMES = {f.name for f in dataclasses.fields(ServerOptions)}
_POLICY_NAMES = {f.name for f in dataclasses.fields(SessionPolicy)}


def server_options(**options: Any) -> ServerOptions:
    """:class:`ServerOptions` from keywords, bound to 127.0.0.1 on a free port by default.

    Fields of :class:`SessionPolicy` (``batch_size``, ``credentials``, ``max_sessions`` …)
    may be given alongside those of :class:`ServerOptions` (``max_message_mib``,
    ``tls_cert`` …); an unknown name is a TypeError listing the known ones.
    """
    unknown = set(options) - _OPTION_NAMES - _POLICY_NAMES
    if unknown:
        known = ", ".join(sorted((_OPTION_NAMES | _POLICY_NAMES) - {"policy"}))
        raise TypeError(f"unknown server option(s) {', '.join(sorted(unknown))}; known: {known}")
    direct = {k: v for k, v in options.items() if k in _OPTION_NAMES}
    policy_fields = {k: v for k, v in options.items() if k in _POLICY_NAMES}
    if policy_fields:
        base = direct.pop("policy", SessionPolicy())
        direct["policy"] = dataclasses.replace(base, **policy_fields)
    direct.setdefault("host", "127.0.0.1")
    direct.setdefault("port", 0)
    return ServerOptions(**direct)


@contextmanager
def serve(
    processor: ProcessorLike | None = None, *, grace_s: float = 1.0, **options: Any
) -> Iterator[str]:
    """Serve ``processor`` (dark/light when None) and yield its address, ``127.0.0.1:PORT``.

    ``options`` are :func:`server_options` keywords (``batch_size=4``,
    ``credentials=("user", "secret")`` …). At exit the server stops: sessions still open
    get ``grace_s`` seconds, then are cut (their clients see ``UNAVAILABLE``).

    Example::

        with serve(MyProcessor(), batch_size=4) as address:
            subprocess.run(["lvatool", "simulate", "--target", address, "--max-frames", "30"])
    """
    resolved = None if processor is None else resolve_processor(processor)
    server = ExtensionServer(server_options(**options), resolved)
    server.start()
    try:
        yield server.address
    finally:
        server.stop(grace_s=grace_s)
