"""S17: throughput and latency, for information."""

from __future__ import annotations

import time

from lvatool.conformance.catalogue import Level, check
from lvatool.conformance.runner import CheckContext
from lvatool.conformance.server_checks.environment import ServerEnv, require_served
from lvatool.conformance.server_checks.exchange import ProbeCall
from lvatool.conformance.server_checks.probe_frames import describe_frame, encode_probe
from lvatool.sim.stats import LatencyHistogram

SUITE = "server"
FRAMES, WINDOW = 60, 8


@check("S17", "Throughput and latency (information)", "Q2, H4", suite=SUITE, level=Level.INFO,
       deadline_s=20)  # fmt: skip
def throughput(context: CheckContext) -> str:
    """Sends 60 probes with at most 8 unacknowledged, then half-closes; reports frames per
    second and round-trip percentiles. A server that holds samples until the half-close is
    measured as it is (Q4); only unacknowledged samples are reported (Q2)."""
    env: ServerEnv = context.env
    probe = env.require_probe()
    contents = [encode_probe(i % 4, probe) for i in range(4)]
    latency = LatencyHistogram()
    call = ProbeCall(context, env.spec(probe))
    try:
        if not call.handshake():
            require_served(call.record, "the throughput session")
        started = time.monotonic()
        sent = 0
        while sent < FRAMES:
            if sent - len(call.record.acks) < WINDOW:
                call.send(contents[sent % 4], tag=time.monotonic())
                sent += 1
            elif call.next_ack(env.silence_s) is None:
                break  # the call ended, or the server answers only at the half-close
        record = call.collect()
    finally:
        call.close()
    require_served(record, f"{record.sent} samples")
    for ack, arrived in zip(record.acks, record.arrivals, strict=True):
        latency.add(1000 * (arrived - ack.tag))
    elapsed = max(record.arrivals) - started
    return (
        f"{record.sent / elapsed:.0f} frames/s ({describe_frame(probe)}, {WINDOW} in flight), "
        f"round trip p50 {latency.percentile(0.5):.1f} ms, p99 {latency.percentile(0.99):.1f} ms"
    )
