"""Sessions: concurrency (S12, H1), cancellation (S14, A3) and credentials (S15, A1)."""

from __future__ import annotations

import itertools
import time

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped, check
from lvatool.conformance.runner import CheckContext
from lvatool.conformance.server_checks.environment import ServerEnv, require_served
from lvatool.conformance.server_checks.exchange import ProbeCall, exchange, status_of
from lvatool.conformance.server_checks.probe_frames import (
    PROBE_COUNT,
    canonical,
    describe_results,
    encode_probe,
)
from lvatool.conformance.server_checks.shared_buffer import still_serving
from lvatool.conformance.server_checks.stateful import (
    STATEFUL_REFERENCE,
    expected_results,
    state_hint,
)
from lvatool.sim.call import ConnectOptions

SUITE = "server"


@check("S12", "Concurrent sessions are served independently, or refused at a limit",
       "H1, H4, Q2", suite=SUITE, deadline_s=30)  # fmt: skip
def concurrent_sessions(context: CheckContext) -> str:
    """Opens --sessions sessions (16 by default) at once and keeps them open; each must get
    its reply descriptor, or be refused with RESOURCE_EXHAUSTED when the server is at its
    limit, never left waiting (H1). The served sessions then each send the probes in a
    different order, and each probe must get the results it gets alone.

    With --stateful (results may depend on the session's earlier frames) each session
    must instead get the results of the same sequence of probes sent alone, embedded, in
    a session of its own: a processor that lets sessions share state (one previous frame
    for all) still fails (H1)."""
    env: ServerEnv = context.env
    probe = env.require_probe()
    orders = _session_orders(env)
    expected = {order: expected_results(context, env, order) for order in dict.fromkeys(orders)}
    calls = []
    try:
        for _ in range(env.sessions):
            calls.append(ProbeCall(context, env.spec(probe)))
        started = time.monotonic()
        for call in calls:  # all were opened first: their replies arrive concurrently
            call.handshake(max(env.silence_s - (time.monotonic() - started), 0.1))
        served = [c for c in calls if c.record.reply is not None]
        refused = [c.record for c in calls if c.record.reply is None]
        waiting = [r for r in refused if r.ended is None]
        if waiting:
            raise CheckFailed(
                f"the server served at most {len(served)} concurrent sessions: "
                f"{len(waiting)} of {len(calls)} got no reply descriptor within "
                f"{env.silence_s:g} s while {len(served)} were open; at its limit a server "
                "ends a new call at once with RESOURCE_EXHAUSTED (H1)"
            )
        other = [r for r in refused if r.ended is not None and r.ended.code != "RESOURCE_EXHAUSTED"]
        if other:
            assert other[0].ended is not None
            raise CheckFailed(
                f"with {len(served)} sessions open, a new one ended with "
                f"{status_of(other[0].ended)}; at its limit a server refuses with "
                "RESOURCE_EXHAUSTED (H1)"
            )
        sent = {id(call): order for call, order in zip(served, orders, strict=False)}
        # Round robin: each session's next frame goes out after every other session's, so
        # a processor that keeps one state for all sessions mixes them up (H1).
        for position in range(PROBE_COUNT):
            for call in served:
                call.send(encode_probe(sent[id(call)][position], probe), tag=position)
        reference = "the same sequence alone" if env.stateful else "alone"
        for number, call in enumerate(served, 1):
            record = call.collect()
            require_served(record, f"concurrent session {number}")
            order = sent[id(call)]
            got = {ack.tag: canonical(ack.inferences) for ack in record.acks}
            for position in sorted(got):
                index, want = order[position], expected[order][position]
                if got[position] != want:
                    maybe_state = state_hint(env, position, got.get(0) == expected[order][0])
                    raise CheckFailed(
                        f"in concurrent session {number}, probe {index} (sample "
                        f"{position + 2}) got {describe_results(got[position])}, {reference} "
                        f"{describe_results(want)}: sessions share state (H1){maybe_state}"
                    )
    finally:
        for call in calls:
            call.close()
    done = f"{len(served)} concurrent sessions, all independent"
    if refused:
        done = (
            f"served {len(served)} concurrent sessions independently and refused "
            f"{len(refused)} more with RESOURCE_EXHAUSTED: its limit is {len(served)}"
        )
    return f"{done}; {STATEFUL_REFERENCE}" if env.stateful else done


def _session_orders(env: ServerEnv) -> list[tuple[int, ...]]:
    """The order in which each of S12's sessions sends the probes: distinct permutations
    while they last, each differing from the one before at every position where one
    still can, so that neighbouring sessions, sent round robin, send different frames."""
    unused = list(itertools.permutations(range(PROBE_COUNT)))
    chosen = [unused.pop(0)]
    while unused:
        last = chosen[-1]
        apart = [p for p in unused if all(a != b for a, b in zip(p, last, strict=True))]
        chosen.append(apart[0] if apart else unused[0])
        unused.remove(chosen[-1])
    return list(itertools.islice(itertools.cycle(chosen), env.sessions))


@check("S14", "A cancelled call leaves the server serving", "A3, H4", suite=SUITE)
def cancelled_call(context: CheckContext) -> str:
    """Cancels a session with 3 samples in flight, then expects two new sessions, one
    after the other, served as usual."""
    env: ServerEnv = context.env
    probe = env.require_probe()
    call = ProbeCall(context, env.spec(probe))
    try:
        if not call.handshake():
            require_served(call.record, "the session to cancel")
        for position in range(3):
            call.send(encode_probe(position, probe))
        call.cancel()
    finally:
        call.close()
    # Twice: the first may begin before the server has seen the cancellation.
    still_serving(context, "a cancelled call")
    still_serving(context, "a cancelled call")
    return "served normally after a cancelled call"


@check("S15", "Wrong or missing credentials are refused with UNAUTHENTICATED",
       "A1, H4, Q2", suite=SUITE)  # fmt: skip
def credentials(context: CheckContext) -> str:
    """With --username/--password: a session without credentials and one with a wrong
    password must each end at once with UNAUTHENTICATED; the right ones are served."""
    env: ServerEnv = context.env
    if env.username is None:
        raise CheckSkipped("no --username/--password given")
    probe = env.require_probe()
    base = env.connect
    attempts = {
        "missing": ConnectOptions(target=base.target, connect_timeout_s=base.connect_timeout_s,
                                  tls_ca=base.tls_ca, tls_server_name=base.tls_server_name),
        "wrong": ConnectOptions(target=base.target, connect_timeout_s=base.connect_timeout_s,
                                username=env.username, password=(env.password or "") + "-wrong",
                                tls_ca=base.tls_ca, tls_server_name=base.tls_server_name),
    }  # fmt: skip
    for kind, connect in attempts.items():
        record = exchange(
            context, env.spec(probe), [encode_probe(0, probe)], connect=connect,
            judge_silence=False,
        )  # fmt: skip
        if record.reply is not None:
            raise CheckFailed(f"the server accepted a session with {kind} credentials (A1)")
        if record.ended is None:
            raise CheckFailed(f"{kind} credentials: {record.story()} (A1)")
        if record.ended.code != "UNAUTHENTICATED":
            raise CheckFailed(
                f"{kind} credentials refused with {status_of(record.ended)}, "
                "not UNAUTHENTICATED (A1)"
            )
    record = exchange(context, env.spec(probe), [encode_probe(0, probe)])
    require_served(record, "with the right credentials")
    return "missing and wrong credentials refused, right ones served"
