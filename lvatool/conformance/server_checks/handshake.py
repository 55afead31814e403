"""S01: the handshake (H2, H4)."""

from __future__ import annotations

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped, check
from lvatool.conformance.runner import CheckContext
from lvatool.conformance.server_checks.environment import ServerEnv
from lvatool.conformance.server_checks.exchange import ProbeCall
from lvatool.conformance.server_checks.probe_frames import RAW_PROBE

SUITE = "server"


@check("S01", "Handshake: the reply descriptor comes first and acknowledges the client's",
       "H2, H4", suite=SUITE)  # fmt: skip
def handshake(context: CheckContext) -> str:
    """Sends a descriptor in the probe format; expects a descriptor back, first (H2), that
    acknowledges the client's descriptor and carries no video format (H4)."""
    env: ServerEnv = context.env
    if env.silence is not None and env.silent_at == "reply":
        raise CheckFailed(f"no reply descriptor: {env.silence} (H4)")
    call = ProbeCall(context, env.spec(env.probe or RAW_PROBE))
    try:
        replied = call.handshake()
        if replied:
            call.collect()  # end the session with a half-close, not a cancel: S14's business
    finally:
        call.close()
    record = call.record
    if record.broken is not None:
        raise CheckFailed(str(record.broken))
    if not replied:
        if record.ended is not None and env.probe is None:
            raise CheckSkipped(f"{record.story()}; no format is served, which S07 and S08 judge")
        raise CheckFailed(f"{record.story()} (H4)")
    assert record.reply is not None
    if record.reply.ack_sequence_number != 1:
        raise CheckFailed(
            f"the reply descriptor acknowledges {record.reply.ack_sequence_number}, not the "
            "client's descriptor 1 (H4)"
        )
    if record.reply.descriptor.media_descriptor.HasField("video_frame_sample_format"):
        raise CheckFailed("the reply's media_descriptor carries a video format (H4)")
    name = record.reply.descriptor.extension_identifier or "the server"
    return f"reply descriptor from {name!r}"
