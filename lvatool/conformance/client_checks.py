"""The client suite: judge an LVA-like client from what the checking extension recorded.

The client under test streams to :class:`~lvatool.conformance.checking_extension.
CheckingExtension`; each check below reads the session records afterwards, so checks
cost no time of their own and never wait on the client.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped, CheckWarning, Level, check
from lvatool.conformance.checking_extension import SessionRecord
from lvatool.conformance.runner import CheckContext
from lvatool.protocol import AUTH_HEADER, describe_format, parse_basic_credentials

SUITE = "client"


@dataclass
class ClientEnv:
    sessions: list[SessionRecord]
    username: str | None = None
    password: str | None = None


def _sessions(context: CheckContext, *, streaming: bool = False) -> list[SessionRecord]:
    env = context.env
    assert isinstance(env, ClientEnv)
    sessions = env.sessions
    if streaming:
        sessions = [s for s in sessions if s.spec is not None]
    if not sessions:
        raise CheckFailed(
            "the client opened no session" + (" that got past the handshake" if streaming else "")
        )
    return sessions


def _all(context: CheckContext, problems: list[str], rule: str, ok: str) -> str:
    if problems:
        raise CheckFailed("; ".join(problems[:4]) + f" ({rule})")
    return ok


@check("C01", "The first message is a media stream descriptor", "H2", suite=SUITE)
def first_message(context: CheckContext) -> str:
    problems = [
        f"session {i + 1} began with {s.first_payload or 'nothing'}"
        for i, s in enumerate(_sessions(context))
        if s.first_payload != "media_stream_descriptor"
    ]
    return _all(context, problems, "H2", "every session began with its descriptor")


@check("C02", "The descriptor describes the media sanely", "H3, F1", suite=SUITE)
def sane_descriptor(context: CheckContext) -> str:
    problems = []
    for i, s in enumerate(_sessions(context)):
        if s.descriptor_error:
            problems.append(f"session {i + 1}: {s.descriptor_error}")
        elif s.descriptor is not None and s.descriptor.media_descriptor.timescale == 0:
            problems.append(f"session {i + 1}: media_descriptor.timescale is 0")
    formats = {describe_format(s.spec.frame) for s in _sessions(context) if s.spec is not None}
    described = ", ".join(sorted(formats)) or "no session described its media"
    return _all(context, problems, "H3", f"declared: {described}")


@check("C03", "No sample is sent before the extension's descriptor arrives", "H5", suite=SUITE)
def no_early_samples(context: CheckContext) -> str:
    problems = []
    for i, s in enumerate(_sessions(context, streaming=True)):
        early = sum(1 for sample in s.samples if sample.arrived_before_reply)
        if early:
            problems.append(f"session {i + 1} sent {early} sample(s) while the reply was delayed")
    return _all(context, problems, "H5", "every session waited for the reply descriptor")


@check("C04", "Messages are numbered from 1, increasing by 1; the first acknowledges 0",
       "Q1", suite=SUITE)  # fmt: skip
def client_sequence_numbers(context: CheckContext) -> str:
    problems = []
    for i, s in enumerate(_sessions(context)):
        if s.first_sequence != 1:
            problems.append(f"session {i + 1}: first message numbered {s.first_sequence}")
        if s.first_ack not in (0, None):
            problems.append(f"session {i + 1}: first message acknowledges {s.first_ack}")
        problems.extend(f"session {i + 1}: {e}" for e in s.sequence_errors)
    return _all(context, problems, "Q1", "numbering correct in every session")


@check("C05", "Sample sizes match the declared format", "F1, E1", suite=SUITE)
def sample_sizes(context: CheckContext) -> str:
    problems: list[str] = []
    checked = 0
    for i, s in enumerate(_sessions(context, streaming=True)):
        assert s.spec is not None
        problems.extend(f"session {i + 1}: {e}" for e in s.size_errors)
        embedded = s.spec.shared_memory is None
        for sample in s.samples:
            expected = "bytes" if embedded else "reference"
            if sample.content != expected:
                transfer = "embedded" if embedded else "shared-memory"
                problems.append(
                    f"session {i + 1}, sample {sample.sequence_number}: "
                    f"{sample.content} content on a {transfer} stream"
                )
        checked += len(s.samples)
    if checked == 0:
        raise CheckFailed("the client sent no sample")
    return _all(context, problems, "F1", f"{checked} samples of the declared size")


@check("C06", "The shared buffer exists with the declared length; references lie inside it",
       "M1, M2", suite=SUITE)  # fmt: skip
def shared_memory_file(context: CheckContext) -> str:
    shared = [s for s in _sessions(context) if s.spec is not None and s.spec.shared_memory]
    failed_open = [s for s in _sessions(context) if s.shm_error]
    if not shared and not failed_open:
        raise CheckSkipped("the client used embedded transfer")
    problems = [f"cannot use the shared buffer: {s.shm_error}" for s in failed_open]
    for s in shared:
        problems.extend(s.reference_errors)
    return _all(
        context,
        problems,
        "M1, M2",
        f"{len(shared)} shared-memory session(s), all references inside",
    )


@check("C07", "No region is rewritten while its sample is unacknowledged (late, out-of-order acks)",
       "M3, Q4", suite=SUITE)  # fmt: skip
def regions_held_until_ack(context: CheckContext) -> str:
    shared = [s for s in _sessions(context, streaming=True) if s.spec and s.spec.shared_memory]
    if not shared:
        raise CheckSkipped("the client used embedded transfer")
    problems = [
        f"samples {s.rewritten[:5]} were rewritten before their acknowledgement"
        for s in shared
        if s.rewritten
    ]
    total = sum(len(s.samples) for s in shared)
    return _all(context, problems, "M3", f"{total} regions unchanged until acknowledged")


@check("C08", "Timestamps increase, in the declared timescale", "F3", suite=SUITE)
def timestamps_increase(context: CheckContext) -> str:
    problems = []
    far = []
    for i, s in enumerate(_sessions(context, streaming=True)):
        assert s.spec is not None
        stamps = [sample.timestamp for sample in s.samples]
        for a, b in itertools.pairwise(stamps):
            if b <= a:
                problems.append(f"session {i + 1}: timestamp {b} after {a}")
                break
        if stamps and abs(stamps[0] / s.spec.timescale - time.time()) > 86_400:
            far.append(f"session {i + 1}: first timestamp is {stamps[0] / s.spec.timescale:.0f} s "
                       "from the epoch, not near now")  # fmt: skip
    _all(context, problems, "F3", "")
    if far:
        raise CheckWarning("; ".join(far) + " (F3: LVA counts from the Unix epoch)")
    return "timestamps increase and count from the Unix epoch"


@check("C09", "The credentials header is well formed (and right, when configured)",
       "A1", suite=SUITE)  # fmt: skip
def credentials_header(context: CheckContext) -> str:
    env = context.env
    assert isinstance(env, ClientEnv)
    headers = [s.metadata.get(AUTH_HEADER) for s in _sessions(context)]
    if env.username is None and not any(headers):
        raise CheckSkipped("no credentials configured or sent")
    problems = []
    for i, header in enumerate(headers):
        if header is None:
            problems.append(f"session {i + 1} sent no x-ms-authentication header")
            continue
        credentials = parse_basic_credentials(header)
        if credentials is None:
            problems.append(f"session {i + 1}: {header!r} is not 'Basic base64(user:password)'")
        elif env.username is not None and credentials != (env.username, env.password or ""):
            problems.append(f"session {i + 1}: credentials do not match the configured ones")
    return _all(context, problems, "A1", "Basic credentials, well formed")


@check("C10", "The client half-closes cleanly at the end", "Q6", suite=SUITE,
       level=Level.SHOULD)  # fmt: skip
def clean_half_close(context: CheckContext) -> str:
    # Sessions the checker itself refused are not the client's half-close to judge.
    sessions = [s for s in _sessions(context, streaming=True) if s.ending != "refused"]
    if not sessions:
        raise CheckSkipped("no session streamed to its end")
    problems = [
        f"session {i + 1} ended by {s.ending}"
        for i, s in enumerate(sessions)
        if s.ending != "half-close"
    ]
    return _all(context, problems, "Q6", "every session ended with a half-close")
