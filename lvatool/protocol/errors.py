"""Typed protocol errors that carry the gRPC status they end a call with.

The protocol core never imports grpc, so it names statuses with its own :class:`Status`
enum, whose member names are exactly those of ``grpc.StatusCode``; the gRPC adapters
translate by name at one boundary.

Following h11, an error says whose fault it is. :class:`RemoteProtocolError` means the
peer broke a rule (the call ends with the error's status); :class:`LocalProtocolError`
means our own side tried something the protocol forbids (a bug in the caller).
"""

from __future__ import annotations

import enum


class Status(enum.Enum):
    """gRPC status codes, by the names ``grpc.StatusCode`` uses."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ProtocolError(Exception):
    """A broken protocol rule.

    ``status`` is the gRPC status the call ends with, ``rule`` the rule ID of
    protocol.md (``"H2"``, ``"M4"`` …) and ``field`` the message field at fault, when
    there is one. ``message_index`` says which received message broke the rule (1 for
    the peer's first), when a session knows: a checker that records every violation of
    a peer needs to say where each one was. ``str(error)`` is a sentence fit to show a
    user.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Status = Status.INVALID_ARGUMENT,
        rule: str | None = None,
        field: str | None = None,
        message_index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.rule = rule
        self.field = field
        self.message_index = message_index

    def __str__(self) -> str:
        return f"{self.message} (rule {self.rule})" if self.rule else self.message


class RemoteProtocolError(ProtocolError):
    """The peer broke a rule; the call ends with ``status``."""


class LocalProtocolError(ProtocolError):
    """Our own side asked for something the protocol does not allow."""
