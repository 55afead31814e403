"""What a client's ``MediaStreamDescriptor`` promises, validated (H3, H6, M4).

:func:`spec_from_descriptor` is the one place a descriptor is judged. It turns the
protobuf message into a :class:`StreamSpec`, a small frozen value the rest of lvatool
works with, or raises :class:`RemoteProtocolError` naming the field at fault with the
status of rule H6: ``INVALID_ARGUMENT`` for malformed values, ``UNIMPLEMENTED`` for a
valid format that the server does not handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lvatool.contract import extension_pb2, media_pb2
from lvatool.media.formats import Encoding, FrameFormat, PixelFormat, row_bytes
from lvatool.protocol.errors import RemoteProtocolError, Status

#: Largest frame side we accept; larger would let a peer make us allocate without bound (A3).
MAX_DIMENSION = 16384
#: Largest shared buffer we map, 1 GiB (LVA itself allows up to 100 MiB).
MAX_SHARED_MEMORY_BYTES = 1 << 30


@dataclass(frozen=True)
class SharedMemoryTransfer:
    """Samples arrive by reference into ``/dev/shm/<handle_name>`` (M1)."""

    handle_name: str
    length_bytes: int


@dataclass(frozen=True)
class StreamSpec:
    """A validated description of one media stream."""

    frame: FrameFormat
    timescale: int = 90_000
    shared_memory: SharedMemoryTransfer | None = None
    extension_configuration: str = ""
    identifier: str = ""
    graph: tuple[str, str, str] | None = field(default=None)

    @property
    def embedded(self) -> bool:
        """True when samples carry their pixels in ``content_bytes`` (E1)."""
        return self.shared_memory is None


def validate_handle_name(name: str) -> None:
    """Refuse a handle name that is not a plain file name (M4, A3).

    A name without ``/`` is a single path component, so the only names that lead out
    of ``/dev/shm`` are ``.`` and ``..`` themselves; ``a..b`` is an ordinary file name
    and is served. NUL cannot be passed to ``open`` at all.
    """
    field_name = "shared_memory_buffer_transfer_properties.handle_name"
    if not name:
        raise RemoteProtocolError("handle_name is empty", rule="M4", field=field_name)
    if "/" in name or "\0" in name or name in {".", ".."}:
        raise RemoteProtocolError(
            f"handle_name {name!r} is not a plain file name", rule="M4", field=field_name
        )


def _frame_format(media: media_pb2.MediaDescriptor) -> FrameFormat:
    prefix = "media_descriptor.video_frame_sample_format"
    if not media.HasField("video_frame_sample_format"):
        raise RemoteProtocolError(
            f"{prefix} is missing: the descriptor must say what it sends",
            rule="H3",
            field=prefix,
        )
    video = media.video_frame_sample_format
    try:
        encoding = Encoding(video.encoding)
    except ValueError:
        raise RemoteProtocolError(
            f"{prefix}.encoding {video.encoding} is not a known encoding",
            status=Status.UNIMPLEMENTED,
            rule="H6",
            field=f"{prefix}.encoding",
        ) from None
    if encoding is not Encoding.RAW:
        # Encoded images carry their own size; each sample's header is checked against
        # these dimensions on arrival (lvatool.media.image_header, H3, F4).
        return FrameFormat(encoding, width=video.dimensions.width, height=video.dimensions.height)
    try:
        pixel_format = PixelFormat(video.pixel_format)
    except ValueError:
        raise RemoteProtocolError(
            f"{prefix}.pixel_format {video.pixel_format} is not a known pixel format",
            status=Status.UNIMPLEMENTED,
            rule="H6",
            field=f"{prefix}.pixel_format",
        ) from None
    if pixel_format is PixelFormat.NONE:
        raise RemoteProtocolError(
            f"{prefix}.pixel_format is NONE, but RAW frames need a pixel format",
            rule="H6",
            field=f"{prefix}.pixel_format",
        )
    width, height = video.dimensions.width, video.dimensions.height
    for name, value in (("width", width), ("height", height)):
        if not 0 < value <= MAX_DIMENSION:
            raise RemoteProtocolError(
                f"{prefix}.dimensions.{name} is {value}; RAW frames need 1 to {MAX_DIMENSION}",
                rule="H6",
                field=f"{prefix}.dimensions.{name}",
            )
    stride = video.stride_bytes
    minimum = row_bytes(pixel_format, width)
    if stride and stride < minimum:
        raise RemoteProtocolError(
            f"{prefix}.stride_bytes {stride} is smaller than one row of "
            f"{pixel_format.name} at width {width} ({minimum} bytes)",
            rule="H6",
            field=f"{prefix}.stride_bytes",
        )
    if stride > 4 * minimum + 4096:
        raise RemoteProtocolError(
            f"{prefix}.stride_bytes {stride} is implausibly large for width {width}",
            rule="H6",
            field=f"{prefix}.stride_bytes",
        )
    return FrameFormat(encoding, pixel_format, width, height, stride)


def _shared_memory(
    properties: extension_pb2.SharedMemoryBufferTransferProperties,
) -> SharedMemoryTransfer:
    validate_handle_name(properties.handle_name)
    length = properties.length_bytes
    if not 0 < length <= MAX_SHARED_MEMORY_BYTES:
        raise RemoteProtocolError(
            f"shared_memory_buffer_transfer_properties.length_bytes is {length}; "
            f"expected 1 to {MAX_SHARED_MEMORY_BYTES}",
            rule="M1",
            field="shared_memory_buffer_transfer_properties.length_bytes",
        )
    return SharedMemoryTransfer(properties.handle_name, length)


def spec_from_descriptor(descriptor: extension_pb2.MediaStreamDescriptor) -> StreamSpec:
    """Validate a client's descriptor and return what it promises (H3, H6, M4)."""
    if not descriptor.HasField("media_descriptor"):
        raise RemoteProtocolError(
            "media_descriptor is missing: the descriptor must say what it sends",
            rule="H3",
            field="media_descriptor",
        )
    media = descriptor.media_descriptor
    frame = _frame_format(media)
    shared = None
    if descriptor.HasField("shared_memory_buffer_transfer_properties"):
        shared = _shared_memory(descriptor.shared_memory_buffer_transfer_properties)
    graph = None
    if descriptor.HasField("graph_identifier"):
        g = descriptor.graph_identifier
        graph = (g.media_services_arm_id, g.graph_instance_name, g.graph_node_name)
    identifier = descriptor.extension_identifier or (
        descriptor.graph_identifier.graph_node_name if graph else ""
    )
    return StreamSpec(
        frame=frame,
        timescale=media.timescale or 90_000,
        shared_memory=shared,
        extension_configuration=descriptor.extension_configuration,
        identifier=identifier,
        graph=graph,
    )


def descriptor_from_spec(spec: StreamSpec) -> extension_pb2.MediaStreamDescriptor:
    """The descriptor a client sends to promise ``spec`` (the inverse of the above)."""
    video = media_pb2.VideoFrameSampleFormat(
        encoding=int(spec.frame.encoding),  # type: ignore[arg-type]
        pixel_format=int(spec.frame.pixel_format),  # type: ignore[arg-type]
        dimensions=media_pb2.Dimensions(width=spec.frame.width, height=spec.frame.height),
        stride_bytes=spec.frame.stride_bytes,
    )
    descriptor = extension_pb2.MediaStreamDescriptor(
        extension_configuration=spec.extension_configuration,
        media_descriptor=media_pb2.MediaDescriptor(
            timescale=spec.timescale, video_frame_sample_format=video
        ),
    )
    if spec.graph is not None:
        arm_id, instance, node = spec.graph
        descriptor.graph_identifier.media_services_arm_id = arm_id
        descriptor.graph_identifier.graph_instance_name = instance
        descriptor.graph_identifier.graph_node_name = node
    else:
        descriptor.extension_identifier = spec.identifier
    if spec.shared_memory is not None:
        properties = descriptor.shared_memory_buffer_transfer_properties
        properties.handle_name = spec.shared_memory.handle_name
        properties.length_bytes = spec.shared_memory.length_bytes
    return descriptor


def describe_format(frame: FrameFormat) -> str:
    """A short human description such as ``RAW BGR24 1920x1080 stride 5760``."""
    if frame.encoding is not Encoding.RAW:
        return frame.encoding.name
    return (
        f"RAW {frame.pixel_format.name} {frame.width}x{frame.height} "
        f"stride {frame.effective_stride}"
    )
