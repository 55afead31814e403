"""What the results say: S05 (Q3), S16 (R1–R3), S18 (R4)."""

from __future__ import annotations

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped, check
from lvatool.conformance.runner import CheckContext
from lvatool.conformance.server_checks.environment import ServerEnv, require_served
from lvatool.conformance.server_checks.exchange import exchange
from lvatool.conformance.server_checks.probe_frames import (
    PROBE_COUNT,
    canonical,
    describe_results,
    encode_probe,
)
from lvatool.conformance.server_checks.stateful import state_hint
from lvatool.contract import inferencing_pb2
from lvatool.sim.publish import inference_json

SUITE = "server"


@check("S05", "Results belong to their own frame, whatever frames surround it",
       "Q3, Q2, H4", suite=SUITE, deadline_s=20)  # fmt: skip
def results_tied_to_frame(context: CheckContext) -> str:
    """Sends each probe alone, then a mix of them in one session; each probe must get the
    results it got alone. A difference is a failure even when every probe alone gets the
    same answer: a server that answers each frame with the previous frame's results, and
    a frame alone with nothing, is caught here.

    With --stateful (results may depend on the session's earlier frames, e.g. motion
    detection or tracking) the check is skipped: a frame's results depending on the frames
    before it is what such a processor does by design, and a server answering with the
    previous frame's results looks the same, so nothing is left to judge."""
    env: ServerEnv = context.env
    if env.stateful:
        raise CheckSkipped(
            "--stateful: a stateful processor's results depend on the frames before them by "
            "design, so whether they belong to their own frame cannot be judged (Q3)"
        )
    probe = env.require_probe()
    alone = [env.baseline(context, i) for i in range(PROBE_COUNT)]
    order = [0, 1, 2, 3, 3, 2, 1, 0, 1, 3, 0, 2]
    record = exchange(context, env.spec(probe), [encode_probe(i, probe) for i in order])
    require_served(record, f"{len(order)} samples")
    got = {ack.tag: canonical(ack.inferences) for ack in record.acks}
    for position, index in enumerate(order):
        if got[position] != alone[index]:
            lagging = position > 0 and got[position] == alone[order[position - 1]]
            hint = "; they are the previous frame's" if lagging else ""
            # Exactly the previous frame's results is a bug, not a processor's state.
            maybe_state = "" if lagging else state_hint(env, position, got[0] == alone[order[0]])
            raise CheckFailed(
                f"sample {position + 2} (probe {index}) got {describe_results(got[position])} "
                f"among other frames but {describe_results(alone[index])} alone{hint}: "
                f"results must be computed from the frame they acknowledge (Q3){maybe_state}"
            )
    return f"{len(order)} samples in one session, each with its own frame's results"


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
    """Sends the 4 probes; every inference must have a value of its type (R1),
    confidences and boxes in 0–1 (R2), and a form LVA can publish as JSON (R3)."""
    env: ServerEnv = context.env
    probe = env.require_probe()
    record = exchange(
        context, env.spec(probe), [encode_probe(i, probe) for i in range(PROBE_COUNT)]
    )
    problems: list[str] = []
    total = 0
    for ack in record.acks:
        for inference in ack.inferences:
            total += 1
            problems.extend(
                f"sample {ack.sequence_number}: {p}" for p in inference_problems(inference)
            )
    if problems:
        raise CheckFailed("; ".join(problems[:5]))
    if not record.acks:
        raise CheckSkipped(f"no results to judge: {record.story()}")
    return f"{total} inferences valid"


_DARKLIGHT = ["dark", "light", "light", "dark"]


@check("S18", "Profile darklight: labels follow the mean BT.601 luma", "R4, H4, Q2",
       suite=SUITE)  # fmt: skip
def darklight_profile(context: CheckContext) -> str:
    """With --profile darklight: each probe alone must be labelled dark (mean luma < 127)
    or light, as the reference classifier does (R4)."""
    env: ServerEnv = context.env
    if env.profile != "darklight":
        raise CheckSkipped("only with --profile darklight")
    env.require_probe()
    for index, expected in enumerate(_DARKLIGHT):
        result = env.baseline(context, index)
        tags = [r for r in result if '"classification"' in r]
        if len(tags) != 1 or f'"value": "{expected}"' not in tags[0]:
            raise CheckFailed(f"probe {index} (mean luma {'<' if expected == 'dark' else '≥'} "
                              f"127) got {describe_results(result)}, expected one "
                              f"{expected!r} classification (R4)")  # fmt: skip
    return "dark and light labels as R4 defines them"
