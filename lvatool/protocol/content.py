"""What a sample carries, judged against its stream's descriptor (E1, F1, M2, M3, M4).

Pure functions, no state: :class:`~lvatool.protocol.server.ServerSession` calls them for
every sample and decides what a broken rule means (raise, or record and carry on). Each
returns every rule the sample broke, in the order the strict session would meet them, so
the first one is the error the call ends with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lvatool.contract import extension_pb2
from lvatool.protocol.errors import RemoteProtocolError
from lvatool.protocol.events import ContentReference
from lvatool.protocol.stream_spec import StreamSpec, describe_format


@dataclass(frozen=True)
class JudgedContent:
    """A sample's content, whether it may be read at all, and the rules it broke."""

    content: bytes | ContentReference
    readable: bool
    errors: tuple[RemoteProtocolError, ...] = ()


def judge_content(
    spec: StreamSpec, raw_sizes: tuple[int, ...] | None, sample: extension_pb2.MediaSample
) -> JudgedContent:
    """The content of ``sample`` on a stream described by ``spec``.

    ``raw_sizes`` are the lengths a RAW frame of the spec may have (None when encoded).
    Content is unreadable when it is of the wrong kind for the transfer, or a reference
    outside the shared buffer: nobody may look at it.
    """
    if spec.shared_memory is None:
        return _embedded(spec, raw_sizes, sample)
    kind = sample.WhichOneof("content")
    if kind != "content_reference":
        missing = RemoteProtocolError(
            "media_sample.content_reference is missing: this stream uses shared memory",
            rule="M2",
            field="media_sample.content_reference",
        )
        return JudgedContent(sample.content_bytes.bytes, False, (missing,))
    ref = sample.content_reference
    reference = ContentReference(ref.address_offset, ref.length_bytes)
    limit = spec.shared_memory.length_bytes
    if ref.length_bytes == 0 or ref.address_offset + ref.length_bytes > limit:
        outside = RemoteProtocolError(
            f"content_reference [{ref.address_offset}, +{ref.length_bytes}) lies outside "
            f"the {limit}-byte shared buffer",
            rule="M4",
            field="media_sample.content_reference",
        )
        return JudgedContent(reference, False, (outside,))
    if raw_sizes is not None and ref.length_bytes not in raw_sizes:
        size = RemoteProtocolError(
            f"content_reference.length_bytes is {ref.length_bytes}; "
            f"a {describe_format(spec.frame)} frame is {raw_sizes[0]}",
            rule="M4",
            field="media_sample.content_reference.length_bytes",
        )
        return JudgedContent(reference, True, (size,))
    return JudgedContent(reference, True)


def _embedded(
    spec: StreamSpec, raw_sizes: tuple[int, ...] | None, sample: extension_pb2.MediaSample
) -> JudgedContent:
    kind = sample.WhichOneof("content")
    if kind != "content_bytes":
        missing = RemoteProtocolError(
            "media_sample.content_bytes is missing: this stream is embedded",
            rule="E1",
            field="media_sample.content_bytes",
        )
        ref = sample.content_reference
        content = ContentReference(ref.address_offset, ref.length_bytes) if kind else b""
        return JudgedContent(content, False, (missing,))
    data = sample.content_bytes.bytes
    if raw_sizes is not None and len(data) not in raw_sizes:
        size = RemoteProtocolError(
            f"media_sample.content_bytes holds {len(data)} bytes; "
            f"a {describe_format(spec.frame)} frame is {raw_sizes[0]}",
            rule="F1",
            field="media_sample.content_bytes",
        )
        return JudgedContent(data, True, (size,))
    if not data:
        empty = RemoteProtocolError(
            "media_sample.content_bytes is empty", rule="E1", field="media_sample.content_bytes"
        )
        return JudgedContent(data, True, (empty,))
    return JudgedContent(data, True)


def overlap(
    reference: ContentReference, pending: Mapping[int, ContentReference]
) -> RemoteProtocolError | None:
    """M3: a new reference touching the region of a sample not yet acknowledged.

    The sender wrote the new frame into bytes that a sample still in flight references,
    so the rule is broken whenever (and whether) the receiver would have looked.
    """
    end = reference.offset + reference.length
    for number, held in pending.items():
        if reference.offset < held.offset + held.length and held.offset < end:
            return RemoteProtocolError(
                f"content_reference [{reference.offset}, +{reference.length}) overlaps "
                f"[{held.offset}, +{held.length}) of sample {number}, which is not "
                "acknowledged yet: a region in flight was written",
                rule="M3",
                field="media_sample.content_reference",
            )
    return None
