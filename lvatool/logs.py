"""Logging to stderr as text or one JSON object per line (``--log-format``)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import MutableMapping


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


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    """Send lvatool's logs to stderr at ``level`` in ``fmt`` (``text`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger("lvatool")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def flush_logs() -> None:
    """Write out what lvatool has logged, before the process leaves with ``os._exit``."""
    for handler in logging.getLogger("lvatool").handlers:
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
