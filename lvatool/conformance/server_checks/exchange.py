"""One session with the server under test: send everything, half-close, then collect.

Q4 lets a server hold a sample and answer it when the next one arrives, or only at the
half-close (Q6). So no check waits for an answer while it still has samples to send: it
sends them all, half-closes, and only then collects until the call ends. A missing
answer is judged after the half-close, never before.

Silence is judged per event: a server may be slow, but it may not stay quiet for longer
than the run's silence window (:attr:`ServerEnv.silence_s`). Everything a session saw
is kept in an :class:`Exchange` record, and a check judges only the rules it owns: the
call observes the server (``observe=True``), so a numbering mistake is recorded for the
numbering check instead of breaking every other check's session.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lvatool.conformance.catalogue import CheckFailed
from lvatool.conformance.runner import Deadline
from lvatool.protocol import (
    AckReceived,
    ContentReference,
    ProtocolError,
    RemoteProtocolError,
    ReplyReceived,
    StreamSpec,
)
from lvatool.sim.call import (
    CallEnded,
    CallError,
    ConnectOptions,
    ExtensionCall,
    ReaderCrashed,
    open_channel,
    wait_for_channel,
)

if TYPE_CHECKING:
    from lvatool.conformance.server_checks.environment import ServerEnv

# Checks stop waiting for the peer this long before their deadline, so that silence is
# reported by the check, naming the rule it breaks, and not by the runner's deadline.
VERDICT_MARGIN_S = 0.5

#: The statuses with which H6 lets a server refuse what it cannot serve.
REFUSALS = frozenset({"INVALID_ARGUMENT", "UNIMPLEMENTED", "FAILED_PRECONDITION"})
#: Statuses that mean the server crashed: never a refusal (H6).
CRASHES = frozenset({"UNKNOWN", "INTERNAL"})

#: Sample timestamps: near now, counted from the Unix epoch in the 90 kHz timescale
#: every LVA example uses (F3), 30 frames a second.
TICKS_START = int(time.time()) * 90_000
TICKS_STEP = 3_000


def time_left(context: Deadline) -> float:
    """Seconds a check may still wait for the peer: its deadline less the verdict margin."""
    return max(context.remaining() - VERDICT_MARGIN_S, 0.0)


def status_of(ended: CallEnded) -> str:
    """``UNKNOWN 'cannot reshape array'``: a status as failure messages quote it."""
    return f"{ended.code} {ended.details!r}" if ended.details else ended.code


@dataclass
class Exchange:
    """What one session with the server saw, from the descriptor to the end of the call."""

    spec: StreamSpec
    sent: int = 0
    reply: ReplyReceived | None = None
    acks: list[AckReceived] = field(default_factory=list)  # in the order they arrived
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each ack
    ended: CallEnded | None = None  # how the call ended; None: it had not ended
    silent: str | None = None  # "reply", "answers" or "end": where the server went quiet
    out_of_time: bool = False  # the check's deadline, not the silence window, ran out
    broken: ProtocolError | None = None  # a violation that ended the session
    violations: list[RemoteProtocolError] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """The call ended before the server replied to the descriptor."""
        return self.reply is None and self.ended is not None

    @property
    def complete(self) -> bool:
        """Every sample sent was acknowledged."""
        return len(self.acks) == self.sent

    def by_tag(self) -> dict[Any, AckReceived]:
        return {ack.tag: ack for ack in self.acks}

    def story(self) -> str:
        """What happened, in a clause a failure message can quote."""
        if self.reply is None:
            if self.ended is not None:
                return f"the server ended the call at the descriptor with {status_of(self.ended)}"
            if self.broken is not None:
                return f"the server's first message broke the protocol: {self.broken}"
            return "the server never replied to the descriptor"
        told = f"{len(self.acks)} of {self.sent} samples acknowledged"
        if self.broken is not None:
            return f"{told}, then {self.broken}"
        if self.ended is not None:
            return f"{told}, then the call ended with {status_of(self.ended)}"
        if self.out_of_time:
            return f"{told} before the check's deadline"
        return f"{told}, then silence"


class ProbeCall:
    """One session with the server under test; every wait bounded by the check's deadline."""

    def __init__(
        self,
        context: Deadline,
        spec: StreamSpec,
        connect: ConnectOptions | None = None,
        *,
        silence_s: float | None = None,
    ) -> None:
        self.context = context
        self.env: ServerEnv = context.env
        self.silence_s = silence_s or self.env.silence_s
        self.connect = connect or self.env.connect
        self.record = Exchange(spec)
        self.channel = open_channel(self.connect)
        context.on_cancel(self.channel.close)
        try:
            # All of the connect options, so a TLS mistake is named as such (not as silence).
            wait_for_channel(
                self.channel,
                dataclasses.replace(
                    self.connect,
                    connect_timeout_s=context.remaining(self.connect.connect_timeout_s),
                ),
            )
        except CallError as error:
            self.channel.close()
            raise CheckFailed(f"{error} (H1)") from None
        self.call = ExtensionCall(self.channel, spec, self.connect, observe=True)
        context.on_cancel(self.call.cancel)
        #: Called with each acknowledgement as it arrives (S06 reuses the region at once).
        self.on_ack: Callable[[AckReceived], None] | None = None

    # -- waiting ---------------------------------------------------------------------
    def _wait(self, silence_s: float) -> object | None:
        """The next event, or None after ``silence_s`` (or the deadline) of quiet."""
        window = min(silence_s, time_left(self.context))
        event = self.call.next_event(window)
        if event is None and window < silence_s:
            self.record.out_of_time = True
        return event

    def handshake(self, silence_s: float | None = None) -> bool:
        """Wait for the reply descriptor (H4); False when the call ended or went quiet."""
        event = self._wait(silence_s or self.silence_s)
        if isinstance(event, ReplyReceived):
            self.record.reply = event
            return True
        if event is None:
            self.record.silent = "reply"
        else:
            self._settle(event)
        return False

    def send(self, content: bytes | ContentReference, tag: object = None) -> int:
        """Send the session's next sample, stamped 1/30 s after the one before (F3)."""
        timestamp = TICKS_START + TICKS_STEP * self.record.sent
        self.record.sent += 1
        return self.call.send(timestamp, content, tag=tag)

    def next_ack(self, wait_s: float) -> AckReceived | None:
        """The next acknowledgement before half-closing, or None.

        None when the call ended (see the record) or when nothing came within ``wait_s``:
        a server may hold samples until the half-close (Q4), so quiet here is no verdict.
        """
        event = self._wait(wait_s)
        if isinstance(event, AckReceived):
            self._arrived(event)
            return event
        if event is not None:
            self._settle(event)
        return None

    def collect(self) -> Exchange:
        """Half-close, then take every answer until the call ends (Q6) or goes quiet."""
        self.call.close()
        record = self.record
        while record.ended is None and record.broken is None and record.silent is None:
            if record.complete and self.env.never_ends:
                break  # known not to end a half-closed call: S13 says so, others need not wait
            event = self._wait(self.silence_s)
            if isinstance(event, AckReceived):
                self._arrived(event)
            else:
                self._settle(event)
            if record.out_of_time:
                break
        record.violations = list(self.call.session.violations)
        return record

    def _arrived(self, ack: AckReceived) -> None:
        self.record.acks.append(ack)
        self.record.arrivals.append(time.monotonic())
        if self.on_ack is not None:
            self.on_ack(ack)

    def _settle(self, event: object | None) -> None:
        if isinstance(event, ReaderCrashed):
            raise event  # lvatool's own bug: the check is an ERROR, not a verdict on the server
        if isinstance(event, CallEnded):
            self.record.ended = event
        elif isinstance(event, ProtocolError):
            self.record.broken = event
        elif event is None and not self.record.out_of_time:
            self.record.silent = "answers" if not self.record.complete else "end"

    def cancel(self) -> None:
        self.call.cancel()

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def exchange(
    context: Deadline,
    spec: StreamSpec,
    contents: Iterable[bytes | ContentReference],
    *,
    connect: ConnectOptions | None = None,
    judge_silence: bool = True,
    first_silence_s: float | None = None,
    silence_s: float | None = None,
) -> Exchange:
    """Send ``contents`` as samples (tagged 0, 1, 2 …), half-close, and collect.

    With ``judge_silence`` (the default: a session on a format the server serves), a
    server found quiet is recorded as unresponsive in the run, so that later checks skip
    instead of each waiting out its deadline. Checks that try hostile or unusual input
    pass False: silence there is that check's finding, not the peer's state.
    """
    call = ProbeCall(context, spec, connect, silence_s=silence_s)
    try:
        if call.handshake(first_silence_s):
            for position, content in enumerate(contents):
                call.send(content, tag=position)
            call.collect()
        record = call.record
    finally:
        call.close()
    if judge_silence:
        call.env.learn_from(record)
    return record
