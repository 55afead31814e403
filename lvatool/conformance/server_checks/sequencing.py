"""Numbering, acknowledgement and the half-close: S02, S03, S04, S13 (Q1, Q2, Q5, Q6)."""

from __future__ import annotations

from lvatool.conformance.catalogue import CheckFailed, CheckWarning, Level, check
from lvatool.conformance.runner import CheckContext
from lvatool.conformance.server_checks.environment import ServerEnv, require_served
from lvatool.conformance.server_checks.exchange import Exchange, exchange, status_of
from lvatool.conformance.server_checks.probe_frames import encode_probe

SUITE = "server"


def _probes(context: CheckContext, order: list[int]) -> Exchange:
    env: ServerEnv = context.env
    probe = env.require_probe()
    return exchange(context, env.spec(probe), [encode_probe(i, probe) for i in order])


@check("S02", "Responses are numbered from 1, increasing by exactly 1", "Q1, Q5, H4, Q2",
       suite=SUITE)  # fmt: skip
def sequence_numbers(context: CheckContext) -> str:
    """Sends 6 samples and half-closes; expects the reply numbered 1 and the responses 2 … 7,
    in whatever order they answer (sequence 0 is tolerated with a warning, Q5)."""
    record = _probes(context, [0, 1, 2, 3, 0, 1])
    require_served(record, "6 samples")
    numbers = [record.reply.sequence_number] if record.reply else []
    numbers += [ack.response_sequence for ack in record.acks]
    if 0 in numbers:
        raise CheckWarning(f"the server numbers messages {numbers}: 0 is tolerated by LVA (Q5)")
    out_of_sequence = [str(v) for v in record.violations if v.rule == "Q1"]
    if out_of_sequence:
        raise CheckFailed("; ".join(out_of_sequence[:3]) + f"; acknowledgements numbered {numbers}")
    return f"messages numbered 1 … {len(numbers)}"


@check("S03", "Every sample is acknowledged exactly once, and only samples sent",
       "Q2, H2, H4", suite=SUITE)  # fmt: skip
def one_ack_per_sample(context: CheckContext) -> str:
    """Sends 8 samples and half-closes; expects 8 acknowledgements, no repeat, no stranger,
    and no second descriptor. A sample answered late (at the next sample or at the
    half-close) is fine (Q4)."""
    env: ServerEnv = context.env
    if env.silence is not None and env.silent_at == "answers":
        raise CheckFailed(f"samples were never acknowledged: {env.silence} (Q2)")
    unanswered = env.unanswered_trial()
    if env.probe is None and unanswered is not None:
        raise CheckFailed(f"a probe session: {unanswered.story()} (Q2)")
    record = _probes(context, [0, 1, 2, 3, 3, 2, 1, 0])
    for violation in record.violations:
        if violation.rule in ("Q2", "H2"):
            raise CheckFailed(str(violation))
    require_served(record, "8 samples")
    return "8 samples, 8 acknowledgements"


@check("S04", "Responses echo the timestamp of the sample they acknowledge",
       "Q2, H4", suite=SUITE, level=Level.SHOULD)  # fmt: skip
def timestamps_echoed(context: CheckContext) -> str:
    """Sends 4 samples with distinct timestamps; expects each echoed on its response."""
    record = _probes(context, [0, 1, 2, 3])
    require_served(record, "4 samples")
    wrong = [
        f"sample {a.sequence_number}: {a.response_timestamp} for {a.timestamp}"
        for a in record.acks
        if a.response_timestamp != a.timestamp
    ]
    if wrong:
        raise CheckFailed("timestamps not echoed (Q2 [decision]): " + "; ".join(wrong[:4]))
    return "every timestamp echoed"


@check("S13", "A half-close is answered: pending samples acknowledged, then OK",
       "Q6, H4", suite=SUITE)  # fmt: skip
def half_close(context: CheckContext) -> str:
    """Sends 5 samples and half-closes at once; expects all 5 acknowledged, then the call
    ended with OK."""
    env: ServerEnv = context.env
    if env.silence is not None and env.silent_at == "answers":
        raise CheckFailed(f"after the half-close: {env.silence} (Q6)")
    if env.never_ends is not None:
        raise CheckFailed(f"{env.never_ends} (Q6)")
    unanswered = env.unanswered_trial()
    if env.probe is None and unanswered is not None:
        raise CheckFailed(f"after the half-close of a probe session, {unanswered.story()} (Q6)")
    record = _probes(context, [0, 1, 2, 3, 0])
    if record.reply is None:
        require_served(record, "5 samples")
    if record.ended is None:
        raise CheckFailed(f"after the half-close, {record.story()} (Q6)")
    if not record.complete or record.ended.code != "OK":
        raise CheckFailed(
            f"after the half-close, {len(record.acks)} of 5 samples acknowledged, then "
            f"the call ended with {status_of(record.ended)}; expected all 5, then OK (Q6)"
        )
    return "5 pending samples acknowledged, call ended OK"
