"""Logging to stderr as text or one JSON object per line (``--log-format``).

The server's records and the user's processor's share one handler, one format and one
level: a processor logs with ``logging.getLogger(__name__)`` or the root logger, and its
lines read like the server's, in JSON too, so one collector parses both. Other libraries
log through the root logger as well (gRPC, asyncio, PIL's per-chunk lines when a PNG is
decoded); below WARNING their records are noise the operator did not ask for with
``--log-level debug``, so :class:`LibraryNoiseFilter` holds them back.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import site
import sys
import sysconfig
import threading
import time
from collections.abc import MutableMapping

_APPLICATION_LOCK = threading.Lock()
_application: frozenset[str] = frozenset({"lvatool"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes, not when it was made.

    A handler that kept the stream of its moment would write into a closed capture once
    a test's ``CliRunner`` (or anything else that swaps ``sys.stderr``) is done with it.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        """The stream is always the current ``sys.stderr``; ``setStream`` cannot change it."""


class LibraryNoiseFilter(logging.Filter):
    """Pass lvatool's and the user's records at any level, other libraries' from WARNING.

    A record is the user's when its logger is one :func:`treat_as_application` named
    (lvatool, the processor's package or module), or when the code that logged it lies
    outside the standard library and the installed packages (the processor, the files
    beside it, the root logger called from them).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return _is_application_logger(record.name) or not is_library_file(record.pathname)


def treat_as_application(logger_name: str) -> None:
    """Show ``logger_name`` and its children at the server's level, like lvatool's own.

    The processor loader names the user's package or module here, so its records pass
    even when the package is installed among the libraries (a container's site-packages).
    """
    global _application
    with _APPLICATION_LOCK:
        _application = _application | {logger_name}


def _is_application_logger(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in _application)


@functools.lru_cache(maxsize=1)
def _library_dirs() -> tuple[str, ...]:
    """The standard library's and the installed packages' folders, each ending in a separator."""
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    folders.update(site.getsitepackages())
    folders.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(folder), "") for folder in folders if folder)


@functools.lru_cache(maxsize=4096)
def is_library_file(filename: str) -> bool:
    """Whether code in ``filename`` belongs to Python or an installed package, not the user."""
    if filename.startswith("<frozen "):
        return True
    if filename.startswith("<"):  # <string>, <stdin>: code the user ran themselves
        return False
    return os.path.realpath(filename).startswith(_library_dirs())


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Send lvatool's and the user's logs to stderr at ``level`` in ``fmt`` (text or json).

    lvatool's logger and the root logger share one handler, so a processor's records
    (``logging.getLogger(__name__)`` or ``logging.info``) come out in the same format at
    the same level; other libraries' records pass from WARNING (:class:`LibraryNoiseFilter`).
    Python warnings become records too, so ``--log-format json`` stays one object per line.
    """
    handler = StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(LibraryNoiseFilter())
    own = logging.getLogger("lvatool")
    own.handlers[:] = [handler]
    own.setLevel(level.upper())
    own.propagate = False
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(previous)  # configured twice in one process: one line per record
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)


def flush_logs() -> None:
    """Write out what has been logged, before the process leaves with ``os._exit``."""
    for logger in (logging.getLogger("lvatool"), logging.getLogger()):
        for handler in logger.handlers:
            handler.flush()
    sys.stderr.flush()


def quiet_grpc_core_logs(environ: MutableMapping[str, str] | None = None) -> None:
    """Keep gRPC's C-core log lines (``E1201 … add_port.cc:83] …``) off the user's terminal.

    lvatool says what went wrong in its own sentence; gRPC's lines repeat it in internal
    words. gRPC reads ``GRPC_VERBOSITY`` once, when ``grpc`` is first imported, so this
    must run before that import, and it leaves a value the user set alone (``debug``
    brings the lines back).
    """
    target = os.environ if environ is None else environ
    target.setdefault("GRPC_VERBOSITY", "NONE")
