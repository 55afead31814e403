"""Shared memory: S06 (M1–M3), S10 and S11 (M4, A3).

A server may take embedded frames only (an extension on another host cannot share
memory): one that refuses a valid shared buffer at the descriptor with a status H6
allows has these checks skipped, not failed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped, CheckWarning, check
from lvatool.conformance.runner import CheckContext, Deadline
from lvatool.conformance.server_checks.environment import ServerEnv, require_served
from lvatool.conformance.server_checks.exchange import (
    CRASHES,
    REFUSALS,
    Exchange,
    ProbeCall,
    exchange,
    status_of,
)
from lvatool.conformance.server_checks.probe_frames import (
    PROBE_COUNT,
    canonical,
    describe_results,
    encode_probe,
)
from lvatool.conformance.server_checks.stateful import (
    STATEFUL_REFERENCE,
    expected_results,
    state_hint,
)
from lvatool.protocol import AckReceived, ContentReference, SharedMemoryTransfer
from lvatool.shm import SHM_ROOT, SharedMemoryWriter
from lvatool.shm.writer import SharedMemoryCreateError

SUITE = "server"
PREFIX = "lvatool-conformance"


def _buffer(size: int, root: Path = SHM_ROOT) -> SharedMemoryWriter:
    """A checker's shared buffer; a machine that cannot make one skips the check.

    A full or read-only ``/dev/shm`` is this machine's limit, not the server's fault, so
    it must not read as a failure of the server (nor as a crash of the checker).
    """
    try:
        return SharedMemoryWriter(size, prefix=PREFIX, root=root)
    except SharedMemoryCreateError as error:
        raise CheckSkipped(f"this machine cannot make the shared buffer: {error}") from None


def _probe_bytes(env: ServerEnv) -> list[bytes]:
    probe = env.require_probe()
    return [encode_probe(i, probe) for i in range(PROBE_COUNT)]


def try_shared_memory(context: Deadline, env: ServerEnv) -> str:
    """'' when the server takes a valid shared buffer; else its refusal at the descriptor.

    Only a refusal H6 allows counts: anything else (a crash, silence) is for S06 to fail.
    """
    content = _probe_bytes(env)[0]
    with _buffer(len(content)) as buffer:
        context.on_cancel(buffer.close)
        buffer.write(0, content)
        record = exchange(
            context,
            env.spec(shm=SharedMemoryTransfer(buffer.name, buffer.size)),
            [ContentReference(0, len(content))],
            judge_silence=False,
        )
    if record.refused and record.ended is not None and record.ended.code in REFUSALS:
        return f"the server takes no shared memory: {record.story()}"
    return ""


def _require_shared_memory(context: CheckContext) -> ServerEnv:
    env: ServerEnv = context.env
    env.require_probe()
    refusal = env.shared_memory_refusal(context)
    if refusal:
        raise CheckSkipped(refusal)
    return env


@check("S06", "Shared memory: a region is read only before its acknowledgement",
       "M1, M3, Q2, H4", suite=SUITE, deadline_s=20)  # fmt: skip
def shared_memory_hold_until_ack(context: CheckContext) -> str:
    """Sends the probes by reference through 4 regions, overwrites each region with a
    different picture the moment its sample is acknowledged and reuses it, and expects
    every sample to get the results its probe gets alone, embedded (M3).

    With --stateful (results may depend on the session's earlier frames) every sample
    must instead get the results of the same sequence of probes sent embedded in a fresh
    session: a region read after its acknowledgement still shows as a difference."""
    env = _require_shared_memory(context)
    contents = _probe_bytes(env)
    slot_size = max(len(c) for c in contents)
    slots = 4
    order = [0, 1, 2, 3, 1, 0, 3, 2, 2, 3, 0, 1]
    expected = expected_results(context, env, order)
    alone = None if env.stateful else [env.baseline(context, i) for i in range(PROBE_COUNT)]

    def filler(index: int) -> bytes:
        """A picture that gives other results than probe ``index``, to catch a late read."""
        if alone is None:  # stateful: its results alone say nothing; a very different probe
            return contents[index ^ 1]  # dark <-> light, gradient <-> blocks
        other = next((j for j, r in enumerate(alone) if r != alone[index]), None)
        return contents[other] if other is not None else bytes(slot_size)

    with _buffer(slot_size * slots) as buffer:
        context.on_cancel(buffer.close)
        call = ProbeCall(context, env.spec(shm=SharedMemoryTransfer(buffer.name, buffer.size)))
        free = list(range(slots))

        def reuse(ack: AckReceived) -> None:
            # The region is the client's again (M3): overwrite it at once.
            position, slot = ack.tag
            buffer.write(slot * slot_size, filler(order[position]))
            free.append(slot)

        call.on_ack = reuse
        try:
            if not call.handshake():
                raise CheckFailed(f"a valid shared buffer: {call.record.story()} (M1)")
            sent = 0
            while sent < len(order):
                if not free:
                    if call.next_ack(env.silence_s) is None:
                        break  # ended, or holding every region until the half-close (Q4)
                    continue
                slot = free.pop()
                content = contents[order[sent]]
                buffer.write(slot * slot_size, content)
                call.send(ContentReference(slot * slot_size, len(content)), tag=(sent, slot))
                sent += 1
            record = call.collect()
        finally:
            call.close()
    require_served(record, f"{record.sent} samples through shared memory")
    got = {ack.tag[0]: canonical(ack.inferences) for ack in record.acks}
    reference = (
        "the same sequence embedded in a fresh session" if env.stateful else "embedded alone"
    )
    # With --stateful the reference is another session: a state kept across sessions
    # makes the two differ too.
    leak = ", or the processor keeps state across sessions (H1)" if env.stateful else ""
    for position in sorted(got):
        index = order[position]
        result = got[position]
        if result != expected[position]:
            maybe_state = state_hint(env, position, got.get(0) == expected[0])
            raise CheckFailed(
                f"sample {position + 2} (probe {index}) through shared memory got "
                f"{describe_results(result)}, {reference} {describe_results(expected[position])}"
                ": the region was read after its acknowledgement, or results went to another "
                f"frame (M3){leak}{maybe_state}"
            )
    done = f"{record.sent} samples through shared memory, each region reused on its ack"
    return f"{done}; {STATEFUL_REFERENCE}" if env.stateful else done


def still_serving(context: CheckContext, after: str) -> None:
    """A new session is served, with the usual results, after a peer's misbehaviour (A3)."""
    env: ServerEnv = context.env
    probe = env.require_probe()
    record = exchange(context, env.spec(probe), [encode_probe(0, probe)])
    if record.reply is None or not record.complete:
        raise CheckFailed(f"after {after}, a new session: {record.story()} (A3)")
    try:
        expected = env.baseline(context, 0)
    except CheckFailed as error:
        raise CheckFailed(f"after {after}, {error} (A3)") from None
    if canonical(record.acks[0].inferences) != expected:
        raise CheckFailed(f"after {after}, a new session got different results (A3)")


def _judge_refusal(record: Exchange, what: str) -> str:
    """A bad reference or handle name must end the call with INVALID_ARGUMENT (M4)."""
    if record.acks:
        raise CheckFailed(f"the server acknowledged a sample for {what} (M4)")
    if record.reply is not None and record.ended is None:
        raise CheckFailed(f"the server accepted {what}: {record.story()} (M4)")
    if record.ended is None:
        raise CheckFailed(f"{what}: {record.story()} (M4: never silence)")
    code = record.ended.code
    if code == "OK":
        raise CheckFailed(f"{what} was not refused: the call ended OK (M4)")
    if code in CRASHES:
        raise CheckFailed(f"{what}: the server crashed with {status_of(record.ended)} (M4)")
    if code != "INVALID_ARGUMENT":
        raise CheckWarning(
            f"{what} refused with {status_of(record.ended)}; INVALID_ARGUMENT expected (M4)"
        )
    return f"{what}: {status_of(record.ended)}"


@check("S10", "A reference outside the shared buffer is refused; the server keeps serving",
       "M4, M1, A3", suite=SUITE, deadline_s=15)  # fmt: skip
def reference_outside_buffer(context: CheckContext) -> str:
    """Sends a reference that runs half a frame past the end of the buffer; expects the
    call ended with INVALID_ARGUMENT, then a new session served as usual."""
    env = _require_shared_memory(context)
    content = _probe_bytes(env)[0]
    size = len(content)
    with _buffer(size * 2) as buffer:
        context.on_cancel(buffer.close)
        buffer.write(0, content)
        record = exchange(
            context,
            env.spec(shm=SharedMemoryTransfer(buffer.name, buffer.size)),
            [ContentReference(buffer.size - size // 2, size)],
            judge_silence=False,
        )
    if record.reply is None:
        raise CheckFailed(f"a valid shared buffer: {record.story()} (M1)")
    verdict = _judge_refusal(record, "a reference outside the buffer")
    still_serving(context, "a reference outside the buffer")
    return verdict


def _escaping_directories() -> Iterator[tuple[str, Path]]:
    """Directories the checker makes, each with the prefix a handle name needs to reach it
    from ``/dev/shm``: one outside it (through '..'), one below it (through '/'). Each is
    made only when its turn comes and removed after, whatever happens."""
    for parent in (None, SHM_ROOT):  # the system's temporary directory, then /dev/shm
        directory = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-", dir=parent))
        try:
            relative = directory.name if directory.parent == SHM_ROOT else f"../..{directory}"
            yield relative, directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)


@check("S11", "Handle names that leave /dev/shm are refused; the server keeps serving",
       "M4, A3", suite=SUITE, deadline_s=15)  # fmt: skip
def bad_handle_names(context: CheckContext) -> str:
    """Names a real buffer of the right size through '..' from outside /dev/shm, and one in
    a subdirectory of /dev/shm; expects each descriptor refused with INVALID_ARGUMENT (a
    handle name is a plain file name, M4), then a new session served as usual."""
    env = _require_shared_memory(context)
    content = _probe_bytes(env)[0]
    verdicts = []
    warnings = []
    for relative, directory in _escaping_directories():
        with _buffer(len(content), root=directory) as buffer:
            buffer.write(0, content)
            name = f"{relative}/{buffer.name}"
            record = exchange(
                context,
                env.spec(shm=SharedMemoryTransfer(name, buffer.size)),
                [ContentReference(0, len(content))],
                judge_silence=False,
            )
        try:
            verdicts.append(_judge_refusal(record, f"handle name {name!r}"))
        except CheckWarning as warning:
            warnings.append(str(warning))
    still_serving(context, "the bad handle names")
    if warnings:
        raise CheckWarning("; ".join(warnings))
    return "; ".join(verdicts)
