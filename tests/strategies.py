"""Hypothesis strategies for what a hostile or broken LVA client sends to an extension.

A :class:`Script` is one whole ``ProcessMediaStream`` call as a client plays it: the
messages it sends in order (protobuf messages, or bytes that are no protobuf at all),
whether it waits for the server's reply before the rest, and how it ends.

Uniformly random values are refused at the first check and never reach the code behind
it, so every strategy leans towards *almost right*: a valid descriptor with one field
off, the right sequence number most of the time, a frame of exactly the declared size or
one byte off, a real image or a truncated one, a reference to a real frame in a real
``/dev/shm`` buffer or just past its end. Each "mostly right" choice shrinks towards the
right value, so a failing example shrinks to the one thing that is wrong.

Nothing here can hurt the machine running the fuzz: RAW frames of exactly the declared
size are only built up to :data:`RAW_CONTENT_CAP`, and image bytes are only flipped after
their header, so no example declares a decompression bomb (that is issue 8, point 3,
tested on its own).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from hypothesis import strategies as st

from lvatool.contract import extension_pb2, inferencing_pb2
from lvatool.media import RAW_PIXEL_FORMATS, Encoding, PixelFormat, accepted_raw_sizes, row_bytes
from lvatool.media import encode_image as _encode_image
from tests.frames import flat

Message = extension_pb2.MediaStreamMessage
Descriptor = extension_pb2.MediaStreamDescriptor
Outgoing = Message | bytes
Ending = Literal["half-close", "cancel"]
T = TypeVar("T")

#: RAW frames of exactly the declared size are built only up to this many bytes.
RAW_CONTENT_CAP = 1 << 20

UINT32_EDGES = (0, 1, 2, 3, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1)
UINT64_EDGES = (*UINT32_EDGES, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1)
INT32_EDGES = (-(2**31), -1, 0, 1, 4, 19, 21, 44, 59, 62, 79, 84, 99, 2**31 - 1)


#: Drawn once per call (``st.shared``): a *clean* call gets every choice right, so it is
#: a valid session the server must serve to the end; any other call gets each choice
#: wrong one time in ``odds``. Shrinks towards clean.
CLEAN_CALL = st.shared(st.booleans().map(lambda chaos: not chaos), key="lvatool-fuzz-clean")


def usually(
    right: st.SearchStrategy[T], wrong: st.SearchStrategy[T], odds: int = 8
) -> st.SearchStrategy[T]:
    """A ``right`` value; in a call that is not clean, one time in ``odds`` a ``wrong`` one.

    Half the calls are clean (:data:`CLEAN_CALL`), so they reach the processor and the
    acknowledgements; in the other half a dozen choices are each wrong one time in eight,
    so most of those calls have one or two things wrong and reach the check behind the
    first one as often as the first. Each choice shrinks towards right.
    """

    def choose(clean: bool) -> st.SearchStrategy[T]:
        if clean:
            return right
        return st.integers(0, odds - 1).flatmap(lambda n: wrong if n == odds - 1 else right)

    return CLEAN_CALL.flatmap(choose)


def mostly(right: T, wrong: st.SearchStrategy[T], odds: int = 8) -> st.SearchStrategy[T]:
    """``right`` itself, except one time in ``odds`` (see :func:`usually`)."""
    return usually(st.just(right), wrong, odds)


def uint32s() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(UINT32_EDGES), st.integers(0, 2**32 - 1))


def uint64s() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(UINT64_EDGES), st.integers(0, 2**64 - 1))


# -- the shared buffer the fuzz test creates ---------------------------------------------


#: (width, height) of the tiny images, each of its own grey level.
TINY_SIZES = ((33, 17), (1, 1), (8, 6))


def _tiny_images() -> dict[tuple[int, int, int], bytes]:
    levels = (40, 210, 128)
    return {
        (encoding, width, height): _encode_image(flat(level, width, height), encoding)
        for encoding in (Encoding.JPG, Encoding.PNG, Encoding.BMP)
        for (width, height), level in zip(TINY_SIZES, levels, strict=True)
    }


#: Valid JPG, PNG and BMP files of a few small sizes, by (encoding, width, height).
TINY_IMAGES = _tiny_images()
ALL_TINY_IMAGES = tuple(TINY_IMAGES.values())


def fitting_images(encoding: int, width: int, height: int) -> tuple[bytes, ...]:
    """Tiny images a stream declaring this encoding and size should accept (any if none)."""
    exact = TINY_IMAGES.get((encoding, width, height))
    if exact is not None:
        return (exact,)
    same = tuple(data for (enc, _, _), data in TINY_IMAGES.items() if enc == encoding)
    return same or ALL_TINY_IMAGES


@dataclass(frozen=True)
class ShmPlaces:
    """Names in ``/dev/shm`` the fuzz test creates before the run and removes after it.

    ``buffer`` is a regular file of ``size`` bytes holding real frames at ``regions``
    (``(offset, bytes)``, zeros elsewhere); ``symlink`` links to it, ``directory`` is a
    directory, ``fifo`` a FIFO nobody writes to (a plain ``open`` of it blocks forever),
    ``missing`` exists nowhere. Names are fixed when the module loads, so
    strategies (and ``@example``) can name them before any fixture runs.
    """

    buffer: str
    symlink: str
    directory: str
    fifo: str
    missing: str
    size: int
    regions: tuple[tuple[int, bytes], ...] = field(repr=False)

    @classmethod
    def unique(cls, size: int = 256 << 10) -> ShmPlaces:
        tag = f"lvatool-fuzz-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        regions = tuple((index * 4096, image) for index, image in enumerate(ALL_TINY_IMAGES))
        buffer, link, directory, fifo, missing = (
            f"{tag}-{kind}" for kind in ("buffer", "link", "dir", "fifo", "missing")
        )
        return cls(buffer, link, directory, fifo, missing, size, regions)


def handle_names(places: ShmPlaces) -> st.SearchStrategy[str]:
    odd = st.sampled_from(
        [
            places.symlink,
            places.directory,
            places.fifo,
            places.missing,
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "/dev/shm/" + places.buffer,
            "a..b",
            places.buffer + "\0",
            " " + places.buffer,
            places.buffer + "\n",
            "x" * 300,
            "é" * 100,
        ]
    )
    return mostly(places.buffer, st.one_of(odd, st.text(max_size=40)))


def buffer_lengths(places: ShmPlaces) -> st.SearchStrategy[int]:
    edges = st.sampled_from([places.size - 1, places.size + 1, 1, 1 << 30, (1 << 30) + 1])
    return mostly(places.size, st.one_of(edges, uint64s(), st.integers(0, 2 * places.size)))


# -- descriptors ---------------------------------------------------------------------------


def configurations() -> st.SearchStrategy[str]:
    odd = st.sampled_from(
        ['{"pipeline": "x"}', "{", "null", "[]", "\0", "\u202e", "[/]", "\x1b[31mred", "é" * 5000]
    )
    return mostly("", st.one_of(odd, st.text(max_size=64)))


def dimensions() -> st.SearchStrategy[int]:
    edges = st.sampled_from([0, 16384, 16385, 65536, 2**31, 2**32 - 1])
    return usually(st.integers(1, 40), edges)


@st.composite
def descriptors(draw: st.DrawFn, places: ShmPlaces) -> Descriptor:
    """A client's descriptor: usually well-formed, often with one field off (H3, H6, M1, M4)."""
    descriptor = Descriptor()
    identity = draw(st.sampled_from(["extension", "graph", "none"]))
    if identity == "extension":
        descriptor.extension_identifier = draw(st.text(max_size=20))
    elif identity == "graph":
        graph = descriptor.graph_identifier
        graph.media_services_arm_id = draw(st.text(max_size=20))
        graph.graph_instance_name = draw(st.text(max_size=20))
        graph.graph_node_name = draw(st.text(max_size=20))
    descriptor.extension_configuration = draw(configurations())
    if draw(mostly(True, st.just(False))):
        media = descriptor.media_descriptor
        media.SetInParent()
        media.timescale = draw(mostly(90_000, uint32s()))
        if draw(mostly(True, st.just(False))):
            _video_format(draw, media.video_frame_sample_format)
    if draw(st.booleans()):
        properties = descriptor.shared_memory_buffer_transfer_properties
        properties.handle_name = draw(handle_names(places))
        properties.length_bytes = draw(buffer_lengths(places))
    return descriptor


def _video_format(draw: st.DrawFn, video: object) -> None:
    video.SetInParent()  # type: ignore[attr-defined]
    unknown = st.sampled_from(INT32_EDGES)
    # RAW three times as often: eleven pixel formats and their strides are the most to cover.
    known = st.sampled_from(
        [Encoding.JPG, Encoding.RAW, Encoding.PNG, Encoding.RAW, Encoding.BMP, Encoding.RAW]
    )
    encoding = draw(usually(known, unknown))
    video.encoding = encoding  # type: ignore[attr-defined]
    if encoding == Encoding.RAW:
        pixel = draw(usually(st.sampled_from(RAW_PIXEL_FORMATS), unknown))
    else:
        pixel = draw(mostly(PixelFormat.NONE, st.one_of(st.sampled_from(PixelFormat), unknown)))
    video.pixel_format = pixel  # type: ignore[attr-defined]
    if encoding in (Encoding.JPG, Encoding.PNG, Encoding.BMP):
        width, height = draw(usually(st.sampled_from(TINY_SIZES), st.tuples(*[dimensions()] * 2)))
        video.dimensions.width, video.dimensions.height = width, height  # type: ignore[attr-defined]
    elif draw(mostly(True, st.just(False))):
        video.dimensions.width = draw(dimensions())  # type: ignore[attr-defined]
        video.dimensions.height = draw(dimensions())  # type: ignore[attr-defined]
    width = video.dimensions.width  # type: ignore[attr-defined]
    try:
        row = row_bytes(PixelFormat(pixel), width)
    except ValueError:
        row = width
    # 0 means unpadded rows; a padded stride is as valid as the row size itself.
    padded = [value for value in (0, row, row + 1, row + 64) if value < 2**32]
    odd = [value for value in (row - 1, 4 * row + 4097) if 0 < value < 2**32]
    wrong = st.one_of(st.sampled_from(odd), uint32s()) if odd else uint32s()
    video.stride_bytes = draw(usually(st.sampled_from(padded), wrong))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Declared:
    """What a descriptor promises, as far as a sample generator needs to know it."""

    encoding: int
    raw_sizes: tuple[int, ...]  # lengths a RAW frame may have; () when not a valid RAW
    shared_length: int | None  # length_bytes when samples travel through shared memory
    images: tuple[bytes, ...]  # tiny images that fit an encoded stream

    @classmethod
    def of(cls, descriptor: Descriptor) -> Declared:
        video = descriptor.media_descriptor.video_frame_sample_format
        sizes: tuple[int, ...] = ()
        if int(video.encoding) == Encoding.RAW:
            with contextlib.suppress(ValueError):  # not a valid RAW format: no right size
                sizes = accepted_raw_sizes(
                    PixelFormat(video.pixel_format),
                    video.dimensions.width,
                    video.dimensions.height,
                    video.stride_bytes,
                )
        shared = None
        if descriptor.HasField("shared_memory_buffer_transfer_properties"):
            shared = descriptor.shared_memory_buffer_transfer_properties.length_bytes
        images = fitting_images(video.encoding, video.dimensions.width, video.dimensions.height)
        return cls(int(video.encoding), sizes, shared, images)


# -- samples -------------------------------------------------------------------------------


def _image_header_length(image: bytes) -> int:
    """Bytes of ``image`` that declare its size, which the fuzz never flips (no bombs)."""
    if image.startswith(b"\xff\xd8"):  # JPEG: up to the start of scan
        return image.index(b"\xff\xda") + 2
    if image.startswith(b"BM"):  # BMP: up to the pixel array
        return int.from_bytes(image[10:14], "little")
    return 33  # PNG: signature and IHDR (its CRC guards it anyway)


@st.composite
def damaged_images(draw: st.DrawFn) -> bytes:
    """A real image, truncated or with bytes flipped after its header."""
    image = draw(st.sampled_from(ALL_TINY_IMAGES))
    if draw(st.booleans()):
        return image[: draw(st.integers(0, len(image) - 1))]
    data = bytearray(image)
    start = _image_header_length(image)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(start, len(data) - 1))
        data[position] ^= draw(st.integers(1, 255))
    return bytes(data)


def _pattern(size: int, seed: int) -> bytes:
    block = bytes((seed + 37 * i) % 256 for i in range(256))
    return (block * (size // 256 + 1))[:size]


def embedded_contents(declared: Declared) -> st.SearchStrategy[bytes]:
    """``content_bytes``: usually a frame of the declared format, else a broken one (E1, F1)."""
    fitting = [size for size in declared.raw_sizes if size <= RAW_CONTENT_CAP]
    wrong: list[st.SearchStrategy[bytes]] = [
        st.sampled_from(ALL_TINY_IMAGES),
        damaged_images(),
        st.binary(max_size=512),
        st.just(b""),
    ]
    if fitting:
        right = st.tuples(st.sampled_from(fitting), st.integers(0, 255)).map(
            lambda pair: _pattern(*pair)
        )
        off_by_one = st.tuples(st.sampled_from(fitting), st.sampled_from([-1, 1]))
        wrong.append(off_by_one.map(lambda pair: bytes(max(pair[0] + pair[1], 0))))
    else:
        right = st.sampled_from(declared.images)
    return usually(right, st.one_of(wrong), odds=4)


def references(places: ShmPlaces, declared: Declared) -> st.SearchStrategy[tuple[int, int]]:
    """``(address_offset, length_bytes)``: usually a real frame, else edges, nonsense (M2, M4)."""
    length = declared.shared_length or places.size
    fitting = [size for size in declared.raw_sizes if size <= min(length, places.size)]
    if fitting:
        right = st.sampled_from(fitting).flatmap(
            lambda size: st.tuples(st.integers(0, min(length, places.size) - size), st.just(size))
        )
    else:
        images = [
            (offset, len(image)) for offset, image in places.regions if image in declared.images
        ]
        right = st.sampled_from(images)
    offsets = st.one_of(
        st.sampled_from([0, length - 1, length, places.size]),
        st.integers(0, places.size + 16),
        uint64s(),
    )
    lengths = st.one_of(
        st.sampled_from([0, 1, length, *declared.raw_sizes]), st.integers(0, 4096), uint64s()
    )
    wrong = st.one_of(
        st.sampled_from([(offset, len(image)) for offset, image in places.regions]),
        st.tuples(offsets, lengths),
    )
    return usually(right, wrong, odds=4)


def inferences() -> st.SearchStrategy[inferencing_pb2.Inference]:
    """Upstream inferences a client may attach to a sample (F2): any type, any values."""

    def build(kind: int, subtype: str, tag: str, confidence: float) -> inferencing_pb2.Inference:
        inference = inferencing_pb2.Inference(type=kind, subtype=subtype)  # type: ignore[arg-type]
        inference.classification.tag.value = tag
        inference.classification.tag.confidence = confidence
        inference.extensions["k"] = subtype
        return inference

    return st.builds(
        build, st.sampled_from(INT32_EDGES), st.text(max_size=8), st.text(max_size=8), st.floats()
    )


@st.composite
def samples(draw: st.DrawFn, places: ShmPlaces, declared: Declared, sequence: int) -> Message:
    """A sample numbered ``sequence``, usually fitting its stream (Q1, E1, M2)."""
    message = Message(sequence_number=draw(mostly(sequence, uint64s())))
    message.ack_sequence_number = draw(mostly(0, st.one_of(st.just(1), uint64s())))
    sample = message.media_sample
    sample.SetInParent()
    sample.timestamp = draw(mostly(sequence * 3000, uint64s()))
    right_kind = "bytes" if declared.shared_length is None else "reference"
    kind = draw(mostly(right_kind, st.sampled_from(["bytes", "reference", "none"])))
    if kind == "bytes":
        sample.content_bytes.bytes = draw(embedded_contents(declared))
    elif kind == "reference":
        offset, length = draw(references(places, declared))
        sample.content_reference.address_offset = offset
        sample.content_reference.length_bytes = length
    sample.inferences.extend(draw(st.lists(inferences(), max_size=2)))
    return message


# -- garbage and whole calls ---------------------------------------------------------------

#: Wire bytes that break protobuf in known ways: a bad tag, a truncated varint, a length
#: prefix far past the end, a group that never ends, a field number of 0.
BROKEN_WIRE = (
    b"\xff",
    b"\x08",
    b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x2a\xff\xff\xff\xff\x0f",
    b"\x32\x05\x08",
    b"\x0b",
    b"\x00\x00",
    b"\x2a\x02\x08",
)


def garbage(places: ShmPlaces) -> st.SearchStrategy[bytes]:
    """Request bytes that are not a valid MediaStreamMessage, or only barely are."""
    serialised = descriptors(places).map(
        lambda d: Message(sequence_number=1, media_stream_descriptor=d).SerializeToString()
    )
    tailed = st.tuples(serialised, st.binary(min_size=1, max_size=16)).map(lambda p: p[0] + p[1])
    cut = serialised.flatmap(lambda data: st.integers(0, len(data)).map(lambda n: data[:n]))
    return st.one_of(st.sampled_from(BROKEN_WIRE), st.binary(max_size=256), tailed, cut)


@dataclass(frozen=True)
class Script:
    """One whole call as a client plays it; see the module docstring."""

    messages: tuple[Outgoing, ...]
    wait_for_reply: bool
    ending: Ending
    #: Every message is right: a valid session the server must serve to the end (Q6).
    clean: bool = False

    def describe(self) -> str:
        """The script in words, for a failure message a human can replay."""
        lines = [f"wait_for_reply={self.wait_for_reply} ending={self.ending} clean={self.clean}"]
        for index, message in enumerate(self.messages, 1):
            if isinstance(message, bytes):
                lines.append(f"  {index}: raw bytes {message[:64]!r} ({len(message)} bytes)")
            else:
                text = str(message).replace("\n", "; ")
                lines.append(f"  {index}: {text[:400] or '(empty message)'}")
        return "\n".join(lines)

    def encoded(self) -> list[bytes]:
        return [m if isinstance(m, bytes) else m.SerializeToString() for m in self.messages]

    @property
    def samples(self) -> list[Message]:
        """The messages that carry a media_sample (not counting raw bytes)."""
        return [
            m
            for m in self.messages
            if isinstance(m, Message) and m.WhichOneof("payload") == "media_sample"
        ]


Kind = Literal["descriptor", "sample", "empty", "garbage"]


@st.composite
def scripts(draw: st.DrawFn, places: ShmPlaces) -> Script:
    """A call: mostly a descriptor first and samples fitting it, with anything out of place."""
    descriptor = draw(descriptors(places))
    declared = Declared.of(descriptor)
    not_first: tuple[Kind, ...] = ("sample", "empty", "garbage")
    not_later: tuple[Kind, ...] = ("descriptor", "empty", "garbage")
    descriptor_first: Kind = "descriptor"
    sample_later: Kind = "sample"
    first = draw(mostly(descriptor_first, st.sampled_from(not_first)))
    later = draw(
        st.lists(mostly(sample_later, st.sampled_from(not_later), odds=12), min_size=1, max_size=5)
    )
    makers: dict[Kind, Callable[[int], st.SearchStrategy[Outgoing]]] = {
        "descriptor": lambda n: _descriptor_message(places, descriptor, n),
        "sample": lambda n: samples(places, declared, n),
        "empty": lambda n: mostly(n, uint64s()).map(lambda number: Message(sequence_number=number)),
        "garbage": lambda n: garbage(places),
    }
    messages = tuple(draw(makers[kind](n)) for n, kind in enumerate([first, *later], 1))
    if draw(st.integers(0, 15)) == 15:
        messages = ()  # a client that half-closes (or cancels) before saying anything
    return Script(
        messages,
        wait_for_reply=draw(st.booleans()),
        ending=draw(mostly("half-close", st.just("cancel"))),
        clean=draw(CLEAN_CALL) and bool(messages),
    )


def _descriptor_message(
    places: ShmPlaces, first: Descriptor, sequence: int
) -> st.SearchStrategy[Outgoing]:
    """The call's descriptor where it belongs (first), a fresh one anywhere else."""
    body = st.just(first) if sequence == 1 else descriptors(places)
    numbers = mostly(sequence, uint64s())
    acks = mostly(0, uint64s())
    return st.builds(
        lambda d, number, ack: Message(
            sequence_number=number, ack_sequence_number=ack, media_stream_descriptor=d
        ),
        body,
        numbers,
        acks,
    )
