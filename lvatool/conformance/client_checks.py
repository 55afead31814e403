"""The client suite: judge an LVA-like client from what the checking extension recorded.

The client under test streams to :class:`~lvatool.conformance.checking_extension.
CheckingExtension`; each check below reads the session records afterwards, so checks
cost no time of their own and never wait on the client.

Most checks own a few rules: the protocol core recorded every violation of the client
with its rule, and a check fails on exactly the violations of its ``rules``, each named
in parentheses. So a check's rules are the rules it can fail, and a client breaking one
rule fails one check. Checks of the stream skip when no session got past the handshake:
the check that owns the rule which stopped it (C01, C02 or C06) has failed already.
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
#: Problems quoted in a failure message; the rest are counted.
_QUOTED = 4


@dataclass
class ClientEnv:
    sessions: list[SessionRecord]
    username: str | None = None
    password: str | None = None


def _sessions(context: CheckContext) -> list[tuple[int, SessionRecord]]:
    """Every session, numbered from 1 as a report names them."""
    env = context.env
    assert isinstance(env, ClientEnv)
    if not env.sessions:
        raise CheckFailed("the client opened no session")
    return list(enumerate(env.sessions, start=1))


def _streamed(context: CheckContext) -> list[tuple[int, SessionRecord]]:
    """Sessions whose handshake completed: the ones with a stream to judge."""
    streamed = [(i, s) for i, s in _sessions(context) if s.replied]
    if not streamed:
        raise CheckSkipped("no session got past the handshake")
    return streamed


def _violations(context: CheckContext, sessions: list[tuple[int, SessionRecord]]) -> list[str]:
    """The recorded violations of this check's rules, each naming its rule.

    A mistake a client repeats in every message is one line with its count and first
    places, not one line per frame: the report stays readable and bounded.
    """
    rules = set(context.check.rules)
    places: dict[tuple[int, str, str | None], list[int | None]] = {}
    for i, s in sessions:
        for v in s.violations:
            if v.rule in rules:
                places.setdefault((i, v.message, v.rule), []).append(v.message_index)
    return [
        f"session {i}, {_messages(where)}: {message} ({rule})"
        for (i, message, rule), where in places.items()
    ]


def _messages(where: list[int | None]) -> str:
    """``message 3`` or ``messages 3, 4 … (9 times)``."""
    if len(where) == 1:
        return f"message {where[0]}"
    first = ", ".join(str(index) for index in where[:2])
    more = " …" if len(where) > 2 else ""
    return f"messages {first}{more} ({len(where)} times)"


def _declares_shared_memory(session: SessionRecord) -> bool:
    """The descriptor asked for shared memory, whether or not it could be served."""
    descriptor = session.descriptor
    return descriptor is not None and descriptor.HasField(
        "shared_memory_buffer_transfer_properties"
    )


def _verdict(problems: list[str], ok: str) -> str:
    if problems:
        more = len(problems) - _QUOTED
        raise CheckFailed(
            "; ".join(problems[:_QUOTED]) + (f"; and {more} more" if more > 0 else "")
        )
    return ok


@check("C01", "The first message is a media stream descriptor, every later one a sample",
       "H2", suite=SUITE)  # fmt: skip
def first_message(context: CheckContext) -> str:
    """Every session must begin with its descriptor, and every later message must be a
    MediaStreamMessage carrying a media_sample (bytes that are not a message at all too)."""
    problems = _violations(context, _sessions(context))
    return _verdict(problems, "every session began with its descriptor, then sent samples")


@check("C02", "The descriptor describes the media sanely", "H3, H6", suite=SUITE)
def sane_descriptor(context: CheckContext) -> str:
    described = [(i, s) for i, s in _sessions(context) if s.descriptor is not None]
    if not described:
        raise CheckSkipped("no session sent a descriptor")
    formats = {describe_format(s.spec.frame) for _, s in described if s.spec is not None}
    declared = ", ".join(sorted(formats)) or "nothing usable"
    return _verdict(_violations(context, described), f"declared: {declared}")


@check("C03", "No sample is sent before the extension's descriptor arrives", "H5", suite=SUITE)
def no_early_samples(context: CheckContext) -> str:
    problems = _violations(context, _streamed(context))
    return _verdict(problems, "every session waited for the reply descriptor")


@check("C04", "Messages are numbered from 1, increasing by 1; the first acknowledges 0",
       "Q1", suite=SUITE)  # fmt: skip
def client_sequence_numbers(context: CheckContext) -> str:
    problems = _violations(context, _sessions(context))
    return _verdict(problems, "numbering correct in every session")


@check("C05", "Samples carry the content the transfer implies, of the declared size",
       "E1, M2, F1", suite=SUITE)  # fmt: skip
def sample_content(context: CheckContext) -> str:
    sessions = _streamed(context)
    count = sum(len(s.samples) for _, s in sessions)
    if count == 0:
        raise CheckSkipped("the client sent no sample")
    return _verdict(
        _violations(context, sessions), f"{count} samples of the declared kind and size"
    )


@check("C06", "The shared buffer exists with the declared length; references lie inside it",
       "M1, M4", suite=SUITE)  # fmt: skip
def shared_memory_file(context: CheckContext) -> str:
    shared = [(i, s) for i, s in _sessions(context) if _declares_shared_memory(s)]
    if not shared:
        raise CheckSkipped("the client used embedded transfer")
    references = sum(len(s.samples) for _, s in shared)
    ok = f"{len(shared)} shared-memory session(s), {references} references inside the buffer"
    return _verdict(_violations(context, shared), ok)


@check("C07", "No region is touched while its sample is unacknowledged (late, out-of-order acks)",
       "M3", suite=SUITE)  # fmt: skip
def regions_held_until_ack(context: CheckContext) -> str:
    shared = [(i, s) for i, s in _streamed(context) if s.spec and s.spec.shared_memory]
    if not shared:
        raise CheckSkipped("the client used embedded transfer")
    total = sum(len(s.samples) for _, s in shared)
    return _verdict(_violations(context, shared), f"{total} regions untouched until acknowledged")


@check("C08", "Timestamps increase, in the declared timescale", "F3", suite=SUITE)
def timestamps_increase(context: CheckContext) -> str:
    problems = []
    far = []
    judged = 0
    for i, s in _streamed(context):
        assert s.spec is not None
        stamps = [sample.timestamp for sample in s.samples]
        judged += len(stamps)
        for a, b in itertools.pairwise(stamps):
            if b <= a:
                problems.append(f"session {i}: timestamp {b} after {a} (F3)")
                break
        first = stamps[0] / s.spec.timescale if stamps else time.time()
        if abs(first - time.time()) > 86_400:
            far.append(f"session {i}: the first timestamp lies {first:.0f} s after the Unix "
                       "epoch, far from now")  # fmt: skip
    if not judged:
        raise CheckSkipped("the client sent no sample")
    _verdict(problems, "")
    if far:
        raise CheckWarning("; ".join(far) + "; LVA counts from the Unix epoch (F3)")
    return "timestamps increase and count from the Unix epoch"


@check("C09", "The credentials header is well formed (and right, when configured)",
       "A1", suite=SUITE)  # fmt: skip
def credentials_header(context: CheckContext) -> str:
    env = context.env
    assert isinstance(env, ClientEnv)
    headers = [(i, s.metadata.get(AUTH_HEADER)) for i, s in _sessions(context)]
    if env.username is None and not any(header for _, header in headers):
        raise CheckSkipped("no credentials configured or sent")
    problems = []
    for i, header in headers:
        if header is None:
            problems.append(f"session {i} sent no x-ms-authentication header (A1)")
            continue
        credentials = parse_basic_credentials(header)
        if credentials is None:
            problems.append(f"session {i}: {header!r} is not 'Basic base64(user:password)' (A1)")
        elif env.username is not None and credentials != (env.username, env.password or ""):
            problems.append(
                f"session {i}: credentials for user {credentials[0]!r} do not match "
                "the configured ones (A1)"
            )
    return _verdict(problems, "Basic credentials, well formed")


@check("C10", "The client half-closes cleanly at the end", "Q6", suite=SUITE,
       level=Level.SHOULD)  # fmt: skip
def clean_half_close(context: CheckContext) -> str:
    # Sessions the checker itself refused are not the client's half-close to judge.
    sessions = [(i, s) for i, s in _streamed(context) if s.ending != "refused"]
    if not sessions:
        raise CheckSkipped("no session streamed to its end")
    problems = [f"session {i} ended by {s.ending} (Q6)" for i, s in sessions
                if s.ending != "half-close"]  # fmt: skip
    return _verdict(problems, "every session ended with a half-close")
