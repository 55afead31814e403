"""The server suite: drive an extension as LVA would and judge every answer.

Every check opens sessions through one helper (:mod:`.exchange`): send the samples,
half-close, then collect. Each check quotes its rules, says what it sends and what it
expects, and fails with a message that names the rule it saw broken and quotes the
status the server sent. Importing this package registers the checks.
"""

from lvatool.conformance.server_checks import (  # noqa: F401  (each registers its checks)
    formats,
    handshake,
    results,
    sequencing,
    sessions,
    shared_buffer,
    throughput,
)
from lvatool.conformance.server_checks.environment import ServerEnv, prepare, probe_candidates

__all__ = ["ServerEnv", "prepare", "probe_candidates"]
