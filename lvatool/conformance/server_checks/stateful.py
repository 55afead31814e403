"""``--stateful``: what the result checks compare with when a processor keeps state.

S05, S06 and S12 compare a probe's results in one context (among other frames, through
shared memory, in a concurrent session) with its results in another (alone). That is
right for a classifier, and meaningless for a processor whose results depend on the
session's earlier frames: motion detection, tracking. Such a processor is legal (H1
forbids state across *sessions*, not across frames), so judging it that way would fail
a correct peer.

With ``--stateful`` the checks compare instead with the same *sequence* of frames sent
embedded in a fresh session: a deterministic stateful processor's results are a function
of the session's frames so far. What cannot be judged that way (S05: "results do not
depend on the surrounding frames" is what such a processor breaks by design) is skipped
with the reason, never passed.

Without ``--stateful``, a failure whose pattern a stateful processor would also produce
(the session's first sample matched its reference, a later one did not) carries a hint
naming the option.
"""

from __future__ import annotations

from collections.abc import Sequence

from lvatool.conformance.runner import Deadline
from lvatool.conformance.server_checks.environment import ServerEnv

#: Appended to a failure that a processor keeping state across frames would also cause.
STATEFUL_HINT = (
    "if your processor keeps state across frames (motion, tracking), run with --stateful"
)

#: Said in the detail of a check that judged the server as a stateful processor.
STATEFUL_REFERENCE = "compared with the same sequence sent embedded in a fresh session (--stateful)"


def expected_results(
    context: Deadline, env: ServerEnv, order: Sequence[int]
) -> list[tuple[str, ...]]:
    """What each sample of a session sending the probes ``order`` names must get.

    Without ``--stateful``: each probe's results alone (Q3: results belong to their own
    frame). With it: the results of the same sequence in a fresh embedded session.
    """
    if env.stateful:
        return list(env.sequence_results(context, order))
    return [env.baseline(context, index) for index in order]


def state_hint(env: ServerEnv, position: int, first_matched: bool) -> str:
    """``"; if your processor keeps state …"`` when a mismatch could be a processor's state.

    A fresh session's first sample has no earlier frames, so a stateful processor gets it
    right; only a later mismatch, after a right first sample, could come from state.
    """
    if env.stateful or position == 0 or not first_matched:
        return ""
    return "; " + STATEFUL_HINT
