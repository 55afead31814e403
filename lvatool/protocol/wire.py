"""Bytes off the wire as a ``MediaStreamMessage``, or what was wrong with them.

Both sides hand gRPC :func:`decode_message` as their deserializer. With the generated one,
bytes that are not a message make gRPC end the call by itself (``INTERNAL "Exception
deserializing ..."``) while the session sees only its stream end, as if the peer had
half-closed. Handed on as :class:`Undecodable`, they reach the session, which ends the call
with the status and rule that fit (the server: ``INVALID_ARGUMENT``; the client: the
extension broke H2 or Q2) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from lvatool.contract import extension_pb2

Message = extension_pb2.MediaStreamMessage


@dataclass(frozen=True)
class Undecodable:
    """Bytes that do not parse as a ``MediaStreamMessage``: how many, and why not."""

    size: int
    reason: str


def decode_message(data: bytes) -> Message | Undecodable:
    """A gRPC deserializer that never raises: the message, or :class:`Undecodable`."""
    try:
        return Message.FromString(data)
    except DecodeError as error:
        return Undecodable(len(data), str(error) or "not valid protobuf")
