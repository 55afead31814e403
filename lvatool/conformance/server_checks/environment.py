"""The server under test, and what the suite learns about it as the checks run.

Before any check, the run picks a *probe format*: the first of RAW BGR24, JPG, PNG and
BMP (then the formats and sizes the user named) that the server actually processes. A
server that serves only JPEG is then probed with JPEG, and checks about sequencing or
shared memory judge sequencing and shared memory, not the server's choice of formats.
When no format is served, the checks that need answers are skipped with the reason and
the format checks (S07, S08) carry the failure.

The run also remembers a peer that went quiet: once a server has been silent for the
whole silence window, later checks that need answers are skipped with that reason, so
a silent peer costs one check its wait, not every check its deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from lvatool.conformance.catalogue import CheckFailed, CheckSkipped
from lvatool.conformance.runner import Deadline
from lvatool.conformance.server_checks.exchange import Exchange, exchange
from lvatool.conformance.server_checks.probe_frames import (
    PROBE_HEIGHT,
    PROBE_WIDTH,
    canonical,
    describe_frame,
    encode_probe,
)
from lvatool.media import Encoding, FrameFormat, PixelFormat
from lvatool.protocol import SharedMemoryTransfer, StreamSpec
from lvatool.sim.call import ConnectOptions

IDENTIFIER = "lvatool-conformance"
DEFAULT_PROBES = (
    FrameFormat(Encoding.RAW, PixelFormat.BGR24),
    FrameFormat(Encoding.JPG),
    FrameFormat(Encoding.PNG),
    FrameFormat(Encoding.BMP),
)


def probe_candidates(
    formats: Sequence[FrameFormat] = (), sizes: Sequence[tuple[int, int]] = ()
) -> list[FrameFormat]:
    """The probe formats to try, in order: the four defaults at 160x120, then the user's.

    ``formats`` are sized-less formats named with ``--probe-format``; ``sizes`` come from
    ``--probe-size``. Each named size is tried with each named format (or, when none is
    named, with the four defaults).
    """
    sized = [
        FrameFormat(f.encoding, f.pixel_format, PROBE_WIDTH, PROBE_HEIGHT) for f in DEFAULT_PROBES
    ]
    extra_sizes = list(sizes) or [(PROBE_WIDTH, PROBE_HEIGHT)]
    for width, height in extra_sizes:
        for f in formats or DEFAULT_PROBES:
            sized.append(FrameFormat(f.encoding, f.pixel_format, width, height))
    unique: list[FrameFormat] = []
    for frame in sized:
        if frame not in unique:
            unique.append(frame)
    return unique


@dataclass
class ServerEnv:
    """The server under test, the run's settings, and what the checks learned."""

    connect: ConnectOptions
    username: str | None = None
    password: str | None = None
    profile: str | None = None
    extension_configuration: str = ""
    sessions: int = 16
    # --stateful: results may depend on the session's earlier frames (motion, tracking)
    stateful: bool = False
    candidates: Sequence[FrameFormat] = field(default_factory=probe_candidates)
    silence_s: float = 5.0  # the longest a server may stay quiet where an answer is due
    warmup_s: float = 15.0  # the same for the very first frame: models load lazily
    # -- learned along the run --
    probe: FrameFormat | None = None
    probe_problem: str | None = None  # why no probe format could be chosen
    probe_trials: list[str] = field(default_factory=list)
    trials: list[Exchange] = field(default_factory=list)  # the sessions that chose the probe
    silence: str | None = None  # the server went quiet where an answer was due
    silent_at: str | None = None  # "reply" or "answers"
    never_ends: str | None = None  # the server does not end a half-closed call (Q6)
    crash: Exception | None = None  # the checker itself failed while choosing the probe
    _shared_memory: str | None = None  # "" served; otherwise why it is not
    _baselines: dict[int, tuple[str, ...]] = field(default_factory=dict)
    _sequences: dict[tuple[int, ...], tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def target(self) -> str:
        return self.connect.target

    def spec(
        self, frame: FrameFormat | None = None, shm: SharedMemoryTransfer | None = None
    ) -> StreamSpec:
        """A descriptor's content: ``frame`` (the probe format by default), the run's
        extension configuration, and the shared buffer when there is one."""
        chosen = frame or self.probe
        assert chosen is not None, "no probe format: call require_probe() first"
        return StreamSpec(
            chosen,
            shared_memory=shm,
            extension_configuration=self.extension_configuration,
            identifier=IDENTIFIER,
        )

    # -- what the run learns -----------------------------------------------------------
    def learn_from(self, record: Exchange) -> None:
        """Remember a server that went quiet, so later checks need not wait on it."""
        with self._lock:
            if record.silent in ("reply", "answers") and self.silence is None:
                self.silence = f"{describe_frame(record.spec.frame)}: {record.story()}"
                self.silent_at = record.silent
            elif record.silent == "end" and self.never_ends is None:
                self.never_ends = (
                    f"{record.story()}: the call was not ended {self.silence_s:g} s "
                    "after the half-close"
                )

    def require_probe(self) -> FrameFormat:
        """The probe format, or skip the check: the server is quiet or serves nothing."""
        if self.crash is not None:
            raise RuntimeError(f"choosing the probe format failed: {self.crash!r}")
        if self.silence is not None:
            raise CheckSkipped(f"the server is unresponsive ({self.silence})")
        if self.probe is None:
            raise CheckSkipped(self.probe_problem or "no probe format was chosen")
        return self.probe

    # -- the probe format --------------------------------------------------------------
    def choose_probe(self, context: Deadline) -> None:
        """Try the candidates in order; keep the first the server processes."""
        for position, frame in enumerate(self.candidates):
            if context.remaining() <= 1.0:
                self.probe_trials.append(f"{describe_frame(frame)}: not tried, out of time")
                break
            record = exchange(
                context,
                self.spec(frame),
                [encode_probe(0, frame), encode_probe(1, frame)],
                first_silence_s=self.warmup_s if position == 0 else None,
            )
            self.trials.append(record)
            if record.reply is not None and record.complete and record.broken is None:
                self.probe = frame
                self.probe_trials.append(f"{describe_frame(frame)}: processed")
                return
            self.probe_trials.append(f"{describe_frame(frame)}: {record.story()}")
            if self.silence is not None:
                break  # a quiet server will be as quiet for the next format
        self.probe_problem = (
            "the server processed none of the probe formats ("
            + "; ".join(self.probe_trials)
            + "); name one it serves with --probe-format/--probe-size"
        )

    def unanswered_trial(self) -> Exchange | None:
        """A probe trial the server accepted, then left samples unanswered while the call
        ended OK or went quiet: a finding for S03 and S13 even when no probe was chosen."""
        for record in self.trials:
            accepted = record.reply is not None and record.broken is None
            quiet_or_ok = record.silent or (record.ended is not None and record.ended.code == "OK")
            if accepted and not record.complete and quiet_or_ok:
                return record
        return None

    # -- what checks share -----------------------------------------------------------
    def baseline(self, context: Deadline, index: int) -> tuple[str, ...]:
        """Probe ``index``'s results when sent alone, embedded, in a session of its own."""
        with self._lock:
            known = self._baselines.get(index)
        if known is not None:
            return known
        probe = self.require_probe()
        record = exchange(context, self.spec(probe), [encode_probe(index, probe)])
        require_served(record, f"probe {index} sent alone")
        result = canonical(record.acks[0].inferences)
        with self._lock:
            self._baselines[index] = result
        return result

    def sequence_results(
        self, context: Deadline, order: Sequence[int]
    ) -> tuple[tuple[str, ...], ...]:
        """The results of each sample when the probes ``order`` names are sent, in that
        order, embedded, in a fresh session of their own.

        This is the reference for a stateful processor (``--stateful``): its results are
        a function of the session's frames so far, so the same sequence in a fresh session
        must give the same results, whatever the transfer and whatever other sessions do.
        """
        key = tuple(order)
        with self._lock:
            known = self._sequences.get(key)
        if known is not None:
            return known
        probe = self.require_probe()
        record = exchange(context, self.spec(probe), [encode_probe(i, probe) for i in key])
        require_served(record, f"probes {', '.join(map(str, key))} sent alone in one session")
        by_tag = record.by_tag()
        unanswered = [position for position in range(len(key)) if position not in by_tag]
        if unanswered:
            raise CheckFailed(
                f"probes {', '.join(map(str, key))} sent alone in one session: sample "
                f"{unanswered[0] + 2} was never acknowledged (Q2)"
            )
        result = tuple(canonical(by_tag[position].inferences) for position in range(len(key)))
        with self._lock:
            self._sequences[key] = result
        return result

    def shared_memory_refusal(self, context: Deadline) -> str:
        """Why the server takes no shared memory at all ('' when it does); tried once."""
        with self._lock:
            known = self._shared_memory
        if known is not None:
            return known
        from lvatool.conformance.server_checks.shared_buffer import try_shared_memory

        verdict = try_shared_memory(context, self)
        with self._lock:
            self._shared_memory = verdict
        return verdict


def require_served(record: Exchange, what: str) -> None:
    """Fail unless the server replied (H4) and acknowledged every sample (Q2)."""
    if record.broken is not None:
        raise CheckFailed(f"{what}: {record.story()}")
    if record.reply is None:
        raise CheckFailed(f"{what}: {record.story()} (H4)")
    if not record.complete:
        raise CheckFailed(f"{what}: {record.story()} (Q2)")


def prepare(env: ServerEnv, deadline_s: float) -> None:
    """Choose the probe format before the checks run, within ``deadline_s``.

    A crash of this code is the checker's bug: it is kept, and every check that needs
    the probe reports it as an error of the checker, never as a finding about the peer.
    """
    preflight = Deadline(env, deadline_s)
    try:
        env.choose_probe(preflight)
    except Exception as error:  # kept apart from the peer's failures
        env.crash = error
    finally:
        preflight.cancel_all()
