"""The server suite: drive an extension as LVA would and judge every answer.

Each check quotes its rules, says what it sends and what it expects, and fails with a
message that names the rule it saw broken.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped, CheckWarning, Level, check
from lvatool.conformance.probes import (
    PROBE_HEIGHT,
    PROBE_WIDTH,
    RAW_PROBE,
    Probe,
    ServerEnv,
    baseline,
    canonical,
    describe_results,
    encode_probe,
    probe_images,
    run_probe_frames,
    time_left,
)
from lvatool.conformance.runner import CheckContext
from lvatool.contract import inferencing_pb2
from lvatool.media import RAW_PIXEL_FORMATS, Encoding, FrameFormat, rgb_to_raw, row_bytes
from lvatool.protocol import (
    AckReceived,
    ContentReference,
    ReplyReceived,
    SharedMemoryTransfer,
    StreamSpec,
)
from lvatool.shm import SharedMemoryWriter
from lvatool.sim.call import CallEnded, ConnectOptions
from lvatool.sim.publish import inference_json
from lvatool.sim.stats import LatencyHistogram

SUITE = "server"
TICKS = 90_000


def _spec(frame: FrameFormat = RAW_PROBE, shm: SharedMemoryTransfer | None = None) -> StreamSpec:
    return StreamSpec(frame, shared_memory=shm, identifier="lvatool-conformance")


def _env(context: CheckContext) -> ServerEnv:
    env = context.env
    assert isinstance(env, ServerEnv)
    return env


@check("S01", "Handshake: the reply descriptor comes first and acknowledges the client's",
       "H2, H4", suite=SUITE)  # fmt: skip
def handshake(context: CheckContext) -> str:
    """Sends a RAW descriptor; expects a descriptor numbered 1 acking 1, with no video format."""
    probe = Probe(context, _spec())
    try:
        reply = probe.handshake()
        if reply.sequence_number not in (0, 1):
            raise CheckFailed(f"reply descriptor numbered {reply.sequence_number}, not 1 (Q1)")
        if reply.ack_sequence_number != 1:
            raise CheckFailed(
                f"reply descriptor acknowledges {reply.ack_sequence_number}, not the client's "
                "descriptor 1 (H4)"
            )
        media = reply.descriptor.media_descriptor
        if media.HasField("video_frame_sample_format"):
            raise CheckFailed("the reply's media_descriptor carries a video format (H4)")
        ended = probe.finish()
        if ended.code != "OK":
            raise CheckFailed(f"an empty session ended with {ended.code}, not OK (Q6)")
        return f"reply descriptor from {reply.descriptor.extension_identifier or 'the server'!r}"
    finally:
        probe.close()


def _stream_probes(context: CheckContext, order: list[int]) -> tuple[Probe, list[AckReceived]]:
    probe = Probe(context, _spec())
    probe.handshake()
    for position, index in enumerate(order):
        probe.send(encode_probe(index, RAW_PROBE), TICKS * (position + 1), tag=position)
    return probe, probe.acks(len(order))


@check("S02", "Responses are numbered from 1, increasing by exactly 1", "Q1, Q5", suite=SUITE)
def sequence_numbers(context: CheckContext) -> str:
    """Sends 6 samples; expects responses numbered 2 … 7 (sequence 0 is only a warning)."""
    probe, acks = _stream_probes(context, [0, 1, 2, 3, 0, 1])
    try:
        numbers = [a.response_sequence for a in acks]
        probe.finish()
    finally:
        probe.close()
    assert probe.reply is not None
    warnings = [*probe.reply.warnings, *(w for a in acks for w in a.warnings)]
    if any("Q5" in w for w in warnings) or 0 in numbers:
        raise CheckWarning("the server numbers some messages 0 (tolerated by LVA, Q5)")
    if numbers != list(range(2, 8)):
        raise CheckFailed(f"responses numbered {numbers}, expected 2 … 7 (Q1)")
    return "responses numbered 2 … 7"


@check("S03", "Every sample is acknowledged exactly once, and only samples sent",
       "Q2", suite=SUITE)  # fmt: skip
def one_ack_per_sample(context: CheckContext) -> str:
    """Sends 8 pipelined samples and half-closes; expects 8 acks, no repeat, no stranger."""
    probe, acks = _stream_probes(context, [0, 1, 2, 3, 3, 2, 1, 0])
    try:
        acked = sorted(a.sequence_number for a in acks)
        ended = probe.finish()  # a late second ack surfaces here as a Q2 violation
    finally:
        probe.close()
    if acked != list(range(2, 10)):
        raise CheckFailed(f"acknowledged samples {acked}, expected 2 … 9 once each (Q2)")
    if ended.code != "OK":
        raise CheckFailed(f"the call ended with {ended.code} {ended.details} (Q6)")
    return "8 samples, 8 acknowledgements"


@check("S04", "Responses echo the timestamp of the sample they acknowledge",
       "Q2", suite=SUITE, level=Level.SHOULD)  # fmt: skip
def timestamps_echoed(context: CheckContext) -> str:
    """Sends 4 samples with distinct timestamps; expects each echoed on its response."""
    probe, acks = _stream_probes(context, [0, 1, 2, 3])
    try:
        probe.finish()
    finally:
        probe.close()
    wrong = [
        f"sample {a.sequence_number}: {a.response_timestamp} for {a.timestamp}"
        for a in acks
        if a.response_timestamp != a.timestamp
    ]
    if wrong:
        raise CheckFailed("timestamps not echoed (Q2 [decision]): " + "; ".join(wrong))
    return "every timestamp echoed"


def _baselines(context: CheckContext) -> list[tuple[str, ...]]:
    return [baseline(context, i) for i in range(len(probe_images()))]


@check("S05", "Results belong to their own frame, whatever frames surround it",
       "Q3, Q4", suite=SUITE, deadline_s=20)  # fmt: skip
def results_tied_to_frame(context: CheckContext) -> str:
    """Each probe alone gives a baseline; a pipelined mix of them must reproduce it."""
    alone = _baselines(context)
    if len(set(alone)) == 1:
        raise CheckSkipped("the server gives every probe the same results: Q3 cannot be observed")
    order = [0, 1, 2, 3, 3, 2, 1, 0, 1, 3, 0, 2]
    mixed = run_probe_frames(context, order)
    for position, (index, result) in enumerate(zip(order, mixed, strict=True)):
        if result != alone[index]:
            raise CheckFailed(
                f"sample {position + 2} (probe {index}) got {describe_results(result)} among "
                f"other frames but {describe_results(alone[index])} alone (Q3)"
            )
    return f"{len(order)} pipelined samples, each with its own frame's results"


@check("S06", "Shared memory: a region is read only before its acknowledgement",
       "M1, M2, M3", suite=SUITE, deadline_s=20)  # fmt: skip
def shared_memory_hold_until_ack(context: CheckContext) -> str:
    """Sends probes by reference, overwrites each region the moment it is acknowledged,
    and expects the same results as the embedded baseline."""
    alone = _baselines(context)
    size = RAW_PROBE.raw_size()
    slots = 4
    order = [0, 1, 2, 3, 1, 0, 3, 2, 2, 3, 0, 1]
    with SharedMemoryWriter(size * slots, prefix="lvatool-conformance") as buffer:
        context.on_cancel(buffer.close)
        probe = Probe(context, _spec(shm=SharedMemoryTransfer(buffer.name, buffer.size)))
        try:
            probe.handshake()
            results: dict[int, tuple[str, ...]] = {}
            free = list(range(slots))
            sent = 0
            pending = 0
            while len(results) < len(order):
                while free and sent < len(order):
                    slot = free.pop()
                    buffer.write(slot * size, encode_probe(order[sent], RAW_PROBE))
                    probe.send(
                        ContentReference(slot * size, size), TICKS * (sent + 1), (sent, slot)
                    )
                    sent += 1
                    pending += 1
                ack = probe.next_ack()
                position, slot = ack.tag
                # Reuse at once, with a frame whose results differ (M3 allows it now).
                index = order[position]
                other = next((j for j, r in enumerate(alone) if r != alone[index]), None)
                filler = encode_probe(other, RAW_PROBE) if other is not None else bytes(size)
                buffer.write(slot * size, filler)
                results[position] = canonical(ack.inferences)
                free.append(slot)
            probe.finish()
        finally:
            probe.close()
    for position, index in enumerate(order):
        if results[position] != alone[index]:
            raise CheckFailed(
                f"sample {position + 2} (probe {index}) through shared memory got "
                f"{describe_results(results[position])}, embedded alone "
                f"{describe_results(alone[index])}: the region was read after its ack, or "
                "results went to another frame (M3)"
            )
    return f"{len(order)} samples through shared memory, regions reused on every ack"


def _try_format(context: CheckContext, frame: FrameFormat, budget_s: float) -> str:
    """``processed``, ``refused CODE`` or ``silent`` for two probes in ``frame``'s format."""
    started = time.monotonic()
    probe = Probe(context, _spec(frame))
    try:
        event = probe.call.next_event(min(budget_s, time_left(context)))
        if event is None:
            return "silent"
        if isinstance(event, CallEnded):
            return f"refused {event.code}"
        if isinstance(event, Exception):
            return f"broke the protocol: {event}"
        if not isinstance(event, ReplyReceived):
            return "broke the protocol: a sample before its descriptor (H2)"
        for position in range(2):
            probe.send(encode_probe(position, frame), TICKS * (position + 1))
        got = 0
        while got < 2:
            left = budget_s - (time.monotonic() - started)
            event = probe.call.next_event(min(max(left, 0.0), time_left(context)))
            if event is None:
                return "silent"
            if isinstance(event, CallEnded):
                return f"refused {event.code}" if event.code != "OK" else "ended early"
            if isinstance(event, Exception):
                return f"broke the protocol: {event}"
            got += 1
        return "processed"
    finally:
        probe.close()


def _format_matrix(context: CheckContext, frames: dict[str, FrameFormat]) -> str:
    budget = max(2.0, (context.remaining() - 1.0) / max(len(frames), 1))
    outcomes = {name: _try_format(context, frame, budget) for name, frame in frames.items()}
    bad = {n: o for n, o in outcomes.items() if o == "silent" or o.startswith(("broke", "ended"))}
    summary = ", ".join(f"{n}: {o}" for n, o in outcomes.items())
    if bad:
        raise CheckFailed(
            "never silence (H6): "
            + ", ".join(f"{n} {o}" for n, o in bad.items())
            + f" — all: {summary}"
        )
    return summary


@check("S07", "Each encoding (JPG, PNG, BMP) is processed or refused with a status",
       "H6, F1", suite=SUITE, deadline_s=20)  # fmt: skip
def encodings(context: CheckContext) -> str:
    frames = {e.name: FrameFormat(e, width=PROBE_WIDTH, height=PROBE_HEIGHT)
              for e in (Encoding.JPG, Encoding.PNG, Encoding.BMP)}  # fmt: skip
    return _format_matrix(context, frames)


@check("S08", "Each RAW pixel format, odd width and padded stride, processed or refused",
       "H6, F1", suite=SUITE, deadline_s=40)  # fmt: skip
def pixel_formats(context: CheckContext) -> str:
    width, height = PROBE_WIDTH - 1, PROBE_HEIGHT - 1
    frames = {
        f.name: FrameFormat(Encoding.RAW, f, width, height, row_bytes(f, width) + 8)
        for f in RAW_PIXEL_FORMATS
    }
    return _format_matrix(context, frames)


@check("S09", "A raw 1080p frame (6.2 MB) embedded is processed", "E2", suite=SUITE,
       deadline_s=15)  # fmt: skip
def large_embedded_frame(context: CheckContext) -> str:
    image = np.kron(probe_images()[1], np.ones((9, 12, 1), dtype=np.uint8))[:1080, :1920]
    frame = FrameFormat(Encoding.RAW, RAW_PROBE.pixel_format, 1920, 1080)
    probe = Probe(context, _spec(frame))
    try:
        probe.handshake()
        probe.send(rgb_to_raw(np.ascontiguousarray(image), frame.pixel_format), TICKS)
        event = probe.call.next_event(time_left(context))
        if isinstance(event, CallEnded) and event.code == "RESOURCE_EXHAUSTED":
            raise CheckFailed(
                "the server refused a 6.2 MB message with RESOURCE_EXHAUSTED: it keeps gRPC's "
                "4 MiB default receive limit (E2)"
            )
        if isinstance(event, CallEnded):
            raise CheckFailed(f"the call ended with {event.code} {event.details} (E2)")
        if event is None:
            raise CheckFailed("no acknowledgement for the 1080p frame before the deadline (E2)")
        if isinstance(event, Exception):
            raise CheckFailed(str(event))
        probe.finish()
    finally:
        probe.close()
    return "1920x1080 BGR24 embedded, acknowledged"


def _still_serving(context: CheckContext) -> None:
    """A new session is served normally after a peer's misbehaviour (A3)."""
    try:
        (result,) = run_probe_frames(context, [0])
    except CheckFailed as error:
        raise CheckFailed(f"after the bad session, a new one failed: {error} (A3)") from None
    if result != baseline(context, 0):
        raise CheckFailed("after the bad session, a new one got different results (A3)")


def _expect_refusal(context: CheckContext, probe: Probe, what: str) -> str:
    ended = probe.end_status()
    if ended.code == "OK":
        raise CheckFailed(f"{what} was not refused: the call ended OK (M4)")
    if ended.code != "INVALID_ARGUMENT":
        raise CheckWarning(f"{what} refused with {ended.code}; INVALID_ARGUMENT expected (M4)")
    return f"{ended.code}: {ended.details}"


@check("S10", "A reference outside the shared buffer is refused; the server keeps serving",
       "M4, A3", suite=SUITE, deadline_s=15)  # fmt: skip
def reference_outside_buffer(context: CheckContext) -> str:
    size = RAW_PROBE.raw_size()
    with SharedMemoryWriter(size * 2, prefix="lvatool-conformance") as buffer:
        context.on_cancel(buffer.close)
        probe = Probe(context, _spec(shm=SharedMemoryTransfer(buffer.name, buffer.size)))
        try:
            probe.handshake()
            probe.send(ContentReference(buffer.size - size // 2, size), TICKS)
            event = probe.call.next_event(time_left(context))
            if event is None:
                raise CheckFailed(
                    "silence after a reference outside the buffer (M4: never silence)"
                )
            if not isinstance(event, CallEnded):
                raise CheckFailed(
                    "the server answered a reference that lies outside the buffer instead of "
                    "ending the call with INVALID_ARGUMENT (M4)"
                )
            probe.ended = event
            verdict = _expect_refusal(context, probe, "a reference outside the buffer")
        finally:
            probe.close()
    _still_serving(context)
    return verdict


@check("S11", "Handle names with '/' or '..' are refused; the server keeps serving",
       "M4, A3", suite=SUITE, deadline_s=15)  # fmt: skip
def bad_handle_names(context: CheckContext) -> str:
    verdicts = []
    for name in ("../../etc/hostname", "lvatool/../../etc/hostname"):
        probe = Probe(context, _spec(shm=SharedMemoryTransfer(name, 4096)))
        try:
            event = probe.call.next_event(time_left(context))
            if event is None:
                raise CheckFailed(f"silence after handle name {name!r} (M4: never silence)")
            if not isinstance(event, CallEnded):
                raise CheckFailed(f"the server accepted the handle name {name!r} (M4, A3)")
            probe.ended = event
            verdicts.append(_expect_refusal(context, probe, f"handle name {name!r}"))
        finally:
            probe.close()
    _still_serving(context)
    return "; ".join(verdicts)


@check("S12", "Concurrent sessions are independent", "H1", suite=SUITE, deadline_s=20)
def concurrent_sessions(context: CheckContext) -> str:
    """Four sessions at once, each a different order of probes; each must match the baselines."""
    alone = _baselines(context)
    orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 0, 0], [2, 3, 2, 3]]
    errors: list[str] = []
    outcomes: list[list[tuple[str, ...]]] = [[] for _ in orders]

    def session(i: int) -> None:
        try:
            outcomes[i] = run_probe_frames(context, orders[i])
        except Exception as error:
            errors.append(f"session {i + 1}: {error}")

    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(len(orders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(time_left(context))
    errors.extend(
        f"session {i + 1} had no verdict before the deadline"
        for i, thread in enumerate(threads)
        if thread.is_alive()
    )
    if errors:
        raise CheckFailed("; ".join(errors) + " (H1)")
    for i, (order, results) in enumerate(zip(orders, outcomes, strict=True)):
        for index, result in zip(order, results, strict=True):
            if result != alone[index]:
                raise CheckFailed(
                    f"in concurrent session {i + 1}, probe {index} got {describe_results(result)}, "
                    f"alone {describe_results(alone[index])}: sessions share state (H1)"
                )
    return f"{len(orders)} concurrent sessions, all independent"


@check("S13", "A half-close is answered: pending samples acknowledged, then OK",
       "Q6", suite=SUITE)  # fmt: skip
def half_close(context: CheckContext) -> str:
    probe = Probe(context, _spec())
    try:
        probe.handshake()
        for position in range(5):
            probe.send(encode_probe(position % 4, RAW_PROBE), TICKS * (position + 1))
        probe.call.close()
        acked = 0
        while True:
            event = probe.call.next_event(time_left(context))
            if event is None:
                raise CheckFailed(f"after the half-close, {acked} of 5 acked and then silence (Q6)")
            if isinstance(event, CallEnded):
                if acked != 5:
                    raise CheckFailed(f"the call ended after {acked} of 5 acks (Q6)")
                if event.code != "OK":
                    raise CheckFailed(f"the call ended with {event.code}, not OK (Q6)")
                return "5 pending samples acknowledged, call ended OK"
            if isinstance(event, Exception):
                raise CheckFailed(str(event))
            acked += 1
    finally:
        probe.close()


@check("S14", "A cancelled call leaves the server serving", "H1, A3", suite=SUITE)
def cancelled_call(context: CheckContext) -> str:
    probe = Probe(context, _spec())
    try:
        probe.handshake()
        for position in range(3):
            probe.send(encode_probe(position, RAW_PROBE), TICKS * (position + 1))
        probe.call.cancel()
    finally:
        probe.close()
    time.sleep(0.2)
    _still_serving(context)
    return "served normally after a cancelled call"


@check("S15", "Wrong or missing credentials are refused with UNAUTHENTICATED",
       "A1", suite=SUITE)  # fmt: skip
def credentials(context: CheckContext) -> str:
    env = _env(context)
    if env.username is None:
        raise CheckSkipped("no --username/--password given")
    base = env.connect
    attempts = {
        "missing": ConnectOptions(target=base.target, connect_timeout_s=base.connect_timeout_s,
                                  tls_ca=base.tls_ca, tls_server_name=base.tls_server_name),
        "wrong": ConnectOptions(target=base.target, connect_timeout_s=base.connect_timeout_s,
                                username=env.username, password=(env.password or "") + "-wrong",
                                tls_ca=base.tls_ca, tls_server_name=base.tls_server_name),
    }  # fmt: skip
    for kind, connect in attempts.items():
        probe = Probe(context, _spec(), connect)
        try:
            event = probe.call.next_event(time_left(context))
            if event is None:
                raise CheckFailed(f"silence for {kind} credentials (A1)")
            if not isinstance(event, CallEnded):
                raise CheckFailed(f"the server accepted a session with {kind} credentials (A1)")
            if event.code != "UNAUTHENTICATED":
                raise CheckFailed(
                    f"{kind} credentials refused with {event.code}, not UNAUTHENTICATED (A1)"
                )
        finally:
            probe.close()
    run_probe_frames(context, [0])
    return "missing and wrong credentials refused, right ones served"


_VALUE_FOR_TYPE = {
    inferencing_pb2.Inference.CLASSIFICATION: "classification",
    inferencing_pb2.Inference.MOTION: "motion",
    inferencing_pb2.Inference.ENTITY: "entity",
    inferencing_pb2.Inference.TEXT: "text",
    inferencing_pb2.Inference.EVENT: "event",
    inferencing_pb2.Inference.OTHER: "other",
}


def inference_problems(inference: inferencing_pb2.Inference) -> list[str]:
    """What is wrong with one inference under R1–R3 (empty when nothing is)."""
    problems = []
    kind = inference.WhichOneof("value")
    if kind is None:
        problems.append("an inference with no value (R3)")
    expected = _VALUE_FOR_TYPE.get(inference.type)
    if inference.type != inferencing_pb2.Inference.AUTO and expected != kind:
        type_name = inferencing_pb2.Inference.InferenceType.Name(inference.type)
        problems.append(f"type {type_name} with a {kind} value (R1)")
    confidences: list[float] = []
    boxes = []
    if kind in ("classification", "entity"):
        value = getattr(inference, kind)
        confidences.append(value.tag.confidence)
        confidences.extend(a.confidence for a in value.attributes)
        if kind == "entity" and value.HasField("box"):
            boxes.append(value.box)
    if kind == "motion" and inference.motion.HasField("box"):
        boxes.append(inference.motion.box)
    for c in confidences:
        if not 0.0 <= c <= 1.0:
            problems.append(f"confidence {c:g} outside 0–1 (R2)")
    for box in boxes:
        values = (box.l, box.t, box.w, box.h)
        if (
            not all(0.0 <= v <= 1.0 for v in values)
            or box.l + box.w > 1.0001
            or box.t + box.h > 1.0001
        ):
            problems.append(f"box l={box.l:g} t={box.t:g} w={box.w:g} h={box.h:g} outside 0–1 (R2)")
    if inference.subtype != inference.subtype.strip():
        problems.append(f"subtype {inference.subtype!r} has surrounding white space (R3)")
    body = inference_json(inference)
    if body.get("type") not in {"auto", *_VALUE_FOR_TYPE.values()}:
        problems.append(f"JSON type {body.get('type')!r} is not one LVA publishes (R3)")
    return problems


@check("S16", "Inferences are valid: type matches value, values in 0–1, JSON form",
       "R1, R2, R3", suite=SUITE, deadline_s=15)  # fmt: skip
def inference_validity(context: CheckContext) -> str:
    probe, acks = _stream_probes(context, [0, 1, 2, 3])
    try:
        probe.finish()
    finally:
        probe.close()
    problems: list[str] = []
    total = 0
    for ack in acks:
        for inference in ack.inferences:
            total += 1
            problems.extend(
                f"sample {ack.sequence_number}: {p}" for p in inference_problems(inference)
            )
    if problems:
        raise CheckFailed("; ".join(problems[:5]))
    return f"{total} inferences valid"


@check("S17", "Throughput and latency (information)", "Q4", suite=SUITE, level=Level.INFO,
       deadline_s=20)  # fmt: skip
def throughput(context: CheckContext) -> str:
    frames, window = 60, 4
    probe = Probe(context, _spec())
    latency = LatencyHistogram()
    try:
        probe.handshake()
        started = time.monotonic()
        sent = acked = 0
        while acked < frames:
            while sent < frames and sent - acked < window:
                probe.send(encode_probe(sent % 4, RAW_PROBE), TICKS * (sent + 1), time.monotonic())
                sent += 1
            ack = probe.next_ack()
            latency.add(1000 * (time.monotonic() - ack.tag))
            acked += 1
        elapsed = time.monotonic() - started
        probe.finish()
    finally:
        probe.close()
    return (
        f"{frames / elapsed:.0f} frames/s "
        f"({PROBE_WIDTH}x{PROBE_HEIGHT} BGR24, {window} in flight), "
        f"round trip p50 {latency.percentile(0.5):.1f} ms, p99 {latency.percentile(0.99):.1f} ms"
    )


_DARKLIGHT = ["dark", "light", "light", "dark"]


@check("S18", "Profile darklight: labels follow the mean BT.601 luma", "R4", suite=SUITE)
def darklight_profile(context: CheckContext) -> str:
    if _env(context).profile != "darklight":
        raise CheckSkipped("only with --profile darklight")
    for index, expected in enumerate(_DARKLIGHT):
        probe, (ack,) = _stream_probes(context, [index])
        probe.close()
        tags = [
            i.classification.tag.value
            for i in ack.inferences
            if i.WhichOneof("value") == "classification"
        ]
        if tags != [expected]:
            raise CheckFailed(f"probe {index} (mean luma {'<' if expected == 'dark' else '≥'} 127) "
                              f"labelled {tags}, expected [{expected!r}] (R4)")  # fmt: skip
    return "dark and light labels as R4 defines them"
